"""One full UNSIR run with its evaluation, as the CLI and the dashboard both need it.

`run_unsir` = unlearn (noise, impair, repair) + evaluation of the original, impaired and repaired
models (and optionally a retrained gold standard) + the report the CLI prints as JSON.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from unsir_core.algorithm.recipe import Recipe
from unsir_core.algorithm.unlearn import UnlearnResult, unlearn
from unsir_core.checkpoints.references import obtain, strength, warning
from unsir_core.common.config import TrainConfig, UnsirConfig
from unsir_core.common.device import describe, pick_device, synchronize
from unsir_core.common.progress import CancelToken, ProgressFn
from unsir_core.common.vocabulary import stage_titles
from unsir_core.data import ImageData
from unsir_core.metrics.evaluate import Evaluation, evaluate
from unsir_core.models.classifier import Classifier
from unsir_core.report.summary import summarize


@dataclass(frozen=True)
class UnsirRun:
    result: UnlearnResult  # models, noise, timings of the unlearning itself
    original: Classifier  # the model that was unlearned (untouched)
    retrained: Classifier | None  # gold standard trained without the forgotten classes, when asked
    evaluations: dict[str, Evaluation]  # "original", "impair", "repair" and "retrain"
    timings_s: dict[str, float]  # noise, impair, repair, unlearn, evaluate (and retrain, or reference when reused)
    dataset: str
    class_names: tuple[str, ...]
    device: str  # human-readable device, e.g. "CPU (2 threads)" or the GPU's name
    extras: dict[str, Any] = field(default_factory=dict)  # further metrics (weight distance, MIA, ...)
    recipe: Recipe | None = None  # which recipe chose the settings, and what it chose (None: given by hand)
    preset: str = "auto"  # the preset the request named ("auto": the auto recipe), for the link that re-runs it
    overrides: dict[str, Any] = field(default_factory=dict)  # the settings its user changed, by dotted name
    root: Classifier | None = None  # the true original, when the unlearned model started from another model

    @property
    def degraded(self) -> bool:
        """The collapse guard fired: retain accuracy did not come back (see `result.repair_outcome`)."""
        return bool(self.result.repair_outcome and self.result.repair_outcome.degraded)

    @property
    def forgotten(self) -> tuple[int, ...]:
        return self.result.model.info.forgotten

    def to_json(self) -> dict[str, Any]:
        """The CLI's JSON: config, timings, metrics per stage, and the prediction distribution."""
        names = self.class_names
        report = {
            "preset": self.preset,
            "overrides": dict(self.overrides),
            "dataset": self.dataset,
            "arch": self.original.info.arch,
            "class_names": list(names),
            "forget": [names[c] for c in self.result.forget],
            "forget_indices": list(self.result.forget),
            "forgotten_total": [names[c] for c in self.forgotten],
            "recipe": self.recipe.to_dict() if self.recipe else {"name": "custom", "choices": []},
            "config": self.result.config.to_dict(),
            "repair_check": self.result.repair_outcome.to_dict() if self.result.repair_outcome else None,
            "degraded": self.degraded,
            "device": self.device,
            "timings_s": self.timings_s,
            "noise": None
            if self.result.noise is None
            else {
                "forget_ce": self.result.noise.forget_ce,
                "l2_norm": self.result.noise.l2_norm,
                "loss_history": [round(v, 4) for v in self.result.noise.loss_history],
            },
            "metrics": {stage: ev.to_dict() for stage, ev in self.evaluations.items()},
            "stage_titles": stage_titles(self.evaluations),
            "prediction_distribution": dict(zip(names, self.evaluations["repair"].prediction_distribution)),
            **({"extras": self.extras} if self.extras else {}),
        }
        return {**report, "summary": summarize(report)}


def evaluate_original(model: Classifier, data: ImageData, gone: Sequence[int], device: torch.device) -> Evaluation:
    """The original's accuracies with `gone` forgotten, measured on a copy on `device` (`model` stays where it is);
    its test-set predictions are computed once per (weights, data set) and reused by every later request."""
    original = model.copy()
    original.net.to(device)
    return evaluate(original, data.to(device), gone, fixed=True)


def evaluate_stages(
    model: Classifier,
    result: UnlearnResult,
    data: ImageData,
    device: torch.device,
    known: Evaluation | None = None,
) -> tuple[dict[str, Evaluation], dict[str, float]]:
    """The original's (`known`, else measured once per weights and data set), the impaired and the repaired
    model's evaluations on `data`'s test split, and the seconds each took (what `bench` reports)."""
    gone = result.model.info.forgotten
    stages = {
        "original": lambda: known if known is not None else evaluate_original(model, data, gone, device),
        "impair": lambda: evaluate(result.impaired, data, gone),
        "repair": lambda: evaluate(result.model, data, gone),
    }
    evaluations, seconds = {}, {}
    for stage, measure in stages.items():
        start = time.perf_counter()
        evaluations[stage] = measure()
        synchronize(device)
        seconds[stage] = time.perf_counter() - start
    return evaluations, seconds


def run_unsir(
    model: Classifier,
    data: ImageData,
    forget: Sequence[int | str],
    cfg: UnsirConfig = UnsirConfig(),
    device: str | torch.device | None = "auto",
    retrain: TrainConfig | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
    monitor_every: int = 0,
    recipe: Recipe | None = None,
    originals: Mapping[tuple[int, ...], Evaluation] | None = None,
) -> UnsirRun:
    """Unlearn `forget` from `model`, evaluate every stage, and optionally train the gold standard.

    `recipe` is only recorded (its config is `cfg`, possibly with the user's overrides). `originals` holds
    evaluations of `model` the caller already has, by forgotten classes (a sweep evaluates the original once
    per forget set, not once per cell); any other is computed here."""
    device = pick_device(device) if not isinstance(device, torch.device) else device
    data = data.to(device)
    result = unlearn(model, data, forget, cfg, device, progress, cancel, monitor_every=monitor_every)
    gone = result.model.info.forgotten

    evaluations, seconds = evaluate_stages(model, result, data, device, (originals or {}).get(tuple(gone)))
    timings = {**result.timings_s, "evaluate": round(sum(seconds.values()), 4)}
    timings["total"] = round(timings["unlearn"] + timings["evaluate"], 4)

    retrained, extras = None, {}
    if retrain is not None:  # a stored reference with these settings is reused, else trained once and stored
        start = time.perf_counter()
        reference = obtain(model, data, gone, retrain, device, progress, cancel)
        retrained = reference.model
        retrained.net.to(device)
        evaluations["retrain"] = evaluate(retrained, data, gone, fixed=True)  # a stored reference never changes
        # a reference reused from the store was not trained now: its seconds here are loading and evaluating it
        timings["reference" if reference.reused else "retrain"] = round(time.perf_counter() - start, 4)
        ref_acc, orig_acc = evaluations["retrain"].retain_acc, evaluations["original"].retain_acc
        extras["reference"] = {
            "path": str(reference.path) if reference.path else None,
            "reused": reference.reused,
            "shipped": reference.shipped,
            "train_s": retrained.info.details.get("train_s"),
            "strength": round(strength(ref_acc, orig_acc), 4),
            "warning": warning(ref_acc, orig_acc),
        }
    return UnsirRun(
        result,
        model,
        retrained,
        evaluations,
        timings,
        data.name,
        data.class_names,
        describe(device),
        extras,
        recipe=recipe,
    )
