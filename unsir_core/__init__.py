"""UNSIR Studio's engine: class unlearning with UNSIR (Tarun et al., "Fast Yet Effective Machine Unlearning").

The front door, for a notebook:

    from unsir_core import default_checkpoint, evaluate, load_dataset, load_model, unlearn

    data = load_dataset("shapes10")                                # embedded: no download
    model = load_model(default_checkpoint("shapes10", "smallcnn"))  # the shipped Small CNN
    run = unlearn(model, data, ["triangle"])                       # noise, impair, repair, evaluation
    print(run.evaluations["repair"].forget_acc, run.to_json()["summary"])

`compare(model, data, ["triangle"])` measures UNSIR against the other methods. Where things happen:
`algorithm/` (UNSIR: noise, impair, repair, the recipe, one request), `metrics/` (every number),
`experiments/` (compare, sweeps, robustness, bench), `checkpoints/`, `report/`, `cli/` (docs/architecture.md).
Names load on first use, so importing the package costs nothing (the dashboard's first page needs no torch).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from unsir_core.algorithm.pipeline import UnsirRun
    from unsir_core.data import ImageData
    from unsir_core.models.classifier import Classifier

_EXPORTS = {  # name -> the module that defines it
    "load_dataset": "unsir_core.data",
    "load_model": "unsir_core.checkpoints.store",
    "default_checkpoint": "unsir_core.checkpoints.catalog",
    "UnlearningRequest": "unsir_core.algorithm.request",
    "run_request": "unsir_core.algorithm.request",
    "evaluate": "unsir_core.metrics.evaluate",
    "compare": "unsir_core.experiments.compare",
}
__all__ = [*_EXPORTS, "unlearn"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'unsir_core' has no attribute {name!r}")


def unlearn(
    model: Classifier,
    data: ImageData,
    forget: Sequence[int | str],
    preset: str | None = None,
    device: str = "auto",
    **overrides: Any,
) -> UnsirRun:
    """Forget `forget` (class names or indices) from `model`: one UNSIR request, as the CLI and the dashboard
    make it. `preset` names a preset (default: the auto recipe); `overrides` change settings by dotted name with
    `__` for the dot, e.g. `impair__lr=0.01, seed=3`."""
    from unsir_core.algorithm.request import UnlearningRequest, run_request

    changes = {name.replace("__", "."): value for name, value in overrides.items()}
    return run_request(UnlearningRequest(model, data, tuple(forget), preset, changes), device)
