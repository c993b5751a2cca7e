"""The What-if page's workings: the sweep form (with the paper's studies as presets), the sweep job with its live
chart, the paper's table layout, and opening one cell of a sweep as a run on the Results page.

The sweep runs as a background job (`jobs.execute`): it goes on while its user visits other pages, inputs are
disabled while it runs, Cancel stops it, and the result is stored only when it completes. Cells that finished
before a cancel stay in the engine's cell cache, so running the same sweep again only runs the rest.
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from unsir_core.common import strict_json
from unsir_core.common.config import scalar_settings
from unsir_core.common.errors import UnsirError
from unsir_core.common.escaping import csv_text, md
from unsir_core.common.numbers import pct
from unsir_core.data import ImageData
from unsir_core.experiments.studies import STUDIES
from unsir_core.experiments.sweep import SweepResult, mean_by, parquet_available, run_sweep
from unsir_core.experiments.sweep_backends import InProcess
from unsir_core.experiments.sweep_grid import (
    Axis,
    Cell,
    SweepMetrics,
    SweepSpec,
    check_size,
    check_time,
    expand,
    nested_forget_sets,
    parse_ints,
    sweep_seconds,
)
from unsir_core.models.classifier import Classifier

from . import jobs, loaders, runs, state
from .job_queue import Recorder
from .runs import RunRecord
from .setup import KNOBS, Setup
from .sweep_charts import METRIC_TITLES, heatmap, trend, value_text

RESULT = "whatif:result"  # the last finished SweepRun of this session
OPEN = "whatif:open"  # set by a click on a cell: show the Results page on this run
KIND = "sweep"
COUNT = "forget classes"  # the pseudo-setting of paper Table 1: how many classes are forgotten
NONE = ""  # no second setting
CUSTOM = "custom"  # no study preset


@dataclass(frozen=True)
class Layout:
    """How a sweep is drawn: the table column and grid order of each of its (one or two) dimensions."""

    x: str  # column of the first dimension: a setting's dotted name, or "n_forget"
    x_order: tuple[Any, ...]  # its values in grid order
    y: str | None = None  # the second dimension (heat map), if any
    y_order: tuple[Any, ...] = ()

    @classmethod
    def of(cls, spec: SweepSpec) -> Layout:
        dims: list[tuple[str, tuple[Any, ...]]] = [(a.name, a.values) for a in spec.axes]
        if len(spec.forget_sets) > 1:
            dims.insert(0, ("n_forget", tuple(dict.fromkeys(len(f) for f in spec.forget_sets))))
        if not dims:
            dims = [("seed", tuple(spec.seeds))]
        return cls(*dims[0], *(dims[1] if len(dims) > 1 else (None, ())))


@dataclass(frozen=True)
class SweepRun:
    result: SweepResult
    setup: Setup  # the session's setup the sweep started from
    model_name: str  # its checkpoint file
    study: str  # key in STUDIES, or CUSTOM


def label(name: str | None) -> str:
    """How a dimension is called on the page."""
    if name in (COUNT, "n_forget"):
        return "Forgotten classes"
    if name == "seed":
        return "Seed"
    return f"{KNOBS[name].label} ({name})" if name in KNOBS else str(name)


# ------------------------------------------------------------------ the form


def apply_study() -> None:
    """on_change of the study picker: its setting and values into the form."""
    study = STUDIES.get(st.session_state["whatif-study"])
    if study is None:
        return
    st.session_state["whatif-x"] = study.setting or COUNT
    st.session_state["whatif-x-values"] = ", ".join(value_text(v) for v in study.values)
    st.session_state["whatif-y"] = NONE


def form(setup: Setup, data: ImageData, model: Classifier, busy: bool) -> tuple[SweepSpec | None, str]:
    """The inputs of a sweep; returns (the spec, or None when an input is wrong, with the error shown; the study)."""
    if "whatif-study" not in st.session_state:
        st.session_state["whatif-study"] = "table5"
        apply_study()
    settings = [COUNT, *scalar_settings(setup.config)]
    study = st.selectbox(
        "Study",
        [CUSTOM, *STUDIES],
        key="whatif-study",
        on_change=apply_study,
        disabled=busy,
        format_func=lambda k: STUDIES[k].title if k in STUDIES else "Custom",
        help="One of the paper's sensitivity studies (its setting and values), or your own grid.",
    )
    first, second = st.columns(2, border=True)
    with first:
        x = st.selectbox(
            "Setting",
            settings,
            key="whatif-x",
            format_func=label,
            disabled=busy,
            help="The UNSIR setting to vary, by its dotted name; every other setting is the current "
            "setup's. 'Forgotten classes' grows the forget set instead (paper Table 1).",
        )
        x_text = st.text_input(
            "Values", key="whatif-x-values", disabled=busy, help="Comma-separated values, in the order to show them."
        )
    with second:
        y = st.selectbox(
            "Second setting (heat map)",
            [NONE, *settings],
            key="whatif-y",
            disabled=busy,
            format_func=lambda n: "none: a line chart" if n == NONE else label(n),
            help="A second setting makes the chart a heat map over both.",
        )
        y_text = st.text_input(
            "Its values",
            key="whatif-y-values",
            disabled=busy or y == NONE,
            help="Comma-separated values of the second setting.",
        )
    seeds_col, audit_col = st.columns([1, 2], vertical_alignment="bottom")
    seeds_text = seeds_col.text_input(
        "Seeds",
        "0, 1, 2",
        key="whatif-seeds",
        disabled=busy,
        help="Each grid point runs once per seed; the chart's band spans the seeds.",
    )
    with audit_col:
        relearn = st.checkbox(
            "Also measure relearn time (slow)",
            key="whatif-relearn",
            disabled=busy,
            help="Epochs of fine-tuning until each unlearned model recognises the forget classes "
            "again (reads forget-class images, as an audit).",
        )
        privacy = st.checkbox(
            "Also run membership inference",
            key="whatif-privacy",
            disabled=busy,
            help="Entropy and confidence attacks on each unlearned model (reads forget-class "
            "training images, as an audit).",
        )
    if study in STUDIES and (STUDIES[study].setting or COUNT) != x:
        study = CUSTOM  # the grid was changed away from the study's setting: its findings no longer apply
    try:
        spec = build_spec(setup, data, model, [(x, x_text), (y, y_text)], seeds_text, SweepMetrics(relearn, privacy))
    except UnsirError as err:  # a wrong value: say which, keep the page
        st.error(md(err))
        return None, study
    return spec, study


def rebased(setup: Setup, data: ImageData, model: Classifier) -> Setup:
    """The setup on the recipe for its own forget set, as a run from Impair and repair would be."""
    return setup.with_base(runs.recipe(setup, data, model).config)


def build_spec(
    setup: Setup,
    data: ImageData,
    model: Classifier,
    dims: Sequence[tuple[str, str]],
    seeds_text: str,
    metrics: SweepMetrics,
) -> SweepSpec:
    """The sweep of the form: the session's settings for each forget set (the recipe for that set with the user's
    changes) and its forget set, varied along `dims` ((setting, values text))."""
    axes, forget_sets = [], (tuple(setup.forget),)
    for name, text in dims:
        if name == NONE:
            continue
        if name == COUNT:
            forget_sets = nested_forget_sets(data, setup.forget, parse_ints(text, "Forgotten classes"))
        else:
            axes.append(Axis.of(name, text.split(","), setup.config))
    spec = SweepSpec(tuple(axes), forget_sets, tuple(parse_ints(seeds_text, "Seeds")), setup.config, metrics)
    check_size(spec)  # the number of runs, before any recipe or grid is made (this runs on every rerun of the page)
    bases = tuple((f, rebased(setup.with_value("forget", f), data, model).config) for f in forget_sets)
    spec = replace(spec, bases=bases)
    cells = expand(spec, data)  # every value checked now, not when the job runs
    speed = loaders.training_speed(setup, spec.base.impair.batch_size)
    check_time(len(cells), sweep_seconds(spec, cells, model, data, speed))  # and their time, at the speed here
    return spec


def cell_setup(run: SweepRun, cell: Cell) -> Setup:
    """The setup of one run of a sweep: the sweep's setup with the run's forget set, values and seed."""
    setup = run.setup.with_value("forget", cell.forget)
    for name, value in (*cell.values, ("seed", cell.seed)):
        setup = setup.with_value(name, value)
    return rebased(setup, loaders.data(setup.dataset), loaders.model(setup))


# ------------------------------------------------------------------ the job


def request(spec: SweepSpec, setup: Setup, study: str) -> None:
    """on_click of Run: the sweep as a job on a snapshot of the setup."""
    cells = len(expand(spec, loaders.data(setup.dataset)))
    jobs.request(
        KIND,
        f"What-if sweep: {cells} runs",
        spec=spec,
        setup=setup,
        study=study,
        model_name=loaders.model_path(setup).name,
    )


def execute() -> None:
    jobs.execute(KIND, _work, _commit, make_view=_view)


def _view(job: jobs.Job) -> SweepView:
    return SweepView(job, expand(job.params["spec"], loaders.data(job.params["setup"].dataset)))


def _work(job: jobs.Job, progress: Recorder) -> SweepRun:
    setup: Setup = job.params["setup"]
    result = run_sweep(
        job.params["spec"],
        loaders.model(setup),
        loaders.data(setup.dataset),
        InProcess(),
        loaders.device(),
        progress=progress,
    )
    return SweepRun(result, setup, job.params["model_name"], job.params["study"])


def _commit(run: SweepRun, samples: list[dict]) -> str:
    st.session_state[RESULT] = run
    r = run.result
    failed = sum("error" in rec for rec in r.records.values())
    return (
        f"Sweep finished: {len(r.records)} runs ({r.ran} run now, {len(r.cached)} from the cache) in "
        f"{r.total_s:.1f} s." + (f" {failed} failed: see the status column." if failed else "")
    )


def latest() -> SweepRun | None:
    return st.session_state.get(RESULT)


def figure(frame: pd.DataFrame, layout: Layout, metric: str) -> go.Figure:
    """The sweep's chart: the trend with seed bands over one dimension, or a heat map of `metric` over two."""
    if layout.y is None:
        return trend(frame, layout.x, layout.x_order, label(layout.x))
    return heatmap(frame, layout.x, layout.x_order, layout.y, layout.y_order, metric, label(layout.x), label(layout.y))


