"""Progress events and cancellation, shared by training, noise, impair, repair and the methods.

A UI passes `progress` (called once per step) and `cancel` (any object with `is_set()`, such as a
threading.Event). Without a callback nothing is synchronised with the host inside the loops.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch

from unsir_core.common.errors import Cancelled, DivergedError


@dataclass(frozen=True)
class ProgressEvent:
    phase: str  # "train", "noise", "impair", "repair", "evaluate", ...
    step: int  # 1-based step within the phase
    total: int  # steps in the phase
    loss: float | None  # this step's loss (None when not measured)
    elapsed_s: float  # seconds since the phase started
    metrics: dict[str, float] = field(default_factory=dict)  # e.g. live forget/retain accuracy


ProgressFn = Callable[[ProgressEvent], None]


class CancelToken(Protocol):
    def is_set(self) -> bool: ...


class Reporter:
    """Reports the steps of one phase, checks for cancellation, and detects a NaN/inf loss.

    With a callback, each loss is read as it happens, so a NaN stops the phase at its step. Without
    one, losses stay on the device and are checked once, at `finish()`, naming the first bad step.
    """

    def __init__(
        self,
        phase: str,
        total: int,
        progress: ProgressFn | None = None,
        cancel: CancelToken | None = None,
        hint: str = "",
    ):
        self.phase, self.total, self.progress, self.cancel, self.hint = phase, total, progress, cancel, hint
        self.start = time.perf_counter()
        self.losses: list[torch.Tensor] = []
        self.history: list[float] = []

    def step(self, step: int, loss: torch.Tensor, metrics: dict[str, float] | None = None) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled(f"Cancelled during {self.phase} at step {step} of {self.total}; nothing was changed.")
        if self.progress is None:
            self.losses.append(loss.detach())
            return
        value = float(loss.detach())
        self.history.append(value)
        if not math.isfinite(value):
            raise DivergedError(self.phase, step, self.hint)
        self.progress(ProgressEvent(self.phase, step, self.total, value, self.elapsed(), metrics or {}))

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def finish(self) -> list[float]:
        """Check the losses kept on the device (one host sync) and return the loss history."""
        if self.losses:
            values = torch.stack(self.losses).float().cpu()
            self.losses = []
            bad = (~torch.isfinite(values)).nonzero()
            if len(bad):
                raise DivergedError(self.phase, int(bad[0]) + 1, self.hint)
            self.history = values.tolist()
        return self.history


def emit(progress: ProgressFn | None, phase: str, step: int, total: int, start: float, **metrics: Any) -> None:
    """A one-off event (e.g. an evaluation) outside a step loop."""
    if progress is not None:
        progress(ProgressEvent(phase, step, total, None, time.perf_counter() - start, dict(metrics)))
