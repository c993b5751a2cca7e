"""The server's queue of background jobs: one device, one job at a time, in the order they were started.

A job belongs to a session token (`studio.jobs.token`), not to a page script: it runs on its own thread, so its
user can visit other pages, close the tab or open the link again while it runs. Its progress events are kept on
its `Recorder` for any page to draw, and its result waits on the queue until a session with its token collects
it (`pop_finished`). Jobs wait in line for the device (DEVICE_LOCK, which page-script work such as GradCAM also
takes); every session can see the line, and the ETA comes from the measured durations of earlier jobs of the
same kind and the step times of the running one. Nothing here is written to disk: a server restart loses the
jobs in the line, never a finished result already collected into its session or a cache.

No Streamlit in here (the page side is `studio.jobs`), and no torch until a job takes the device lock.
"""

from __future__ import annotations

import itertools
import logging
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from unsir_core.common.errors import UnsirError

if TYPE_CHECKING:
    from unsir_core.common.progress import ProgressEvent

log = logging.getLogger(__name__)

SERVER = "server"  # owner of the server's own jobs (the warm-up): dropped when they finish, never collected
KEEP_FINISHED_S = 3600.0  # a finished job nobody collected (its tab closed for good) is dropped after an hour
TYPICAL_OF = 5  # a kind's expected duration is the median of its last five measured durations
OUTER_PHASES = ("sweep",)  # phases whose events count whole runs of a job (the sweep's cells), not steps
WAITING, RUNNING, DONE, FAILED, CANCELLED = "waiting", "running", "done", "failed", "cancelled"


class Cancelled(BaseException):
    """Raised inside a job's work at its next progress event after Cancel. A BaseException, so that no engine
    `except Exception` (a sweep cell, one compared method) takes it for the failure of that step alone."""


class Recorder:
    """A job's progress callback: keeps every event (pages draw them) and the live-chart samples, and stops
    the work at its next event once the job is cancelled. `on_event(recorder)` draws in place (inline jobs)."""

    def __init__(self, on_event: Callable[[Recorder], None] | None = None):
        self.events: list[ProgressEvent] = []
        self.times: list[float] = []  # time.perf_counter() at each event
        self.samples: list[dict[str, Any]] = []  # phase, step, total, loss and live metrics of every event
        self.outer: ProgressEvent | None = None  # the last event of an OUTER_PHASES phase
        self.cancel = threading.Event()
        self.on_event = on_event

    def __call__(self, ev: ProgressEvent) -> None:
        if self.cancel.is_set():
            raise Cancelled
        self.times.append(time.perf_counter())
        self.events.append(ev)
        self.samples.append({"phase": ev.phase, "step": ev.step, "total": ev.total, "loss": ev.loss, **ev.metrics})
        if ev.phase in OUTER_PHASES:
            self.outer = ev
        if self.on_event is not None:
            self.on_event(self)

    @property
    def last(self) -> ProgressEvent | None:
        return self.events[-1] if self.events else None

    def time_left(self) -> float | None:
        """Seconds left by the measured step times: of the whole sweep once a cell finished, else of the phase."""
        ev = self.outer or self.last
        if ev is None or ev.step == 0:
            return None
        return ev.elapsed_s / ev.step * (ev.total - ev.step)


@dataclass(eq=False)
class QueuedJob:
    id: int  # unique in this server process
    owner: str  # the session token that started it (SERVER for the warm-up)
    kind: str  # "unsir", "compare", "sweep", ...
    title: str  # shown in the queue, the sidebar and the notices
    work: Callable[[Recorder], Any]  # the job itself: runs on the job's thread, must not touch session state
    commit: Callable[[Any, list[dict[str, Any]]], str] | None  # stores the result in the collecting session
    spec: Any = None  # what the page asked for (a studio.jobs.Job)
    recorder: Recorder = field(default_factory=Recorder)
    queued_at: float = field(default_factory=time.time)
    started_at: float | None = None  # when it took the device
    finished_at: float | None = None
    outcome: str = WAITING  # WAITING, RUNNING, DONE, FAILED or CANCELLED
    result: Any = None  # work's return value, once DONE
    error: str = ""  # why it FAILED, in words

    @property
    def finished(self) -> bool:
        return self.outcome in (DONE, FAILED, CANCELLED)