class SweepView(jobs.ProgressView):
    """A sweep's progress: runs done (and from the cache), the running cell and its phase, and the chart filling
    in as cells finish."""

    def __init__(self, job: jobs.Job, cells: Sequence[Cell]):
        super().__init__(job.title, KIND)
        self.cells = list(cells)
        self.layout = Layout.of(job.params["spec"])
        self.metric = st.session_state.get("whatif-metric", "retain_acc_repair")

    def show(self, rec: Recorder) -> None:
        rows: list[dict[str, Any]] = []
        cached, phase = 0, ""
        for ev in list(rec.events):
            if ev.phase != KIND:  # a step of the running cell
                phase = f"{jobs.PHASES.get(ev.phase, ev.phase).lower()} step {ev.step} of {ev.total}"
                continue
            cell = self.cells[int(ev.metrics["cell"])]
            cached += int(ev.metrics["cached"])
            ok = not math.isnan(ev.metrics["forget_acc_repair"])
            rows.append(
                {
                    "cell": cell.index,
                    "n_forget": len(cell.forget),
                    **dict(cell.values),
                    "seed": cell.seed,
                    "status": "ok" if ok else "failed",
                    **{k: v for k, v in ev.metrics.items() if k.startswith(("forget_acc", "retain_acc"))},
                }
            )
            phase = ""
        self.draw(rows, cached, phase, rec)

    def draw(self, rows: list[dict[str, Any]], cached: int, phase: str, rec: Recorder) -> None:
        done, total = len(rows), len(self.cells)
        ran = done - cached
        left = ""
        if ran and done < total and rec.outer is not None:
            left = f" · about {jobs.format_seconds(rec.outer.elapsed_s / ran * (total - done))} left"
        running = f" · run {done + 1}: {md(self.cells[done].label)}" if done < total else ""
        now = f", {phase}" if phase else ""
        self.bar.progress(
            done / total, text=f"{done} of {total} runs done ({cached} from the cache){running}{now}{left}"
        )
        if rows and self.chart is not None and len(rows) != self.points:
            self.points = len(rows)
            self.draws += 1
            self.chart.plotly_chart(
                figure(pd.DataFrame(rows), self.layout, self.metric),
                width="stretch",
                key=f"whatif-live-{self.draws}",
            )


