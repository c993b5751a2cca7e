"""The runs of this session, and the UNSIR job that adds one.

Each completed run is a `RunRecord`: its setup, the engine's JSON report (config, timings, metrics
per stage, weight distances) and the live-chart samples, kept for every run; plus the `UnsirRun`
with its models and noise, kept only for the newest KEEP_MODELS runs so memory stays bounded.
Audits computed later (relearn time, membership inference) are added to `audits` whole.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import streamlit as st

from unsir_core import references
from unsir_core.batches import num_batches
from unsir_core.classifier import Classifier
from unsir_core.config import TrainConfig, UnsirConfig
from unsir_core.data import ImageData
from unsir_core.metrics.weights import layer_distances
from unsir_core.pipeline import UnsirRun, run_unsir
from unsir_core.recipe import Recipe, choose_recipe
from unsir_core.train import gold_standard_config

from . import jobs, loaders, state
from .setup import Setup

RUNS = "runs"
KEEP_MODELS = 5  # runs that keep their models (for GradCAM, audits and downloads); older keep metrics only
MONITOR_POINTS = 12  # live accuracy measurements per run; each costs about 2 training steps of the default
DEMO_FORGET = ("star",)  # forget set of the guided demo on the embedded default


@dataclass
class RunRecord:
    id: int
    setup: Setup  # the setup it ran with
    model_name: str  # checkpoint file it started from
    created: str  # local time it finished, HH:MM:SS
    report: dict[str, Any]  # UnsirRun.to_json(), with layer distances under report["extras"]["weights"]
    live: list[dict[str, Any]]  # progress samples, to redraw the live chart
    unsir: UnsirRun | None  # models and noise; None once released
    audits: dict[str, Any] = field(default_factory=dict)  # "relearn", "mia": computed on request

    @property
    def title(self) -> str:
        return f"Run {self.id} · forget {', '.join(self.setup.forget)} · {self.created}"

    @property
    def metrics(self) -> dict[str, dict[str, Any]]:
        """Evaluation per stage ("original", "impair", "repair", and "retrain" when trained)."""
        return self.report["metrics"]

    @property
    def class_names(self) -> list[str]:
        """Class names in class order (the report keys its prediction distribution by them)."""
        return list(self.report["prediction_distribution"])

    @property
    def forget(self) -> list[int]:
        """Indices of every class the unlearned model has forgotten (this request and earlier ones)."""
        return [self.class_names.index(c) for c in self.report["forgotten_total"]]

    def models(self) -> dict[str, Classifier]:
        """The models still held: original, impair, repair (unlearned) and retrain, by stage."""
        if self.unsir is None:
            return {}
        found = {"original": self.unsir.original, "impair": self.unsir.result.impaired,
                 "repair": self.unsir.result.model, "retrain": self.unsir.retrained}
        return {stage: m for stage, m in found.items() if m is not None}


def history() -> list[RunRecord]:
    return st.session_state.setdefault(RUNS, [])


def latest() -> RunRecord | None:
    runs = history()
    return runs[-1] if runs else None


def add(record: RunRecord) -> None:
    """Append a run; only the newest KEEP_MODELS runs that hold models keep them (sweep runs hold none)."""
    runs = history()
    runs.append(record)
    for old in [r for r in runs if r.unsir is not None][:-KEEP_MODELS]:
        old.unsir = None


def retrain_config(setup: Setup, model: Classifier) -> TrainConfig:
    """The gold standard's training: the original's settings with the setup's seed and epochs."""
    return gold_standard_config(model.info, setup.config.seed, setup.retrain_epochs)


def stored_reference(setup: Setup, model: Classifier) -> Path | None:
    """The stored retrained model matching the setup's forget set and retraining settings, if any."""
    data = loaders.data(setup.dataset)
    gone = set(data.resolve_classes(setup.forget)) | set(model.info.forgotten)
    return references.find(references.ReferenceKey.for_original(model.info, tuple(gone), retrain_config(setup, model)))


