"""One unlearning request, the one path every entry point takes: the CLI's `unlearn`, the dashboard's Run
button, a sweep cell and a robustness cell build an `UnlearningRequest` and call `run_request`.

`run_request` chooses the recipe (a preset or the auto recipe, with the user's changes), finds the true original
of a model that already forgot classes, runs `run_unsir`, and returns the complete run record
(`UnsirRun.to_json()`): recipe and its choices, reference used, lineage, metrics, layer distances, gallery,
environment, the link's checkpoint and the summary. No caller patches the record afterwards.
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from unsir_core.algorithm.pipeline import UnsirRun, run_unsir
from unsir_core.algorithm.recipe import Recipe, choose_recipe
from unsir_core.checkpoints.catalog import default_checkpoint, list_models, weights_sha256
from unsir_core.checkpoints.lineage import lineage_of
from unsir_core.checkpoints.store import load_model, state_sha256
from unsir_core.common.config import TrainConfig
from unsir_core.common.errors import CheckpointError
from unsir_core.common.progress import CancelToken, ProgressFn
from unsir_core.data import ImageData
from unsir_core.metrics.chance import chance_warning
from unsir_core.metrics.evaluate import evaluate
from unsir_core.metrics.views import run_views
from unsir_core.metrics.weights import layer_distances
from unsir_core.models.classifier import Classifier, ModelInfo
from unsir_core.report.gallery import gallery


def environment(device: str) -> dict[str, str]:
    """Where a run ran: device, Python, platform and library versions."""
    import numpy
    import torchvision

    return {
        "device": device,
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": numpy.__version__,
    }


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


@dataclass(frozen=True)
class UnlearningRequest:
    """What one UNSIR request needs; `run_request` does the rest the same way for every caller."""

    original: Classifier  # the model read from `checkpoint` (an original, or a model that already forgot classes)
    data: ImageData  # the data set it classifies
    forget: tuple[int | str, ...]  # the classes to forget now, by name or index
    preset: str | None = None  # a named preset; None or "auto": the auto recipe for this data, model and forget set
    overrides: Mapping[str, Any] = field(default_factory=dict)  # settings the user changed, dotted names (seed too)
    recipe: Recipe | None = None  # settings the caller chose itself (a sweep cell); None: from preset and overrides
    checkpoint: Path | None = None  # the file `original` was read from: the parent, the link's model, the true original
    start: Classifier | None = None  # the model to unlearn when it is not `original` (a chain the caller holds)
    parent: str = ""  # what `start` is, in the chain ("" = the checkpoint's file name)
    earlier: tuple[Mapping[str, Any], ...] | None = None  # the chain's earlier requests (None: `start`'s lineage)
    retrain: TrainConfig | None = None  # train (or reuse) the retrained gold standard with these settings
    retrain_estimate_s: float | None = None  # the caller's estimate of that retraining, shown when it did not run
    monitor_every: int = 0  # live A_Df/A_Dr every this many steps (0: never)
    views: bool = False  # carry the embedding and layer CKA (metrics/views.py): off, the pages and the report ask
    # for them on demand (cached per models); on for `unlearn --out`, whose JSON alone makes the report

    @property
    def model(self) -> Classifier:
        """The model this request unlearns."""
        return self.start if self.start is not None else self.original


def resolve_recipe(
    data: ImageData, info: ModelInfo, forget: Sequence[int | str], preset: str | None, overrides: Mapping[str, Any]
) -> Recipe:
    """The recipe of a request: the preset's settings or the auto recipe's for this data, model and forget set,
    with the user's changes applied (ConfigError naming a setting out of range)."""
    chosen = choose_recipe(data, info, list(forget), preset, int(overrides.get("seed", 0)))
    return replace(chosen, config=chosen.config.with_overrides(**overrides))


def link_checkpoint(data: ImageData, path: Path | None) -> str:
    """The checkpoint a link must name to re-run a request on `path`'s model: "" when it is the data set's default
    for its architecture (what a link without `model` loads), else its file name."""
    if path is None:
        return ""
    try:
        default = default_checkpoint(data.name, read_arch(path))
    except CheckpointError:  # no stored default for this data set (a user's own model): name it
        return path.name
    return "" if default.name == path.name else path.name