# ------------------------------------------------------------------ results


def paper_table(run: SweepRun, layout: Layout) -> pd.DataFrame:
    """The paper's layout: one row per grid value, A_Df and A_Dr after impair and after repair as mean ± sd over
    seeds, with the published numbers beside them where the study has some for this data set and model."""
    by = [layout.x] + ([layout.y] if layout.y else [])
    stats = mean_by(run.result.frame(), by)
    table = stats[by + ["seeds"]].rename(columns={n: label(n) for n in by})
    for column, title in [*METRIC_TITLES.items(), ("unlearn_s", "unlearning (s)")]:
        unit = "" if column == "unlearn_s" else " (%)"
        table[title + unit] = [
            f"{m:.2f}" if n < 2 else f"{m:.2f} ± {sd:.2f}"
            for m, sd, n in zip(stats[column], stats[column + "_sd"], stats["seeds"])
        ]
    study = STUDIES.get(run.study)
    ref = study.reference_for(run.result.dataset, run.result.arch) if study and study.setting == layout.x else {}
    if ref and layout.y is None:
        for column, title in METRIC_TITLES.items():
            table[f"published: {title} (%)"] = [getattr(ref[v], column) if v in ref else None for v in stats[layout.x]]
    return table


def cell_options(run: SweepRun) -> dict[int, str]:
    """Finished cells by index, with their label and outcome, for the 'open a run' picker."""
    out = {}
    for cell in run.result.cells:
        record = run.result.records.get(cell.index)
        if record is None:
            continue
        if "report" in record:
            m = record["report"]["metrics"]["repair"]
            outcome = f"A_Df {pct(m['forget_acc'])}, A_Dr {pct(m['retain_acc'])}"
        else:
            outcome = "failed"
        out[cell.index] = f"{cell.label} · {outcome}"
    return out


