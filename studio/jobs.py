"""Long jobs (training, noise, UNSIR runs, comparisons, sweeps, audits) with live progress.

A UNSIR run, a comparison and a What-if sweep (BACKGROUND) belong to the session, not to the page script: the
first run after the click hands them to the server's queue (`studio.job_queue`), which runs each on its own
thread, one at a time on the device. The user can visit other pages, close the tab or open the link again (the
session token rides in the URL, `token`): every page's sidebar shows the job (`sidebar_status`), its page draws
the live chart from the events stored on the job (`execute`, a fragment that polls), and the first run of the
session after the job ended commits its result there (`collect`). Cancel is a button; navigation never stops a
background job.

The other jobs (training, noise preview, audits) read the session's runs while they work, so they run in the
page script as before: a button's on_click `request`s a job; on the rerun every input renders disabled
(`busy()`), then `execute` runs the work with a progress callback that draws at most every DRAW_INTERVAL_S; any
click stops that script run at its next st.* call, which unwinds the work on its copy of the model and releases
the device lock, and the next run finds the job still marked (`claim`) and reports it stopped. Under AppTest
(no browser polls a fragment) every job runs that way, so the tests drive the pages end to end.

Either way the work changes no session state; `commit` stores the result only after it completed, so a session
is either fully updated or untouched.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import streamlit as st
from streamlit.runtime.state.common import TESTING_KEY

from unsir_core.common.errors import UnsirError
from unsir_core.common.escaping import md

from . import charts
from .job_queue import CANCELLED, DONE, QUEUE, RUNNING, SERVER, WAITING, QueuedJob, Recorder
from .state import notify

JOB = "job"
TOKEN = "session"  # query parameter of the session token: opening the link again finds the session's jobs
TOKEN_KEY = "jobs:token"
XSRF_COOKIE = "_streamlit_xsrf"  # set once per browser by the server (a session cookie): outlives a closed tab
ADMIN = "admin"  # query parameter of the lecturer's token (printed by the server at its first page load)
ADMIN_KEY = "jobs:admin"
ADMIN_TOKEN = secrets.token_urlsafe(16)  # new at every server start
BACKGROUND_SWITCH = "UNSIR_BACKGROUND_JOBS"  # environment variable: "0" runs every job in the page script
BACKGROUND = ("unsir", "compare", "sweep")  # kinds whose work reads no session state: they run on the queue
# Seconds between two draws of the progress bar and live chart. Each draw rebuilds a plotly figure that the
# browser renders on the same cores as torch: the guided demo in chromium (2 cores, warm runs) took 8.9 s of
# unlearning drawing every 0.3 s and 5.6 s drawing every 1.0 s (click to result 11.4 s -> 7.9 s). Background
# jobs are polled at the same interval.
DRAW_INTERVAL_S = 1.0
SIDEBAR_POLL_S = 2.0  # seconds between two redraws of the sidebar's job panel: a bar and a line need no more
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
    """on_click of a start button: ask for a job; it starts on the rerun this click causes."""
    st.session_state[JOB] = Job(kind, title, params)


def claim() -> None:
    """At the start of every run: keep the job this run's click requested, drop one left over.

    A job is claimed by the first run after its request, which clears it when the job ends (or hands it to the
    queue). If that run was stopped by a click (Cancel, another page) the job is still marked at the next run:
    it is dropped there and reported, so the inputs never stay disabled.
    """
    job = st.session_state.get(JOB)
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


def inline() -> bool:
    """Whether jobs run in the page script: under AppTest, where no browser polls a fragment, or when the server
    was started with UNSIR_BACKGROUND_JOBS=0."""
    return TESTING_KEY in st.session_state or os.environ.get(BACKGROUND_SWITCH, "1") == "0"


def token() -> str:
    """This session's token: from the link when it carries a valid one (the same tab reopened), else new."""
    if TOKEN_KEY not in st.session_state:
        given = st.query_params.get(TOKEN, "")
        st.session_state[TOKEN_KEY] = given if re.fullmatch(r"[0-9a-f]{32}", given) else uuid.uuid4().hex
    return st.session_state[TOKEN_KEY]


def owner() -> str:
    """The key of this session's jobs on the queue: the link's token, bound to this browser by Streamlit's XSRF
    cookie, so that the link shared with someone else (another browser) does not show or collect them."""
    return f"{token()}:{hashlib.sha256(browser_secret(st.context.cookies.get(XSRF_COOKIE, ''))).hexdigest()[:16]}"


def browser_secret(cookie: str) -> bytes:
    """The browser's secret in the XSRF cookie: tornado writes "2|mask|masked token|time" with a new mask at
    every page load, so the token is unmasked (byte-wise XOR with the 4-byte mask); another format as it is."""
    try:
        version, mask, masked, _ = cookie.split("|")
        key, data = bytes.fromhex(mask), bytes.fromhex(masked)
    except ValueError:
        return cookie.encode()
    if version != "2" or len(key) != 4:
        return cookie.encode()
    return bytes(b ^ key[i % 4] for i, b in enumerate(data))