def read_arch(path: Path) -> str | None:
    from unsir_core.checkpoints.catalog import read_info

    try:
        return read_info(path).arch
    except (CheckpointError, OSError):
        return None


def run_request(
    request: UnlearningRequest,
    device: str | torch.device | None = "auto",
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
    load: Callable[[Path], Classifier] = load_model,
    originals: Mapping[tuple[int, ...], Any] | None = None,
) -> UnsirRun:
    """Run `request` and return the complete run record (see the module docstring).

    For a model that already forgot classes, the true original (found by `find_root`, loaded with `load`) is
    evaluated as "original" and the starting model as "start"; when it is not found, "original" is the starting
    model and `extras["root_found"]` is False. `originals` are the original's evaluations a sweep already has.
    """
    model, data = request.model, request.data
    recipe = request.recipe or resolve_recipe(data, model.info, request.forget, request.preset, request.overrides)
    root, root_path = _true_original(request, load)
    forget = data.forget_classes(request.forget, model.info.forgotten)
    run = run_unsir(
        model,
        data,
        forget,
        recipe.config,
        device,
        retrain=request.retrain,
        progress=progress,
        cancel=cancel,
        monitor_every=request.monitor_every,
        recipe=recipe,
        originals=originals,
    )
    evaluations = dict(run.evaluations)
    models = {"original": run.original, "repair": run.result.model}
    if model.info.forgotten and root is not None:
        work = root.copy()
        work.net.to(run.original.device)
        start = evaluations.pop("original")
        evaluations = {
            "original": evaluate(work, data.to(run.original.device), run.forgotten),
            "start": start,
            **evaluations,
        }
        models = {"original": work, "start": run.original, "repair": run.result.model}
    if run.retrained is not None:
        models["retrain"] = run.retrained
    found = not model.info.forgotten or (root is not None and not root.info.forgotten)
    base = root if root is not None else model  # weight distances are measured from the true original
    weights = {
        stage: [d.to_dict() for d in layer_distances(m, base)]
        for stage, m in (("repair", run.result.model), ("retrain", run.retrained))
        if m is not None
    }
    original = evaluations["original"]
    known = [c for c in range(data.num_classes) if c not in models["original"].info.forgotten]
    chance = chance_warning(  # class-balanced over the classes the original still knows: chance is 100/len(known)
        sum(original.per_class_acc[c] for c in known) / len(known), len(known), model.info.arch
    )
    extras: dict[str, Any] = {
        "parent": request.parent or (request.checkpoint.name if request.checkpoint else ""),
        "root_sha256": root_sha256(model, root),
        "lineage": lineage_of(model.info) if request.earlier is None else list(request.earlier),
        "gallery": gallery(models, data.to(run.original.device), run.result.forget, run.forgotten),
        "environment": environment(run.device),
        "weights": weights,
        "monitor_every": request.monitor_every,
        "original_file": root_path.name if root_path is not None else "",  # shown, never opened
        **(
            {"views": run_views(models, data.to(run.original.device), run.forgotten, recipe.config.seed)}
            if request.views
            else {}
        ),
        **({"root": name} if (name := link_checkpoint(data, root_path)) else {}),
        **({"root_found": False} if not found else {}),
        **({"chance_warning": chance} if chance else {}),
        **(
            {"retrain_estimate_s": round(request.retrain_estimate_s, 1)}
            if request.retrain is None and request.retrain_estimate_s is not None
            else {}
        ),
    }
    return replace(
        run,
        evaluations=evaluations,
        extras={**run.extras, **extras},
        preset=recipe.name,
        overrides=dict(request.overrides),
        root=root,
    )


def _true_original(
    request: UnlearningRequest, load: Callable[[Path], Classifier]
) -> tuple[Classifier | None, Path | None]:
    """The true original of the request's chain and its file: `original` itself when it forgot nothing, else the
    one `find_root` finds by the digest of its weights; when none is found, the checkpoint itself."""
    if not request.original.info.forgotten:
        return (request.original if request.start is not None else None), request.checkpoint
    path = find_root(request.original.info, request.checkpoint) if request.checkpoint is not None else None
    if path is not None:
        return load(path), path
    # not found: a chain held in memory measures from the checkpoint it started from, as far as it can see
    return (request.original if request.start is not None else None), request.checkpoint