class JobQueue:
    """The line of jobs for the device; `lock` is the device lock (DEVICE_LOCK when None, imported on first use)."""

    def __init__(self, lock: Any = None):
        self.lock = lock
        self.cond = threading.Condition()
        self.jobs: list[QueuedJob] = []  # unfinished jobs in the order they were started, then finished ones
        self.durations: dict[str, list[float]] = {}  # measured seconds on the device, per kind
        self.ids = itertools.count(1)

    def submit(
        self,
        owner: str,
        kind: str,
        title: str,
        work: Callable[[Recorder], Any],
        commit: Callable[[Any, list[dict[str, Any]]], str] | None,
        spec: Any = None,
    ) -> QueuedJob:
        """Put a job in line and start its thread; UnsirError when `owner` already has one unfinished."""
        with self.cond:
            self._drop_stale()
            mine = self.current(owner)
            if mine is not None and not mine.finished and owner != SERVER:
                raise UnsirError(f"{mine.title} is still {mine.outcome}: wait for it or cancel it first.")
            job = QueuedJob(next(self.ids), owner, kind, title, work, commit, spec)
            self.jobs.append(job)
        threading.Thread(target=self._run, args=(job,), name=f"job-{job.id}-{kind}", daemon=True).start()
        return job

    def current(self, owner: str) -> QueuedJob | None:
        """The newest job of `owner` still on the queue (unfinished, or finished and not collected)."""
        with self.cond:
            return next((j for j in reversed(self.jobs) if j.owner == owner), None)

    def line(self) -> list[QueuedJob]:
        """Unfinished jobs, the running one first."""
        with self.cond:
            return [j for j in self.jobs if not j.finished]

    def ahead(self, job: QueuedJob) -> list[QueuedJob]:
        """The unfinished jobs that will use the device before `job`."""
        line = self.line()
        return line[: line.index(job)] if job in line else []

    def pop_finished(self, owner: str) -> QueuedJob | None:
        """Take `owner`'s finished job off the queue, to commit it in the session that collects it."""
        with self.cond:
            job = next((j for j in self.jobs if j.owner == owner and j.finished), None)
            if job is not None:
                self.jobs.remove(job)
            return job

    def cancel(self, job_id: int) -> None:
        """Stop a job: a waiting one leaves the line, a running one stops at its next progress event."""
        with self.cond:
            for job in self.jobs:
                if job.id == job_id:
                    job.recorder.cancel.set()
            self.cond.notify_all()

    def typical(self, kind: str) -> float | None:
        """Median measured duration of the last TYPICAL_OF jobs of `kind`; None before the first finished."""
        measured = self.durations.get(kind, [])[-TYPICAL_OF:]
        return statistics.median(measured) if measured else None

    def time_left(self, job: QueuedJob) -> float | None:
        """Seconds `job` still needs the device: once a sweep finished a cell, what its pace says is left; else the
        longer of its kind's typical duration less the time it has run and what its step times say is left of
        the phase; None when neither is known yet."""
        typical = self.typical(job.kind)
        if job.outcome == WAITING:
            return typical
        if job.recorder.outer is not None:  # a sweep with a finished cell: its own pace beats other sweeps' sizes
            return job.recorder.time_left()
        ran = time.time() - (job.started_at or time.time())
        guesses = [g for g in (None if typical is None else typical - ran, job.recorder.time_left()) if g is not None]
        return max(0.0, *guesses) if guesses else None

    def starts_in(self, job: QueuedJob) -> float | None:
        """Seconds until `job` gets the device (the time left of every job ahead); None when one is unknown."""
        left = [self.time_left(j) for j in self.ahead(job)]
        return None if any(t is None for t in left) else sum(left)

    def _drop_stale(self) -> None:
        now = time.time()
        self.jobs = [j for j in self.jobs if not (j.finished and now - (j.finished_at or now) > KEEP_FINISHED_S)]

    def _device_lock(self) -> Any:
        if self.lock is None:
            from unsir_core.common.device import DEVICE_LOCK  # imports torch: only when a job runs

            self.lock = DEVICE_LOCK
        return self.lock

    def _wait_turn(self, job: QueuedJob) -> bool:
        """Wait until `job` heads the line and holds the device lock; False when it was cancelled meanwhile."""
        with self.cond:
            while self.line()[0] is not job:
                if job.recorder.cancel.is_set():
                    return False
                self.cond.wait(0.5)
        lock = self._device_lock()
        while not lock.acquire(timeout=0.5):  # page-script work (GradCAM, an inline job) may hold it
            if job.recorder.cancel.is_set():
                return False
        return True

    def _run(self, job: QueuedJob) -> None:
        held = False
        try:
            held = self._wait_turn(job)
            if not held:
                raise Cancelled
            job.started_at, job.outcome = time.time(), RUNNING
            job.result = job.work(job.recorder)
            job.outcome = DONE
        except Cancelled:
            job.outcome = CANCELLED
        except UnsirError as err:
            job.outcome, job.error = FAILED, str(err)
        except Exception as err:  # a bug must end the job with a message, not leave it "running" for ever
            log.exception("job %s (%s) failed", job.id, job.title)
            job.outcome = FAILED
            job.error = (
                f"{job.title} failed unexpectedly ({type(err).__name__}: {err}); nothing was changed. "
                "The server's log has the details."
            )
        finally:
            if held:
                self.lock.release()
            with self.cond:
                job.finished_at = time.time()
                if job.outcome == DONE and job.started_at is not None:
                    self.durations.setdefault(job.kind, []).append(job.finished_at - job.started_at)
                if job.owner == SERVER:
                    self.jobs.remove(job)
                self.cond.notify_all()


QUEUE = JobQueue()  # the one queue of this server process, shared by every browser session