def retrain_estimate(setup: Setup, model: Classifier) -> str:
    """How long retraining should take here: epochs x retain images / the training speed measured on this device."""
    cfg = retrain_config(setup, model)
    found = stored_reference(setup, model)
    if found is not None:
        where = "shipped with the project" if found.parent == references.SHIPPED_DIR else "trained earlier"
        return (f"A retrained model with these settings ({cfg.epochs} epochs, seed {cfg.seed}) is in the reference "
                f"store ({where}: {found.name}): every run uses it, no training needed.")
    data = loaders.data(setup.dataset)
    gone = set(data.resolve_classes(setup.forget)) | set(model.info.forgotten)
    images = int((~data.class_mask(data.train_y, sorted(gone))).sum())
    seconds = cfg.epochs * images / loaders.training_speed(setup, cfg.batch_size)
    return (f"Retraining runs {cfg.epochs} epochs: about {jobs.format_seconds(seconds)} on "
            f"{loaders.device_name()}, judging by {loaders.SPEED_BATCHES} timed training steps. It is trained once "
            "and kept in the reference store for every later run, session and comparison.")


def monitor_every(cfg: UnsirConfig, num_classes: int, gone: int, forget: int) -> int:
    """Steps between live accuracy measurements, for about MONITOR_POINTS of them over impair and repair.

    The step count is estimated from the settings (retain subset, noise copies, batch sizes, epochs);
    `gone` counts every class left out of the retain subset, `forget` the classes noise is learned for.
    """
    retain = cfg.retain_per_class * (num_classes - gone)
    impair = cfg.impair.epochs * num_batches(retain + cfg.noise.batch_size * forget * cfg.noise_copies,
                                             cfg.impair.batch_size)
    repair = cfg.repair.epochs * num_batches(retain, cfg.repair.batch_size)
    return max(1, (impair + repair) // MONITOR_POINTS)


def request(setup: Setup) -> None:
    """on_click: run UNSIR on a snapshot of `setup`."""
    jobs.request("unsir", f"UNSIR: forget {', '.join(setup.forget)}", setup=setup)


def start_demo() -> None:
    """on_click of the guided demo: the embedded default setup with DEMO_FORGET, then a run."""
    demo = Setup.fresh().with_value("forget", DEMO_FORGET)
    state.set_setup(demo)
    request(demo)


def execute() -> None:
    """Run the requested UNSIR job, if any, with live progress and a live accuracy chart."""
    jobs.execute("unsir", _work, _commit, chart="accuracy")


def recipe(setup: Setup, data: ImageData, model: Classifier) -> Recipe:
    """The setup's preset, or the auto recipe for its data, model and forget classes (unknown names are left to
    the forget-class checks of the pages)."""
    forget = [c for c in setup.forget if c in data.class_names]
    return choose_recipe(data, model.info, forget, setup.preset, 0)


def _work(job: jobs.Job, progress: jobs.ProgressView) -> RunRecord:
    setup: Setup = job.params["setup"]
    data = loaders.data(setup.dataset)
    model = loaders.model(setup)
    chosen = recipe(setup, data, model)
    setup = setup.with_base(chosen.config)  # the recipe for exactly this request, with the user's changes
    # the gold standard comes along whenever it costs nothing (a stored reference) or was asked for
    retrain = retrain_config(setup, model) if setup.retrain or stored_reference(setup, model) else None
    forget = data.forget_classes(setup.forget, model.info.forgotten)
    every = monitor_every(setup.config, data.num_classes, len(set(forget) | set(model.info.forgotten)), len(forget))
    run = run_unsir(model, data, forget, setup.config, loaders.device(), retrain=retrain, progress=progress,
                    monitor_every=every, recipe=chosen)
    report = run.to_json()
    compared = {"repair": run.result.model, "retrain": run.retrained}
    report["extras"] = {**report.get("extras", {}),
                        "weights": {stage: [d.to_dict() for d in layer_distances(m, model)]
                                    for stage, m in compared.items() if m is not None}}
    report["extras"]["monitor_every"] = every
    record_id = (latest().id if latest() else 0) + 1
    return RunRecord(record_id, setup, loaders.model_path(setup).name, time.strftime("%H:%M:%S"), report, [], run)


def _commit(record: RunRecord, samples: list[dict[str, Any]]) -> str:
    record.live = samples
    add(record)
    m = record.metrics
    if record.report["degraded"]:
        state.notify("error", f"Run {record.id} is degraded and is not a finished model. "
                              f"{record.report['repair_check']['message']}")
    return (f"Run {record.id} finished in {record.report['timings_s']['unlearn']:.2f} s of unlearning: "
            f"A_Df {m['original']['forget_acc']:.1f}% → {m['repair']['forget_acc']:.1f}%, "
            f"A_Dr {m['original']['retain_acc']:.1f}% → {m['repair']['retain_acc']:.1f}%.")
