"""The runs of this session, and the UNSIR job that adds one.

Each completed run is a `RunRecord`: its setup, the engine's JSON report (config, timings, metrics
per stage, weight distances) and the live-chart samples, kept for every run; plus the `UnsirRun`
with its models and noise, kept only for the newest KEEP_MODELS runs so memory stays bounded.
Audits computed later (relearn time, membership inference) are added to `audits` whole. What a run
measured is also saved on disk for the session's link (`run_store`), so a server restart loses no finished run.

A sequential request (a setup with a `chain`) starts from the session's run of its earlier requests
when that run still holds its model; otherwise (a shared link, a released model) the job runs the
earlier requests first, each as its own run, with the settings and seed the chain records.

Torch is imported inside the functions that run jobs: the first page renders without it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import streamlit as st

from unsir_core.common.config import TrainConfig, UnsirConfig
from unsir_core.common.numbers import pct

from . import jobs, loaders, run_store, state
from .job_queue import Recorder
from .setup import Setup

if TYPE_CHECKING:
    from unsir_core.algorithm.pipeline import UnsirRun
    from unsir_core.algorithm.recipe import Recipe
    from unsir_core.data import ImageData
    from unsir_core.models.classifier import Classifier

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
    parent: int | None = None  # the run whose unlearned model this one started from (sequential requests)
    root: Classifier | None = None  # the true original of a chained run (shared, cached: never train it)

    @property
    def title(self) -> str:
        after = f" after {', '.join(self.setup.forgotten_before)}" if self.setup.chain else ""
        part = f" · UNSIR {ablation_title(self.ablation)}" if self.ablation != "none" else ""
        return f"Run {self.id} · forget {', '.join(self.setup.forget)}{after}{part} · {self.created}"

    @property
    def ablation(self) -> str:
        """The part of UNSIR this run took out ("none": UNSIR itself; common.config.ABLATIONS)."""
        return self.report["config"].get("ablation", "none")

    @property
    def metrics(self) -> dict[str, dict[str, Any]]:
        """Evaluation per stage ("original", "impair", "repair", and "retrain" when trained)."""
        return self.report["metrics"]

    @property
    def class_names(self) -> list[str]:
        """Class names in class order (the report keys its prediction distribution by them)."""
        return list(self.report["prediction_distribution"])

    @property
    def already_forgotten(self) -> list[str]:
        """Classes the starting model had forgotten before this request: by earlier requests of the session's chain
        or, for a checkpoint chosen from the store, by the requests that made it."""
        return [c for c in self.report["forgotten_total"] if c not in self.report["forget"]]

    @property
    def forget(self) -> list[int]:
        """Indices of every class the unlearned model has forgotten (this request and earlier ones)."""
        return [self.class_names.index(c) for c in self.report["forgotten_total"]]

    def to_row(self) -> dict[str, Any]:
        """What `run_store` keeps of this run: all it measured, not its models."""
        return {
            "id": self.id,
            "setup": self.setup.to_query(),
            "base": self.setup.base.to_dict(),
            "model_name": self.model_name,
            "created": self.created,
            "report": self.report,
            "live": self.live,
            "audits": run_store.json_audits(self.audits),
            "parent": self.parent,
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> RunRecord:
        """A run read back from `run_store` (no models: as a run older than the newest KEEP_MODELS)."""
        setup, problems = Setup.from_query(row["setup"])
        if problems:
            raise ValueError("; ".join(problems))
        base = UnsirConfig.from_dict(row["base"])
        return cls(
            int(row["id"]),
            setup.with_base(base),
            str(row["model_name"]),
            str(row["created"]),
            dict(row["report"]),
            list(row["live"]),
            None,
            dict(row["audits"]),
            None if row["parent"] is None else int(row["parent"]),
        )

    def models(self) -> dict[str, Classifier]:
        """The models still held: original, impair, repair (unlearned) and retrain, by stage."""
        if self.unsir is None:
            return {}
        start = self.unsir.original if self.root is not None else None
        found = {
            "original": self.root or self.unsir.original,
            "start": start,
            "impair": self.unsir.result.impaired,
            "repair": self.unsir.result.model,
            "retrain": self.unsir.retrained,
        }
        return {stage: m for stage, m in found.items() if m is not None}


def ablation_title(ablation: str) -> str:
    """ "no-noise" -> "without noise" (the words before the colon in common.config.ABLATIONS)."""
    from unsir_core.common.config import ABLATIONS

    return ABLATIONS[ablation].partition(":")[0]


def ablation_setup(setup: Setup, ablation: str) -> Setup:
    """`setup` with one part of UNSIR taken out, everything else the same (the same request otherwise)."""
    return setup.with_override("ablation", ablation)


def with_twin(ablation: str) -> tuple[RunRecord | None, RunRecord | None]:
    """The newest full UNSIR run made here, and its newest run with `ablation` (None when not made yet)."""
    made = [r for r in history() if r.live]
    base = next((r for r in reversed(made) if r.ablation == "none"), None)
    if base is None:
        return None, None
    wanted = ablation_setup(base.setup, ablation)
    twin = next((r for r in reversed(made) if r.ablation == ablation and same_request(r.setup, wanted)), None)
    return base, twin


def history() -> list[RunRecord]:
    """The session's runs; at its first call in a session, those saved by an earlier server (`run_store`)."""
    if RUNS not in st.session_state:
        saved = store_path()
        found, problems = run_store.load(saved, RunRecord.from_row) if saved is not None else ([], [])
        for text in problems:
            state.notify("warning", text)
        st.session_state[RUNS] = found
    return st.session_state[RUNS]


