"""Feature probe: can a linear classifier on a model's penultimate features still recognise the forget classes?

Unlearning can remove a class from the head (the last layer stops predicting it) while the features
below still separate it; then a small fine-tune brings it back (the "illusion of unlearning"). The
probe measures which: it reads the input of the classifier head for `per_class` training images of
every class, fits a K-way logistic regression on them (standardised features), and reports its
accuracy on the forget-class *test* images (held out from the fit) and on the retain-class ones.
The original model shows what "fully recognisable" looks like, the retrained model (which never
learned the class) what a network's generic features give away anyway; an unlearned model close to
the original forgot in the head only, close to the retrained model forgot in the features too.

An audit: it reads forget-class images (training images to fit, test images to score), which
unlearning itself never does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from unsir_core.common.device import memory_format
from unsir_core.common.errors import ConfigError
from unsir_core.data import ImageData
from unsir_core.models import get_spec
from unsir_core.models.classifier import Classifier

PROBE_PER_CLASS = 200  # training images per class the probe is fitted on


@dataclass(frozen=True)
class ProbeResult:
    forget_acc: float  # % of forget-class test images the probe assigns to their true class
    retain_acc: float  # % of retain-class test images, the same
    chance: float  # % a guess among the K classes gets (100 / K)
    n_fit: int  # training images the probe was fitted on (all classes)
    n_forget: int  # forget-class test images it was scored on
    dim: int  # feature dimension (the head's input)

    def to_dict(self) -> dict:
        return asdict(self)


def penultimate(model: Classifier, x: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """The classifier head's input [N, D] (float32, CPU) for uint8 images x [N, C, H, W]."""
    return penultimate_and_logits(model, x, batch_size)[0]


@torch.no_grad()
def penultimate_and_logits(
    model: Classifier, x: torch.Tensor, batch_size: int = 512
) -> tuple[torch.Tensor, torch.Tensor]:
    """The head's input [N, D] and the logits [N, K] (both float32, CPU) from one forward pass over uint8 x."""
    head = model.net.get_submodule(get_spec(model.info.arch).head)
    device = model.device
    captured: list[torch.Tensor] = []
    logits: list[torch.Tensor] = []
    hook = head.register_forward_pre_hook(lambda _m, args: captured.append(args[0].flatten(1).float().cpu()))
    was_training = model.net.training
    model.net.eval()
    try:
        for i in range(0, len(x), batch_size):
            inputs = model.prepare(x[i : i + batch_size].to(device)).contiguous(memory_format=memory_format(device))
            logits.append(model.net(inputs).float().cpu())
    finally:
        hook.remove()
        model.net.train(was_training)
    if not captured:
        return torch.empty(0, 0), torch.empty(0, model.info.num_classes)
    return torch.cat(captured), torch.cat(logits)


def _fit_indices(data: ImageData, per_class: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    y = data.train_y.cpu()
    picks = []
    for c in range(data.num_classes):
        idx = (y == c).nonzero().flatten()
        picks.append(idx[torch.randperm(len(idx), generator=gen)[:per_class]])
    return torch.cat(picks)


def feature_probe(
    model: Classifier, data: ImageData, forget: Sequence[int], per_class: int = PROBE_PER_CLASS, seed: int = 0
) -> ProbeResult:
    """Fit the probe on `per_class` training images of every class, score it on the test split."""
    if not forget:
        raise ConfigError("The feature probe needs at least one forgotten class.")
    if per_class < 2:
        raise ConfigError(f"The feature probe needs at least 2 training images per class, got {per_class}.")
    fit_idx = _fit_indices(data, per_class, seed).to(data.train_x.device)
    fit_x = penultimate(model, data.train_x[fit_idx]).numpy()
    fit_y = data.train_y[fit_idx].cpu().numpy()
    test_x = penultimate(model, data.test_x).numpy()
    test_y = data.test_y.cpu().numpy()
    forget_mask = np.isin(test_y, list(forget))
    if not forget_mask.any():
        raise ConfigError(f"The test split of {data.name} has no images of classes {list(forget)}.")
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(fit_x, fit_y)
    right = probe.predict(test_x) == test_y
    return ProbeResult(
        round(float(right[forget_mask].mean() * 100), 2),
        round(float(right[~forget_mask].mean() * 100), 2),
        round(100 / data.num_classes, 2),
        len(fit_y),
        int(forget_mask.sum()),
        fit_x.shape[1],
    )
