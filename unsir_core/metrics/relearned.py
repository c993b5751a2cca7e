"""What counts as relearned: one definition for the headline number, the chart and the CLI (no torch here,
so the pages that draw relearn curves render without it)."""
from __future__ import annotations

from typing import Sequence

RELEARN_SHARE = 0.9  # "relearned" = forget accuracy back at this fraction of the original's


def relearn_target(original_forget_acc: float) -> float:
    """The forget accuracy (%) that counts as relearned: RELEARN_SHARE of the original model's."""
    return round(RELEARN_SHARE * original_forget_acc, 2)


def crossing(epochs: Sequence[int], history: Sequence[float], target: float) -> int | None:
    """The first epoch whose forget accuracy is at or above `target` (None when the curve never gets there)."""
    return next((e for e, acc in zip(epochs, history) if acc >= target), None)
