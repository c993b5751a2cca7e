"""Relearn time: how quickly a model gets the forgotten classes back when fine-tuned again.

Paper definition: the number of epochs, each epoch = 500 random training samples from *all* classes,
until the forget accuracy returns to the original model's. Here "returns" means reaching
`RELEARN_SHARE` (90%) of the original's forget accuracy on the probe (`relearn_target`): a fine-tune on
500 mixed images rarely lands exactly on the original's figure, and a curve at 88% of a 93.5% target
is back in every practical sense. The headline number is always the curve's first crossing of that
line (`crossing`), so card and chart cannot disagree. The definition (`relearn_target`, `crossing`) needs no
torch: torch is imported inside the functions that measure, so pages drawing relearn curves render without it.
Few epochs mean the knowledge was only hidden, not removed. This is an attack measurement, so unlike unlearning it
reads forget-class training samples. The model is fine-tuned on a copy with Adam; forget accuracy is measured on a fixed
subset of the forget-class test images every `eval_every` epochs, and the run stops at `max_epochs`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from unsir_core.common.errors import ConfigError

if TYPE_CHECKING:
    import torch

    from unsir_core.data import ImageData
    from unsir_core.models.classifier import Classifier

__all__ = ["RELEARN_SHARE", "RelearnResult", "crossing", "relearn_target", "relearn_time"]

RELEARN_SHARE = 0.9  # "relearned" = forget accuracy back at this fraction of the original's


def relearn_target(original_forget_acc: float) -> float:
    """The forget accuracy (%) that counts as relearned: RELEARN_SHARE of the original model's."""
    return round(RELEARN_SHARE * original_forget_acc, 2)


def crossing(epochs: Sequence[int], history: Sequence[float], target: float) -> int | None:
    """The first epoch whose forget accuracy is at or above `target` (None when the curve never gets there)."""
    return next((e for e, acc in zip(epochs, history) if acc >= target), None)


@dataclass(frozen=True)
class RelearnResult:
    epochs: int | None  # epochs until forget accuracy >= target_acc; None when not reached within the cap
    capped: bool  # True when max_epochs ran out before the target was reached
    history: list[float]  # forget accuracy (%) at each of history_epochs
    history_epochs: list[int]  # epochs after which it was measured; 0 = before any fine-tuning
    target_acc: float  # forget accuracy (%) to reach: relearn_target(the original's on the same probe)
    samples_per_epoch: int  # training samples per epoch (the paper uses 500)

    def to_dict(self) -> dict:
        return asdict(self)


def forget_probe(data: ImageData, forget: Sequence[int], per_class: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first `per_class` test images [P, C, H, W] of each forget class and their labels [P]."""
    import torch

    if not forget:
        raise ConfigError("Relearn time needs at least one forgotten class.")
    idx = torch.cat([(data.test_y == c).nonzero().flatten()[:per_class] for c in forget])
    if len(idx) == 0:
        raise ConfigError(
            f"The test split of {data.name} has no images of classes {list(forget)}: "
            "relearn time cannot be measured without them."
        )
    return data.test_x[idx], data.test_y[idx]


def accuracy(model: Classifier, x: torch.Tensor, y: torch.Tensor) -> float:
    """% of uint8 images x [N, C, H, W] whose predicted class equals y [N]."""
    from unsir_core.metrics.evaluate import predict_logits

    pred = predict_logits(model, x).argmax(1)
    return (pred == y.to(pred.device)).float().mean().item() * 100


def _check(max_epochs: int, samples_per_epoch: int, eval_every: int, batch_size: int, probe_per_class: int) -> None:
    for name, value in (
        ("max_epochs", max_epochs),
        ("samples_per_epoch", samples_per_epoch),
        ("eval_every", eval_every),
        ("batch_size", batch_size),
        ("probe_per_class", probe_per_class),
    ):
        if value < 1:
            raise ConfigError(f"Relearn {name} must be at least 1, got {value}.")


def relearn_time(
    model: Classifier,
    data: ImageData,
    forget: Sequence[int],
    target_acc: float,
    max_epochs: int = 20,
    samples_per_epoch: int = 500,
    lr: float = 1e-3,
    seed: int = 0,
    eval_every: int = 1,
    probe_per_class: int = 100,
    batch_size: int = 100,
    device: str | torch.device | None = None,
) -> RelearnResult:
    """Epochs of fine-tuning a copy of `model` until its forget accuracy reaches `target_acc` (%).

    Each epoch draws `samples_per_epoch` random training samples from all classes (seeded) and takes
    Adam steps of `batch_size` on them. `device=None` uses the model's device. Deterministic for a
    given seed on the CPU; `model` is not changed.
    """
    import torch

    from unsir_core.common.device import memory_format, pick_device

    _check(max_epochs, samples_per_epoch, eval_every, batch_size, probe_per_class)
    device = model.device if device is None else pick_device(device)
    probe_x, probe_y = forget_probe(data, forget, probe_per_class)
    work = model.copy()
    work.net.to(device, memory_format=memory_format(device)).requires_grad_(True)
    opt = torch.optim.Adam(work.net.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    history, epochs_seen = [accuracy(work, probe_x, probe_y)], [0]
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)  # dropout draws, without touching the caller's random state
        for epoch in range(1, max_epochs + 1):
            if history[-1] >= target_acc:
                break
            picked = torch.randperm(len(data.train_x), generator=gen)[:samples_per_epoch]  # [E] of all classes
            fine_tune(work, data.train_x[picked].to(device), data.train_y[picked].to(device), opt, batch_size, gen)
            if epoch % eval_every == 0 or epoch == max_epochs:
                history.append(accuracy(work, probe_x, probe_y))
                epochs_seen.append(epoch)
    history = [round(a, 2) for a in history]
    reached = crossing(epochs_seen, history, target_acc)
    return RelearnResult(reached, reached is None, history, epochs_seen, target_acc, samples_per_epoch)


def fine_tune(
    model: Classifier,
    x: torch.Tensor,
    y: torch.Tensor,
    opt: torch.optim.Optimizer,
    batch_size: int,
    gen: torch.Generator,
) -> None:
    """One shuffled pass of Adam steps over uint8 images x [E, C, H, W] and labels y [E], in place."""
    import torch.nn.functional as F

    from unsir_core.common.batches import index_batches
    from unsir_core.common.device import autocast, memory_format

    model.net.train()
    for idx in index_batches(len(x), batch_size, gen, x.device):
        inputs = model.prepare(x[idx]).contiguous(memory_format=memory_format(x.device))
        with autocast(x.device):
            logits = model.net(inputs)
        loss = F.cross_entropy(logits.float(), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