def store_path() -> Path | None:
    """Where this session's runs are saved; None where jobs run in the page script (AppTest, or a server started
    with UNSIR_BACKGROUND_JOBS=0): no session link is written there, so nothing could find them again."""
    return None if jobs.inline() else run_store.path_for(jobs.owner())


def latest() -> RunRecord | None:
    runs = history()
    return runs[-1] if runs else None


def add(record: RunRecord) -> None:
    """Append a run; only the newest KEEP_MODELS runs that hold models keep them (sweep runs hold none)."""
    runs = history()
    runs.append(record)
    for old in [r for r in runs if r.unsir is not None][:-KEEP_MODELS]:
        old.unsir = None
    save()


def save() -> None:
    """Write the session's runs to disk (`run_store`), where a session link can find them again."""
    saved = store_path()
    if saved is not None:
        run_store.save(saved, [r.to_row() for r in history()])


def retrain_config(setup: Setup, model: Classifier) -> TrainConfig:
    """The gold standard's training: the original's settings with the setup's seed and epochs."""
    from unsir_core.training.train import gold_standard_config

    return gold_standard_config(model.info, setup.config.seed, setup.retrain_epochs)


def stored_reference(setup: Setup, model: Classifier) -> Path | None:
    """The stored retrained model matching the setup's forget set and retraining settings, if any."""
    from unsir_core.checkpoints import references

    data = loaders.data(setup.dataset)
    gone = set(data.resolve_classes([*setup.forget, *setup.forgotten_before])) | set(model.info.forgotten)
    return references.find(references.ReferenceKey.for_original(model.info, tuple(gone), retrain_config(setup, model)))


def retrain_seconds(setup: Setup, model: Classifier) -> float:
    """Epochs x retain images / the training speed measured on this device (a few timed steps, cached)."""
    cfg = retrain_config(setup, model)
    data = loaders.data(setup.dataset)
    gone = set(data.resolve_classes([*setup.forget, *setup.forgotten_before])) | set(model.info.forgotten)
    images = int((~data.class_mask(data.train_y, sorted(gone))).sum())
    return cfg.epochs * images / loaders.training_speed(setup, cfg.batch_size)


