"""The repair that checks itself, and the collapse guard (zero-glance kept).

A few retain-class training images are held out of the retain subset (`unlearn.split_retain`): never trained
on by UNSIR, never a forget-class image. Before any work the original model is measured on them; after each
repair epoch the working model is. Repair stops once it is back to `target` x the original's accuracy there,
or gets a few extra epochs at half the rates while it is not; a result still below `guard` x the original's
is marked degraded, with the numbers and what to change.

The original model was trained on these images, so its accuracy there is training accuracy, usually above its
test accuracy; the ratio, not the level, is what is compared.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch

from unsir_core.common.config import UnsirConfig
from unsir_core.metrics.evaluate import predict_logits
from unsir_core.models.classifier import Classifier


def accuracy(model: Classifier, x: torch.Tensor, y: torch.Tensor) -> float:
    """% of uint8 images x [V, C, H, W] that `model` labels y [V]."""
    return float((predict_logits(model, x).argmax(1) == y.to(model.device)).float().mean() * 100)


@dataclass(frozen=True)
class RepairOutcome:
    """What the self-check saw: repair epochs used, the accuracy on the held-out images, and the verdict."""

    held_out: int  # held-out retain-class training images (0: no check was possible)
    original_acc: float | None  # % of them the original model labels right
    accuracy: float | None  # % after repair
    history: list[float]  # % after each repair epoch
    epochs: int  # repair epochs run (planned ones + extra ones)
    extra_epochs: int  # of which were added because the target was not reached
    target: float  # stop once accuracy >= target x original_acc
    reached: bool  # the target was reached
    degraded: bool  # accuracy < guard x original_acc: do not use this model as a finished result
    message: str  # one sentence for the user (why it stopped, or what is wrong and what to do)

    @property
    def ratio(self) -> float | None:
        """accuracy / original_acc, the fraction of the original's retain accuracy that is back."""
        if self.accuracy is None or not self.original_acc:
            return None
        return self.accuracy / self.original_acc

    @property
    def gap(self) -> float | None:
        """Percentage points still missing against the original on the held-out images (>= 0)."""
        if self.accuracy is None or self.original_acc is None:
            return None
        return round(max(0.0, self.original_acc - self.accuracy), 2)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": None if self.ratio is None else round(self.ratio, 4), "gap": self.gap}


class RepairCheck:
    """Measures the held-out retain images after each repair epoch; `done` says when repair may stop."""

    def __init__(self, original: Classifier, x: torch.Tensor, y: torch.Tensor, cfg: UnsirConfig):
        self.x, self.y, self.cfg = x, y, cfg
        self.original_acc = accuracy(original, x, y) if len(y) else None
        self.history: list[float] = []
        self.reached = False  # the last measurement met the target

    @property
    def enabled(self) -> bool:
        return self.original_acc is not None

    def measure(self, model: Classifier) -> float:
        self.history.append(round(accuracy(model, self.x, self.y), 2))
        return self.history[-1]

    def done(self, model: Classifier) -> bool:
        """Measure `model` (after an epoch) and say whether the target is reached."""
        if self.enabled:
            self.reached = self.measure(model) >= self.cfg.check.target * self.original_acc
        return self.reached

    def outcome(self, epochs: int, extra: int) -> RepairOutcome:
        check = self.cfg.check
        if not self.enabled:
            return RepairOutcome(
                0,
                None,
                None,
                [],
                epochs,
                extra,
                check.target,
                False,
                False,
                "Not checked: the retain classes have no training images to spare for the check.",
            )
        acc, orig, reached = self.history[-1], self.original_acc, self.reached
        degraded = acc < check.guard * orig
        share = 100 * acc / orig if orig else 0.0
        where = f"{len(self.y)} held-out retain images"
        if not epochs:
            message = (
                f"No repair (ablation): the impaired model labels {acc:.1f}% of {where} right, against {orig:.1f}% "
                f"for the original ({share:.0f}% of it{', marked degraded' if degraded else ''})."
            )
        elif degraded:
            message = (
                f"Degraded: after repair the model labels {acc:.1f}% of {where} right, against "
                f"{orig:.1f}% for the original ({share:.0f}% of it, below the guard's {check.guard:.0%}). "
                f"Give more retain images per class (now {self.cfg.retain_per_class}) or a lower impair "
                f"learning rate (now {self.cfg.impair.lr:g})."
            )
        elif reached:
            message = (
                f"Repair is back to {share:.0f}% of the original's accuracy on {where} ({acc:.1f}% vs "
                f"{orig:.1f}%) after {epochs} epoch{'s' if epochs > 1 else ''}."
            )
        else:
            message = (
                f"Repair stopped at its cap of {epochs} epochs at {share:.0f}% of the original's accuracy on "
                f"{where} ({acc:.1f}% vs {orig:.1f}%; target {check.target:.0%})."
            )
        return RepairOutcome(
            len(self.y),
            round(orig, 2),
            acc,
            list(self.history),
            epochs,
            extra,
            check.target,
            reached,
            degraded,
            message,
        )
