"""Audits of a finished run, computed on request: relearn time and membership inference.

Both read forget-class images (that is what they measure), unlike unlearning itself. Each is a job
that measures the run's models and commits the whole result into the run's `audits` at the end.
"""
from __future__ import annotations

import time
from typing import Any

from unsir_core.metrics.privacy import membership_inference
from unsir_core.metrics.relearn import accuracy, forget_probe, relearn_time
from unsir_core.progress import emit

from . import jobs, loaders, runs

PROBE_PER_CLASS = 100  # forget-class test images per class that relearn time is measured on


def request_relearn(run_id: int, max_epochs: int) -> None:
    jobs.request("relearn", f"Relearn time of run {run_id}", run_id=run_id, max_epochs=max_epochs)


def request_mia(run_id: int, variant: str) -> None:
    jobs.request("mia", f"Membership inference ({variant}) on run {run_id}", run_id=run_id, variant=variant)


def execute() -> None:
    jobs.execute("relearn", _relearn, _commit("relearn"))
    jobs.execute("mia", _mia, _commit("mia"))


def _record(job: jobs.Job) -> runs.RunRecord:
    return next(r for r in runs.history() if r.id == job.params["run_id"])


def _relearn(job: jobs.Job, progress: jobs.ProgressView) -> tuple[int, dict[str, Any]]:
    """Epochs until each model's forget accuracy is back at the original's (same probe for all)."""
    record = _record(job)
    data = loaders.data(record.setup.dataset)
    models = record.models()
    gone = record.report["forgotten_total"]
    forget = data.resolve_classes(gone)
    target = accuracy(models["original"], *forget_probe(data, forget, PROBE_PER_CLASS))
    out: dict[str, Any] = {"target": round(target, 2)}
    stages = [s for s in ("repair", "retrain") if s in models]
    start = time.perf_counter()
    for i, stage in enumerate(stages, start=1):
        out[stage] = relearn_time(models[stage], data, forget, target, max_epochs=job.params["max_epochs"],
                                  probe_per_class=PROBE_PER_CLASS, seed=record.setup.config.seed).to_dict()
        emit(progress, "relearn", i, len(stages), start)
    return record.id, out


def _mia(job: jobs.Job, progress: jobs.ProgressView) -> tuple[int, dict[str, Any]]:
    record = _record(job)
    data = loaders.data(record.setup.dataset)
    forget = data.resolve_classes(record.report["forgotten_total"])
    models = {stage: m for stage, m in record.models().items() if stage != "impair"}
    results: dict[str, Any] = {}
    start = time.perf_counter()
    for i, (stage, model) in enumerate(models.items(), start=1):
        results[stage] = membership_inference(model, data, forget, variant=job.params["variant"],
                                              seed=record.setup.config.seed).to_dict()
        emit(progress, "mia", i, len(models), start)
    return record.id, results


def _commit(name: str):
    def commit(result: tuple[int, dict[str, Any]], samples: list[dict]) -> str:
        run_id, value = result
        record = next(r for r in runs.history() if r.id == run_id)
        record.audits = {**record.audits, name: value}
        return f"{'Relearn time' if name == 'relearn' else 'Membership inference'} computed for run {run_id}."
    return commit