def retrain_estimate(setup: Setup, model: Classifier) -> str:
    """Whether a stored reference makes retraining free; else how long it should take here, in words."""
    from unsir_core.checkpoints import references

    cfg = retrain_config(setup, model)
    found = stored_reference(setup, model)
    if found is not None:
        where = "shipped with the project" if found.parent == references.SHIPPED_DIR else "trained earlier"
        return (
            f"A retrained model with these settings ({cfg.epochs} epochs, seed {cfg.seed}) is in the reference "
            f"store ({where}: {found.name}): every run uses it, no training needed."
        )
    return (
        f"Retraining runs {cfg.epochs} epochs: about {jobs.format_seconds(retrain_seconds(setup, model))} on "
        f"{loaders.device_name()}, judging by {loaders.SPEED_BATCHES} timed training steps. It is trained once "
        "and kept in the reference store for every later run, session and comparison."
    )


def monitor_every(cfg: UnsirConfig, num_classes: int, gone: int, forget: int) -> int:
    """Steps between live accuracy measurements, for about MONITOR_POINTS of them over impair and repair.

    The step count is estimated from the settings (retain subset, noise copies, batch sizes, epochs);
    `gone` counts every class left out of the retain subset, `forget` the classes noise is learned for.
    """
    from unsir_core.common.batches import num_batches

    retain = cfg.retain_per_class * (num_classes - gone)
    impair = cfg.impair.epochs * num_batches(
        retain + cfg.noise.batch_size * forget * cfg.noise_copies, cfg.impair.batch_size
    )
    repair = cfg.repair.epochs * num_batches(retain, cfg.repair.batch_size)
    return max(1, (impair + repair) // MONITOR_POINTS)


def request(setup: Setup) -> None:
    """on_click: run UNSIR on a snapshot of `setup`."""
    after = f" after {', '.join(setup.forgotten_before)}" if setup.chain else ""
    part = setup.config.ablation
    what = f"UNSIR {ablation_title(part)}" if part != "none" else "UNSIR"
    jobs.request("unsir", f"{what}: forget {', '.join(setup.forget)}{after}", setup=setup)


def step_setups(setup: Setup) -> list[Setup]:
    """The setup of each request of a chain, oldest first, ending with `setup` itself."""
    steps = [
        replace(setup, chain=setup.chain[:i], forget=s.forget, preset=s.preset, overrides=s.overrides, retrain=False)
        for i, s in enumerate(setup.chain)
    ]
    return [*steps, setup]


def same_request(a: Setup, b: Setup) -> bool:
    """Whether two setups make the same unlearned model: the same request, preset and changes (the base
    settings follow from them through the recipe; the gold standard aside)."""

    def key(s: Setup) -> Setup:
        return replace(s, base=UnsirConfig(), retrain=False, retrain_epochs=0)

    return key(a) == key(b)


def find(setup: Setup, among: list[RunRecord] | None = None) -> RunRecord | None:
    """The newest run of this session (or of `among`, a snapshot of it) that made `setup`'s request and still
    holds its models."""
    held = history() if among is None else among
    return next((r for r in reversed(held) if r.unsir is not None and same_request(r.setup, setup)), None)


def start_demo() -> None:
    """on_click of the guided demo: the embedded default setup with DEMO_FORGET, then a run."""
    demo = Setup.fresh().with_value("forget", DEMO_FORGET)
    state.set_setup(demo)
    request(demo)


def execute() -> None:
    """Run the requested UNSIR job, if any, with live progress and a live accuracy chart. The job works on a
    snapshot of the session's runs: it may run on the server's queue, away from the session."""
    held = list(history())
    jobs.execute("unsir", lambda job, progress: _work(job, progress, held), _commit, chart="accuracy")


def recipe(setup: Setup, data: ImageData, model: Classifier) -> Recipe:
    """The setup's preset, or the auto recipe for its data, model and forget classes (unknown names are left to
    the forget-class checks of the pages). A chained request's recipe is for the model it starts from, when
    this session holds it."""
    from unsir_core.algorithm.request import resolve_recipe

    start = starting_model(setup) if setup.chain else None
    forget = [c for c in setup.forget if c in data.class_names]
    return resolve_recipe(data, (start or model).info, forget, setup.preset, {})


def starting_model(setup: Setup) -> Classifier | None:
    """The model a request starts from: the setup's checkpoint, or for a chained request the session's
    unlearned model of its earlier requests (None when this session does not hold it)."""
    if not setup.chain:
        return loaders.model(setup)
    parent = find(step_setups(setup)[-2])
    return parent.unsir.result.model if parent is not None else None


def _work(job: jobs.Job, progress: Recorder, held: list[RunRecord]) -> list[RunRecord]:
    """The requested run, preceded by the earlier requests of its chain that the session's runs `held` lack."""
    setup: Setup = job.params["setup"]
    steps = step_setups(setup)
    done = next((i for i in range(len(steps) - 1, 0, -1) if find(steps[i - 1], held) is not None), 0)
    parent = find(steps[done - 1], held) if done else None
    next_id = (held[-1].id if held else 0) + 1
    made: list[RunRecord] = []
    for step in steps[done:]:
        parent = _one(step, parent, next_id + len(made), progress)
        made.append(parent)
    return made


def warm_run(setup: Setup, progress: Recorder) -> RunRecord:
    """A run that no session keeps: the server's warm-up (`studio.warmup`)."""
    return _one(setup, None, 0, progress)


def _one(setup: Setup, parent: RunRecord | None, record_id: int, progress: Recorder) -> RunRecord:
    """One request: from the setup's checkpoint, or from `parent`'s unlearned model for a chained one."""
    from unsir_core.algorithm.request import UnlearningRequest, resolve_recipe, run_request
    from unsir_core.checkpoints.lineage import chain

    data = loaders.data(setup.dataset)
    checkpoint = loaders.model(setup)
    model = parent.unsir.result.model if parent is not None else checkpoint
    forget = data.forget_classes(setup.forget, model.info.forgotten)
    overrides = dict(setup.overrides)
    setup = setup.with_base(resolve_recipe(data, model.info, setup.forget, setup.preset, {}).config)
    # the gold standard comes along whenever it costs nothing (a stored reference) or was asked for
    wanted = setup.retrain or stored_reference(setup, checkpoint) is not None
    every = monitor_every(setup.config, data.num_classes, len(set(forget) | set(model.info.forgotten)), len(forget))
    progress.samples.clear()  # the live chart of a chain shows the request running now
    request = UnlearningRequest(
        checkpoint,
        data,
        tuple(setup.forget),
        setup.preset,
        overrides,
        checkpoint=loaders.model_path(setup),
        start=model if parent is not None else None,
        parent=f"run {parent.id}" if parent is not None else "",
        earlier=tuple(chain(parent.report)) if parent is not None else None,
        retrain=retrain_config(setup, checkpoint) if wanted else None,
        retrain_estimate_s=None if wanted else retrain_seconds(setup, checkpoint),
        monitor_every=every,
    )
    run = run_request(request, loaders.device(), progress=progress, load=loaders.load_checkpoint)
    return RunRecord(
        record_id,
        setup,
        loaders.model_path(setup).name,
        time.strftime("%H:%M:%S"),
        run.to_json(),
        list(progress.samples),
        run,
        parent=parent.id if parent is not None else None,
        root=run.root,
    )


def _commit(made: list[RunRecord], samples: list[dict[str, Any]]) -> str:
    for record in made:
        add(record)
    record = made[-1]
    m = record.metrics
    first = f"Runs {made[0].id}-{made[-2].id} re-made the earlier requests of the chain. " if len(made) > 1 else ""
    if record.report["degraded"]:
        state.notify(
            "error",
            f"Run {record.id} is degraded and is not a finished model. {record.report['repair_check']['message']}",
        )
    return (
        f"{first}Run {record.id} finished in {record.report['timings_s']['unlearn']:.2f} s of unlearning: "
        f"A_Df {pct(m['original']['forget_acc'])} → {pct(m['repair']['forget_acc'])}, "
        f"A_Dr {pct(m['original']['retain_acc'])} → {pct(m['repair']['retain_acc'])}."
    )
