"""Audits of a finished run, computed on request: relearn time, membership inference, the privacy score
against the retrained model, and the feature probe.

All read forget-class images (that is what they measure), unlike unlearning itself. Each is a job
that measures the run's models and commits the whole result into the run's `audits` at the end.
Membership inference uses the same sample count and seed as Compare (`MIA_SAMPLES`, the run's seed), so
both pages run the same attack on the same data.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from unsir_core.common.progress import emit
from unsir_core.metrics.audits import MetricSettings, membership, relearn_audit
from unsir_core.metrics.probe import feature_probe
from unsir_core.metrics.retrain_privacy import retrain_privacy

from . import jobs, loaders, runs


def request_relearn(run_id: int, max_epochs: int) -> None:
    jobs.request("relearn", f"Relearn time of run {run_id}", run_id=run_id, max_epochs=max_epochs)


def request_mia(run_id: int, variant: str) -> None:
    jobs.request("mia", f"Membership inference ({variant}) on run {run_id}", run_id=run_id, variant=variant)


def request_privacy(run_id: int) -> None:
    jobs.request("privacy", f"Privacy score against the retrained model, run {run_id}", run_id=run_id)


def request_probe(run_id: int) -> None:
    jobs.request("probe", f"Feature probe on run {run_id}", run_id=run_id)


TITLES = {
    "relearn": "Relearn time",
    "mia": "Membership inference",
    "privacy": "The privacy score",
    "probe": "The feature probe",
}


def execute() -> None:
    jobs.execute("relearn", _relearn, _commit("relearn"))
    jobs.execute("mia", _mia, _commit("mia"))
    jobs.execute("privacy", _privacy, _commit("privacy"))
    jobs.execute("probe", _probe, _commit("probe"))


def _record(job: jobs.Job) -> runs.RunRecord:
    return next(r for r in runs.history() if r.id == job.params["run_id"])


def _relearn(job: jobs.Job, progress: jobs.ProgressView) -> tuple[int, dict[str, Any]]:
    """Epochs until each model's forget accuracy is back at the original's (same probe for all)."""
    record = _record(job)
    data = loaders.data(record.setup.dataset)
    models = record.models()
    forget = data.resolve_classes(record.report["forgotten_total"])
    settings = MetricSettings(relearn_max_epochs=job.params["max_epochs"], seed=record.setup.config.seed)
    start = time.perf_counter()
    return record.id, relearn_audit(
        models["original"],
        {s: models[s] for s in ("repair", "retrain") if s in models},
        data,
        forget,
        settings,
        lambda i, n: emit(progress, "relearn", i, n, start),
    )


def _each_model(
    job: jobs.Job,
    progress: jobs.ProgressView,
    phase: str,
    measure: Callable[..., Any],
    stages: tuple[str, ...] = ("original", "repair", "retrain"),
) -> tuple[int, dict[str, Any]]:
    """`measure(model, data, forget classes, run models, seed).to_dict()` for each of `stages` the run holds."""
    record = _record(job)
    data = loaders.data(record.setup.dataset)
    forget = data.resolve_classes(record.report["forgotten_total"])
    models = record.models()
    chosen = [s for s in stages if s in models]
    start = time.perf_counter()
    out: dict[str, Any] = {}
    for i, stage in enumerate(chosen, start=1):
        out[stage] = measure(models[stage], data, forget, models, record.setup.config.seed).to_dict()
        emit(progress, phase, i, len(chosen), start)
    return record.id, out


def _mia(job: jobs.Job, progress: jobs.ProgressView) -> tuple[int, dict[str, Any]]:
    return _each_model(
        job,
        progress,
        "mia",
        lambda model, data, forget, _, seed: membership(
            model, data, forget, job.params["variant"], MetricSettings(seed=seed)
        ),
    )


def _privacy(job: jobs.Job, progress: jobs.ProgressView) -> tuple[int, dict[str, Any]]:
    """The worst-case privacy score of the original and the unlearned model against the retrained one."""
    return _each_model(
        job,
        progress,
        "privacy",
        lambda model, data, forget, models, _: retrain_privacy(model, models["retrain"], data, forget),
        stages=("original", "repair"),
    )


def _probe(job: jobs.Job, progress: jobs.ProgressView) -> tuple[int, dict[str, Any]]:
    """The feature probe on the original, unlearned and (when held) retrained model."""
    return _each_model(
        job, progress, "probe", lambda model, data, forget, _, seed: feature_probe(model, data, forget, seed=seed)
    )


def _commit(name: str):
    def commit(result: tuple[int, dict[str, Any]], samples: list[dict]) -> str:
        run_id, value = result
        record = next(r for r in runs.history() if r.id == run_id)
        record.audits = {**record.audits, name: value}
        return f"{TITLES[name]} computed for run {run_id}."

    return commit