def open_cell(run: SweepRun, index: int) -> None:
    """Add cell `index` to the session's runs (metrics and audits; no models) and show it on the Results page."""
    record = run.result.records.get(index)
    if record is None or "report" not in record:
        state.notify("error", f"That run has no results to show: {record.get('error') if record else 'not run'}.")
        return
    cell = run.result.cells[index]
    setup = cell_setup(run, cell)
    last = runs.latest()
    runs.add(
        RunRecord(
            (last.id if last else 0) + 1,
            setup,
            run.model_name,
            time.strftime("%H:%M:%S"),
            record["report"],
            [],
            None,
            dict(record.get("audits", {})),
        )
    )
    st.session_state["results-run"] = runs.latest().id
    st.session_state[OPEN] = True
    state.notify(
        "info",
        f"Opened one run of the what-if sweep ({cell.label}). A sweep keeps each run's metrics, "
        "not its models: GradCAM and new audits need a run from Impair and repair (use its settings there).",
    )


def on_chart_select(run: SweepRun) -> None:
    """on_select of the chart: open the clicked cell."""
    points = st.session_state["whatif-chart"].selection.points
    picked = [p.get("customdata") for p in points if p.get("customdata") is not None]
    if picked:
        value = picked[0]
        open_cell(run, int(value[0] if isinstance(value, list) else value))


def use_settings(run: SweepRun, index: int) -> None:
    """on_click: make a cell's forget set and settings the session's setup (to run it on Impair and repair)."""
    cell = run.result.cells[index]
    state.set_setup(cell_setup(run, cell))
    state.notify("success", f"The setup now has this run's settings ({cell.label}).")


def downloads(run: SweepRun) -> dict[str, tuple[bytes, str, str]]:
    """Label -> (bytes, file name, MIME type): the table as CSV, JSON and Parquet, and every run's full report."""
    frame = run.result.frame()
    stem = f"whatif-{run.result.dataset}-{run.result.arch}"
    out = {
        "Table (CSV)": (csv_text(frame).encode(), f"{stem}.csv", "text/csv"),
        "Table (JSON)": (frame.to_json(orient="records", indent=2).encode(), f"{stem}.json", "application/json"),
    }
    if parquet_available():
        buf = io.BytesIO()
        frame.to_parquet(buf, index=False)
        out["Table (Parquet)"] = (buf.getvalue(), f"{stem}.parquet", "application/octet-stream")
    reports = [
        {"cell": c.index, "label": c.label, "key": run.result.keys[c.index], **run.result.records[c.index]}
        for c in run.result.cells
        if c.index in run.result.records
    ]
    out["Every run's report (JSON)"] = (strict_json.dumps(reports).encode(), f"{stem}-runs.json", "application/json")
    return out