def url_query() -> dict[str, str]:
    """The token for the address bar (not under AppTest, whose jobs live in the page script)."""
    return {} if inline() else {TOKEN: token()}


def start() -> None:
    """On every run, before the URL is rewritten: read the token and the lecturer's admin token from the link."""
    token()
    if ADMIN_KEY not in st.session_state:
        given = st.query_params.get(ADMIN, "")
        st.session_state[ADMIN_KEY] = hmac.compare_digest(given, ADMIN_TOKEN)


def is_admin() -> bool:
    """The lecturer: a browser on the server's own computer, or a session opened with the admin token."""
    return bool(st.session_state.get(ADMIN_KEY)) or (not inline() and st.context.ip_address is None)


_announced = False


def announce_admin(port: int) -> None:
    """Print the lecturer's link to the server's log once per server process."""
    global _announced
    if not _announced:
        _announced = True
        print(
            f"UNSIR Studio: to cancel any session's job from another computer, open "
            f"http://<this computer>:{port}/?{ADMIN}={ADMIN_TOKEN}",
            file=sys.stderr,
            flush=True,
        )


def queued() -> QueuedJob | None:
    """This session's job on the server's queue, running, waiting or finished but not yet collected."""
    return None if inline() else QUEUE.current(owner())


def active() -> Job | None:
    mine = queued()
    if mine is not None and not mine.finished:
        return mine.spec
    return st.session_state.get(JOB)


def busy() -> bool:
    """True while a job runs: every input of every page is disabled."""
    return active() is not None


def collect() -> None:
    """At the start of every run: commit this session's finished background job, with its notice."""
    if inline():
        return
    job = QUEUE.pop_finished(owner())
    if job is None:
        return
    if job.outcome == DONE and job.commit is not None:
        notify("success", job.commit(job.result, job.recorder.samples))
    elif job.outcome == CANCELLED:
        notify("warning", f"{job.title} was cancelled before it finished; nothing was changed.")
    else:
        notify("error", job.error)


def format_seconds(s: float) -> str:
    return f"{s:.1f} s" if s < 60 else f"{int(s // 60)} min {int(s % 60):02d} s"


def queue_text(job: QueuedJob) -> str:
    """Where a waiting job stands: how many ahead, what runs now, when it should start."""
    ahead = QUEUE.ahead(job)
    if not ahead:
        return "Waiting for the device…"
    running = next((j for j in ahead if j.outcome == RUNNING), ahead[0])
    starts = QUEUE.starts_in(job)
    when = (
        "an ETA once a first job of each kind has finished"
        if starts is None
        else f"starts in about {format_seconds(starts)}"
    )
    return f"Waiting: {len(ahead)} ahead · running now: {running.title} · {when}"


class ProgressView:
    """Draws a job's progress: a bar with phase, step and time left, and an optional live chart."""

    def __init__(self, title: str, chart: str | None):
        box = st.container(border=True)
        head, stop = box.columns([6, 1], vertical_alignment="center")
        head.markdown(f"**{md(title)}**")
        stop.button(
            "Cancel",
            key="job-cancel",
            icon=":material/stop_circle:",
            width="stretch",
            on_click=cancel_own,  # a background job stops at its next step; an inline one by this click's rerun
            help="Stop the job. Nothing is changed: results are kept only when a job completes.",
        )
        self.bar = box.progress(0.0, text="Starting…")
        self.chart = box.empty() if chart else None
        self.kind = chart
        self.points = 0  # chart points drawn so far
        self.draws = 0

    def show(self, rec: Recorder) -> None:
        """Draw the recorder's latest event, and the chart when it has new points (a figure costs ~40 ms)."""
        ev = rec.last
        if ev is None:
            return
        left = ev.elapsed_s / ev.step * (ev.total - ev.step) if ev.step else 0.0
        loss = f" · loss {ev.loss:.3f}" if ev.loss is not None else ""
        self.bar.progress(
            min(ev.step / ev.total, 1.0),
            text=f"{PHASES.get(ev.phase, ev.phase)} · step {ev.step} of "
            f"{ev.total} · {format_seconds(left)} left in this phase{loss}",
        )
        samples = list(rec.samples)
        points = sum(1 for s in samples if (len(s) > 4 if self.kind == "accuracy" else s["loss"] is not None))
        if self.chart is not None and points != self.points:
            self.points = points
            self.draws += 1
            self.chart.plotly_chart(charts.live(samples, self.kind), width="stretch", key=f"job-chart-{self.draws}")

    def waiting(self, text: str = "Waiting for the device: another session is running a job…") -> None:
        self.bar.progress(0.0, text=text)


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
    work: Callable[[Job, Recorder], T],
    commit: Callable[[T, list[dict]], str],
    chart: str | None = None,
    make_view: Callable[[Job], ProgressView] | None = None,
) -> None:
    """Start the requested job if it is of `kind`, and draw this session's job of `kind` while it runs.

    `work(job, progress)` must change no session state (a background job's runs on another thread);
    `commit(result, samples)` stores the result and returns the success message. An UnsirError is shown as
    an error and nothing is stored. `make_view(job)` makes the view of a job that draws its own progress.
    """
    job = st.session_state.get(JOB)
    requested = job is not None and job.kind == kind
    if kind in BACKGROUND and not inline():
        if requested:
            st.session_state[JOB] = None
            try:
                QUEUE.submit(owner(), kind, job.title, lambda rec: work(job, rec), commit, job)
            except UnsirError as err:
                notify("error", str(err))
        mine = queued()
        if mine is not None and mine.kind == kind:
            _poll(mine.id, chart, make_view)
        return
    if requested:
        _run_inline(job, work, commit, chart, make_view)


