"""Error-maximizing noise (UNSIR step 1): for each forget class, a batch N that the frozen model
misclassifies as hard as it can, kept small by an L2 penalty.

    minimise over N:  -CE(f(N), y_f) + lambda * mean_b(sum_chw N^2)

All forget classes are optimised together in one batch, each noise sample labelled with its own
class (the authors' notebook labels every sample 0 and uses only 3 of the 256 images; not here).
The model is frozen: eval mode (BatchNorm statistics untouched) and no weight gradients.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from unsir_core.common.config import NoiseConfig
from unsir_core.common.device import autocast, memory_format
from unsir_core.common.progress import CancelToken, ProgressFn, Reporter
from unsir_core.models.classifier import Classifier


@dataclass(frozen=True)
class Noise:
    images: torch.Tensor  # [K*B, C, S, S] float, normalised input space
    labels: torch.Tensor  # [K*B] int64, the forget class of each sample
    loss_history: list[float]  # the objective per step (lower = more error-maximizing)
    forget_ce: float  # cross-entropy of the frozen model on the final noise, for its labels
    l2_norm: float  # mean per-sample L2 norm of the final noise


def optimize_noise(
    model: Classifier,
    forget: Sequence[int],
    cfg: NoiseConfig,
    generator: torch.Generator,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> Noise:
    """Learn the noise on `model.net`, which must already be a frozen copy (see `freeze`)."""
    device = model.device
    images, labels = initial_noise(model, forget, cfg, generator)
    images.requires_grad_(True)
    opt = torch.optim.Adam([images], lr=cfg.lr)
    reporter = Reporter("noise", cfg.steps, progress, cancel, hint="Lower the noise learning rate.")
    model.net.eval()
    for step in range(1, cfg.steps + 1):
        with autocast(device):
            logits = model.net(images)
        penalty = images.square().sum(dim=(1, 2, 3)).mean()
        loss = -F.cross_entropy(logits.float(), labels) + cfg.l2_weight * penalty
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        reporter.step(step, loss)
    return measured(model, images.detach(), labels, reporter.finish())


def random_noise(model: Classifier, forget: Sequence[int], cfg: NoiseConfig, generator: torch.Generator) -> Noise:
    """The noise as `optimize_noise` starts it, never optimised: the ablation that asks what optimising adds."""
    images, labels = initial_noise(model, forget, cfg, generator)
    return measured(model, images, labels, [])


def initial_noise(
    model: Classifier, forget: Sequence[int], cfg: NoiseConfig, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """N ~ Normal(0, init_std), `cfg.batch_size` samples per forget class, and each sample's class."""
    device = model.device
    shape = (len(forget) * cfg.batch_size, model.info.in_channels, model.info.input_size, model.info.input_size)
    images = (torch.randn(shape, generator=generator) * cfg.init_std).to(device)
    labels = torch.as_tensor(list(forget), device=device).repeat_interleave(cfg.batch_size)
    return images.contiguous(memory_format=memory_format(device)), labels


def measured(model: Classifier, images: torch.Tensor, labels: torch.Tensor, history: list[float]) -> Noise:
    """The Noise record: the frozen model's cross-entropy on `images` for `labels`, and their mean L2 norm."""
    device = model.device
    with torch.no_grad(), autocast(device):
        ce = F.cross_entropy(model.net(images).float(), labels)
    norm = images.flatten(1).norm(dim=1).mean()
    ce, norm = torch.stack([ce, norm]).tolist()
    return Noise(images.contiguous(), labels, history, round(ce, 4), round(norm, 4))


def freeze(model: Classifier) -> None:
    """Eval mode and no weight gradients: the noise step must not change the model."""
    model.net.eval()
    model.net.requires_grad_(False)
