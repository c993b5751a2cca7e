"""Long jobs (training, noise, UNSIR runs, audits) run in the page script with live progress.

Why in the script and not in a background thread: AppTest can drive it end to end, and Streamlit's
own rerun is the cancel mechanism. A button's on_click `request`s a job; on the rerun every input
renders disabled (`busy()`), then `execute` runs the work with a progress callback that draws at
most every DRAW_INTERVAL_S. Any click (Cancel, another page) stops that script run at its next
st.* call: Streamlit raises inside the progress callback, which unwinds the work on its copy of the
model and releases the device lock, and starts the next run at once on a new thread. That next run
finds the job still marked (`claim`) and reports it stopped. The work commits only after it
returned, with no st.* call in between, so session state is either fully updated or untouched; a
stopped run writes nothing. DEVICE_LOCK serialises accelerator work across browser sessions.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TypeVar

import streamlit as st

from unsir_core.common.errors import UnsirError
from unsir_core.common.escaping import md

from . import charts
from .state import notify

if TYPE_CHECKING:
    from unsir_core.common.progress import ProgressEvent

JOB = "job"
# Seconds between two draws of the progress bar and live chart. Each draw rebuilds a plotly figure that the
# browser renders on the same cores as torch: the guided demo in chromium (2 cores, warm runs) took 8.9 s of
# unlearning drawing every 0.3 s and 5.6 s drawing every 1.0 s (click to result 11.4 s -> 7.9 s).
DRAW_INTERVAL_S = 1.0
PHASES = {
    "train": "Training",
    "noise": "Learning the error-maximizing noise",
    "impair": "Impair",
    "repair": "Repair",
    "repair+": "Extra repair epoch (half the rates)",
    "check": "Repair check on held-out retain images",
    "relearn": "Relearning",
    "mia": "Membership inference",
}

T = TypeVar("T")


@dataclass(frozen=True)
class Job:
    kind: str  # which page function runs it: "unsir", "noise", "train", "relearn", "mia"
    title: str  # shown in the progress box, the sidebar and the notices
    params: dict[str, Any] = field(default_factory=dict)  # a snapshot of what the work needs
    claimed: bool = False  # True once a run started with it pending (see `claim`)


def request(kind: str, title: str, **params: Any) -> None:
    """on_click of a start button: ask for a job; it runs on the rerun this click causes."""
    st.session_state[JOB] = Job(kind, title, params)


def claim() -> None:
    """At the start of every run: keep the job this run's click requested, drop one left over.

    A job is claimed by the first run after its request, which clears it when the job ends. If that
    run was stopped by a click (Cancel, another page) the job is still marked at the next run: it
    is dropped there and reported, so the inputs never stay disabled.
    """
    job = active()
    if job is None:
        return
    if job.claimed:
        st.session_state[JOB] = None
        notify(
            "warning",
            f"{job.title} stopped before it finished (cancelled, or interrupted by a click "
            "elsewhere); nothing was changed.",
        )
    else:
        st.session_state[JOB] = replace(job, claimed=True)


def active() -> Job | None:
    return st.session_state.get(JOB)


def busy() -> bool:
    """True while a job runs: every input of every page is disabled."""
    return active() is not None


def format_seconds(s: float) -> str:
    return f"{s:.1f} s" if s < 60 else f"{int(s // 60)} min {int(s % 60):02d} s"


class ProgressView:
    """Draws a job's ProgressEvents: a bar with phase, step and time left, and an optional live chart."""

    def __init__(self, title: str, chart: str | None):
        box = st.container(border=True)
        head, stop = box.columns([6, 1], vertical_alignment="center")
        head.markdown(f"**{md(title)}**")
        stop.button(
            "Cancel",
            key="job-cancel",
            icon=":material/stop_circle:",
            width="stretch",
            help="Stop the job. Nothing is changed: results are kept only when a job completes.",
        )
        self.bar = box.progress(0.0, text="Starting…")
        self.chart = box.empty() if chart else None
        self.kind = chart
        self.samples: list[dict[str, Any]] = []  # every event: phase, step, total, loss and live metrics
        self.drawn_at = 0.0
        self.new_points = 0  # chart points since the last draw
        self.draws = 0

    def __call__(self, ev: ProgressEvent) -> None:
        self.samples.append({"phase": ev.phase, "step": ev.step, "total": ev.total, "loss": ev.loss, **ev.metrics})
        self.new_points += 1 if (ev.metrics if self.kind == "accuracy" else ev.loss is not None) else 0
        now = time.perf_counter()
        if now - self.drawn_at < DRAW_INTERVAL_S and ev.step < ev.total:
            return
        self.drawn_at = now
        left = ev.elapsed_s / ev.step * (ev.total - ev.step)
        loss = f" · loss {ev.loss:.3f}" if ev.loss is not None else ""
        self.bar.progress(
            min(ev.step / ev.total, 1.0),
            text=f"{PHASES.get(ev.phase, ev.phase)} · step {ev.step} of "
            f"{ev.total} · {format_seconds(left)} left in this phase{loss}",
        )
        if self.chart is not None and self.new_points:  # building a figure costs ~40 ms: only when it changed
            self.new_points = 0
            self.draws += 1
            self.chart.plotly_chart(
                charts.live(self.samples, self.kind), width="stretch", key=f"job-chart-{self.draws}"
            )

    def waiting(self) -> None:
        self.bar.progress(0.0, text="Waiting for the device: another session is running a job…")


@contextmanager
def device_lock(view: ProgressView) -> Iterator[None]:
    """Hold DEVICE_LOCK, drawing a waiting message (a cancel point) while another session has it."""
    from unsir_core.common.device import DEVICE_LOCK  # imports torch: only a job needs it

    while not DEVICE_LOCK.acquire(timeout=0.5):
        view.waiting()
    try:
        yield
    finally:
        DEVICE_LOCK.release()


def execute(
    kind: str,
    work: Callable[[Job, ProgressView], T],
    commit: Callable[[T, list[dict]], str],
    chart: str | None = None,
    make_view: Callable[[Job], ProgressView] | None = None,
) -> None:
    """Run the requested job if it is of `kind`: progress here, `commit` at the end, then rerun.

    `work(job, progress)` must change no session state; `commit(result, samples)` stores the result
    and returns the success message. An UnsirError is shown as an error and nothing is stored.
    `make_view(job)` makes the progress view of a job that draws its own (a ProgressView subclass).
    """
    job = active()
    if job is None or job.kind != kind:
        return
    view = make_view(job) if make_view is not None else ProgressView(job.title, chart)
    try:
        with device_lock(view):
            result = work(job, view)
        notify("success", commit(result, view.samples))
    except UnsirError as err:
        notify("error", str(err))
    st.session_state[JOB] = None
    st.rerun()
