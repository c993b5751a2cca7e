"""One unlearning request as the CLI and the dashboard both make it, sequential ones included.

`run_request` = `run_unsir`, then what a report needs beyond the metrics: for a chained request (the
model already forgot classes) the true original's evaluation as "original" beside the starting
model ("start"), the chain so far, a before/after gallery and the environment.
"""
from __future__ import annotations

import platform
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

import torch

from unsir_core.checkpoints.catalog import list_models, weights_sha256
from unsir_core.models.classifier import Classifier, ModelInfo
from unsir_core.common.config import TrainConfig, UnsirConfig
from unsir_core.data import ImageData
from unsir_core.common.errors import CheckpointError
from unsir_core.report.gallery import gallery
from unsir_core.checkpoints.lineage import lineage_of
from unsir_core.metrics.evaluate import evaluate
from unsir_core.algorithm.pipeline import UnsirRun, run_unsir
from unsir_core.common.progress import CancelToken, ProgressFn
from unsir_core.algorithm.recipe import Recipe
from unsir_core.checkpoints.store import state_sha256


def environment(device: str) -> dict[str, str]:
    """Where a run ran: device, Python, platform and library versions."""
    import numpy
    import torchvision

    return {"device": device, "python": platform.python_version(), "platform": platform.platform(terse=True),
            "torch": torch.__version__, "torchvision": torchvision.__version__, "numpy": numpy.__version__}


def find_root(info: ModelInfo, path: Path) -> Path | None:
    """The true original's checkpoint of a model: itself for an original; for an unlearned one the original
    (same data set and architecture) in the shipped assets or the model store whose weights have the digest its
    lineage recorded (`details.root_sha256`); None when none has, or nothing was recorded.

    No path is taken from the metadata: a file it names is never opened, so the answer is the same whether
    or not such a file exists."""
    if not info.forgotten:
        return path
    wanted = info.details.get("root_sha256")
    for stored in list_models(info.dataset) if wanted else []:
        if stored.info.arch == info.arch and not stored.info.forgotten and _sha256_or_none(stored.path) == wanted:
            return stored.path
    return None


def _sha256_or_none(path: Path) -> str | None:
    try:
        return weights_sha256(path)
    except (CheckpointError, OSError):  # replaced or cut short since it was listed: not the original
        return None


def root_sha256(model: Classifier, root: Classifier | None) -> str:
    """The weights digest of the true original of a request on `model`: `root`'s when given, `model`'s when it
    is an original, else what `model`'s metadata recorded ("" when nothing)."""
    known = root if model.info.forgotten and root is not None else model
    return state_sha256(known) if not known.info.forgotten else known.info.details.get("root_sha256", "")


def run_request(model: Classifier, data: ImageData, forget: Sequence[int | str], cfg: UnsirConfig,
                device: str | torch.device | None = "auto", retrain: TrainConfig | None = None,
                progress: ProgressFn | None = None, cancel: CancelToken | None = None, monitor_every: int = 0,
                root: Classifier | None = None, parent: str = "",
                earlier: list[dict[str, Any]] | None = None, recipe: Recipe | None = None) -> UnsirRun:
    """Unlearn `forget` from `model` (checkpoint `parent`) and gather the report's extras.

    `root` is the true original when `model` has already forgotten classes; its evaluation becomes
    "original" and `model`'s "start". Without it a chained run keeps `model` as "original". The extras name
    the true original by its weights' digest (`root_sha256`), for `lineage.finalize`.
    `earlier` are the chain's earlier requests (default: the lineage in `model`'s metadata); `recipe`
    is recorded as `run_unsir` does.
    """
    run = run_unsir(model, data, forget, cfg, device, retrain=retrain, progress=progress, cancel=cancel,
                    monitor_every=monitor_every, recipe=recipe)
    evaluations = dict(run.evaluations)
    models = {"original": run.original, "repair": run.result.model}
    if model.info.forgotten and root is not None:
        work = root.copy()
        work.net.to(run.original.device)
        start = evaluations.pop("original")
        evaluations = {"original": evaluate(work, data.to(run.original.device), run.forgotten), "start": start,
                       **evaluations}
        models = {"original": work, "start": run.original, "repair": run.result.model}
    if run.retrained is not None:
        models["retrain"] = run.retrained
    extras: dict[str, Any] = {
        "parent": parent,
        "root_sha256": root_sha256(model, root),
        "lineage": lineage_of(model.info) if earlier is None else earlier,
        "gallery": gallery(models, data.to(run.original.device), run.result.forget, run.forgotten),
        "environment": environment(run.device),
    }
    return replace(run, evaluations=evaluations, extras={**run.extras, **extras})