def _run_inline(job: Job, work: Callable, commit: Callable, chart: str | None, make_view: Callable | None) -> None:
    view = make_view(job) if make_view is not None else ProgressView(job.title, chart)
    drawn = [0.0]

    def draw(rec: Recorder) -> None:
        now = time.perf_counter()
        if now - drawn[0] >= DRAW_INTERVAL_S or rec.last.step >= rec.last.total:
            drawn[0] = now
            view.show(rec)

    rec = Recorder(draw)
    try:
        with device_lock(view):
            result = work(job, rec)
        notify("success", commit(result, rec.samples))
    except UnsirError as err:
        notify("error", str(err))
    st.session_state[JOB] = None
    st.rerun()


@st.fragment(run_every=DRAW_INTERVAL_S)
def _poll(job_id: int, chart: str | None, make_view: Callable[[Job], ProgressView] | None) -> None:
    """The live view of this session's background job, redrawn every DRAW_INTERVAL_S; a full rerun (which
    collects the result) once it ended."""
    mine = queued()
    if mine is None or mine.id != job_id or mine.finished:
        st.rerun()
    view = make_view(mine.spec) if make_view is not None else ProgressView(mine.title, chart)
    if mine.recorder.cancel.is_set():
        view.waiting("Cancelling: the job stops at its next step…")
    elif mine.outcome == WAITING:
        view.waiting(queue_text(mine))
    else:
        view.show(mine.recorder)


def cancel_own() -> None:
    """on_click of Cancel: stop this session's background job."""
    mine = queued()
    if mine is not None:
        QUEUE.cancel(mine.id)


def fraction(job: QueuedJob) -> float:
    """How far a job is: the sweep's runs done, else the current phase's steps."""
    ev = job.recorder.outer or job.recorder.last
    return 0.0 if ev is None or job.outcome == WAITING else min(ev.step / ev.total, 1.0)


def status_text(job: QueuedJob) -> str:
    """One line on a job of the queue: what it is doing and how long it should still take."""
    if job.recorder.cancel.is_set():
        return "cancelling…"
    if job.outcome == WAITING:
        return queue_text(job)
    ev, left = job.recorder.last, QUEUE.time_left(job)
    doing = f"{PHASES.get(ev.phase, ev.phase)} {ev.step}/{ev.total}" if ev is not None else "starting"
    return f"running: {doing}" + (f" · about {format_seconds(left)} left" if left is not None else "")


def sidebar_status() -> None:
    """In the sidebar of every page, while the device has work: this session's job and its place in line, and
    for the lecturer every job with a Cancel button. Polls while there is something to show."""
    if inline() or (queued() is None and not QUEUE.line()):
        return
    with st.sidebar:
        _queue_panel()


@st.fragment(run_every=SIDEBAR_POLL_S)
def _queue_panel() -> None:
    mine = queued()
    if mine is not None and mine.finished:
        st.rerun()  # a full run collects it
    line = QUEUE.line()
    st.markdown("##### Jobs")
    if mine is not None:
        st.progress(fraction(mine), text=f"**Yours:** {md(mine.title)}")
        st.caption(md(status_text(mine)))
    others = [j for j in line if j is not mine]
    if not others:
        return
    st.caption(f"Device queue: {len(line)} job(s), one at a time.")
    admin = is_admin()
    for job in others:
        text, stop = st.columns([4, 1], vertical_alignment="center") if admin else (st.container(), None)
        text.caption(
            f"{md(job.title)} ({'server' if job.owner == SERVER else 'another session'}): {md(status_text(job))}"
        )
        if stop is not None:
            stop.button(
                "",
                key=f"admin-cancel-{job.id}",
                icon=":material/stop_circle:",
                on_click=QUEUE.cancel,
                args=(job.id,),
                help="Cancel this job (you started the server).",
            )
