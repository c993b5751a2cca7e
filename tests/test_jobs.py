"""The server's job queue (studio/job_queue.py): jobs run on their own threads one at a time in the order they
were started, wait for their owner to collect them, show their place and an ETA, and stop on Cancel."""

from __future__ import annotations

import threading
import time

import pytest

from studio.job_queue import CANCELLED, DONE, FAILED, RUNNING, SERVER, WAITING, JobQueue, Recorder
from studio.jobs import browser_secret
from unsir_core.common.errors import UnsirError
from unsir_core.common.progress import ProgressEvent

WAIT = 20.0  # s: generous on a busy 2-core CPU


def event(step: int, total: int, elapsed: float, phase: str = "impair") -> ProgressEvent:
    return ProgressEvent(phase, step, total, 0.5, elapsed)


def until(check, timeout: float = WAIT) -> None:
    deadline = time.time() + timeout
    while not check():
        assert time.time() < deadline, "timed out"
        time.sleep(0.01)


def gated(gate: threading.Event, result: str = "done", steps: int = 0):
    """Work that reports `steps` events, then waits for `gate` (reporting while it waits: a cancel point)."""

    def work(progress: Recorder) -> str:
        for i in range(1, steps + 1):
            progress(event(i, 10, 0.1 * i))
        while not gate.wait(0.01):
            progress(event(steps + 1, 10, 0.1 * (steps + 1)))
        return result

    return work


@pytest.fixture
def queue():
    return JobQueue(threading.Lock())


def test_a_job_runs_on_its_own_thread_and_waits_for_its_owner(queue):
    job = queue.submit("alice", "unsir", "UNSIR: forget star", lambda progress: 42, None)
    until(lambda: job.finished)
    assert job.outcome == DONE and job.result == 42
    assert queue.pop_finished("bob") is None  # another session never collects it
    assert queue.current("alice") is job and queue.pop_finished("alice") is job
    assert queue.current("alice") is None and queue.typical("unsir") is not None


def test_jobs_take_the_device_one_at_a_time_in_the_order_started(queue):
    gate_a, gate_b = threading.Event(), threading.Event()
    a = queue.submit("alice", "unsir", "A", gated(gate_a, steps=3), None)
    until(lambda: a.outcome == RUNNING)
    b = queue.submit("bob", "sweep", "B", gated(gate_b), None)
    time.sleep(0.3)
    assert b.outcome == WAITING and queue.ahead(b) == [a] and queue.line() == [a, b]
    # no finished job of its kind yet: the ETA is what the running job's step times say is left of its phase
    assert queue.starts_in(b) == pytest.approx(0.4 / 4 * 6, abs=0.01)
    gate_b.set()  # B's work may end, but it cannot run before A ends
    time.sleep(0.3)
    assert b.outcome == WAITING
    gate_a.set()
    until(lambda: b.finished)
    assert a.finished_at <= b.started_at and (a.outcome, b.outcome) == (DONE, DONE)


def test_the_eta_uses_the_measured_duration_of_the_kind(queue):
    queue.durations["unsir"] = [30.0, 10.0, 20.0]
    gate = threading.Event()
    a = queue.submit("alice", "unsir", "A", gated(gate), None)
    until(lambda: a.outcome == RUNNING)
    b = queue.submit("bob", "unsir", "B", gated(gate), None)
    c = queue.submit("carol", "compare", "C", gated(gate), None)
    assert 19.0 < queue.starts_in(b) <= 20.0  # the median of 10, 20, 30 less the time A has run
    assert 39.0 < queue.starts_in(c) <= 40.0  # and B's whole typical duration
    gate.set()


def test_cancel_stops_a_running_job_at_its_next_event_and_a_waiting_one_before_it_starts(queue):
    never = threading.Event()
    caught: list[BaseException] = []

    def swallowing(progress: Recorder) -> None:  # like a sweep cell: `except Exception` must not take a cancel
        while True:
            try:
                progress(event(1, 10, 0.1))
            except Exception as err:
                caught.append(err)
            time.sleep(0.01)

    a = queue.submit("alice", "sweep", "A", swallowing, None)
    b = queue.submit("bob", "unsir", "B", gated(never), None)
    until(lambda: a.outcome == RUNNING)
    queue.cancel(b.id)
    until(lambda: b.finished)
    assert b.outcome == CANCELLED and b.started_at is None and a.outcome == RUNNING
    queue.cancel(a.id)
    until(lambda: a.finished)
    assert a.outcome == CANCELLED and not caught and not queue.lock.locked()
    assert "sweep" not in queue.durations  # a cancelled job says nothing about how long one takes


def test_a_failed_job_says_why_and_frees_the_device(queue):
    def refused(progress: Recorder) -> None:
        raise UnsirError("The forget set is empty: choose a class.")

    def bug(progress: Recorder) -> None:
        raise KeyError("oops")

    a = queue.submit("alice", "unsir", "A", refused, None)
    b = queue.submit("bob", "unsir", "UNSIR: forget star", bug, None)
    until(lambda: a.finished and b.finished)
    assert (a.outcome, a.error) == (FAILED, "The forget set is empty: choose a class.")
    assert b.outcome == FAILED and "UNSIR: forget star failed unexpectedly (KeyError" in b.error
    assert not queue.lock.locked()


def test_one_unfinished_job_per_session(queue):
    gate = threading.Event()
    queue.submit("alice", "unsir", "UNSIR: forget star", gated(gate), None)
    with pytest.raises(UnsirError, match="UNSIR: forget star is still"):
        queue.submit("alice", "sweep", "B", gated(gate), None)
    gate.set()


def test_the_server_warm_up_leaves_the_queue_when_it_ends(queue):
    job = queue.submit(SERVER, "warm-up", "Warming up", lambda progress: None, None)
    until(lambda: job.finished)
    assert queue.current(SERVER) is None and queue.line() == []


def test_the_recorder_keeps_samples_and_the_sweeps_progress():
    rec = Recorder()
    assert rec.time_left() is None
    rec(event(2, 10, 1.0))
    assert rec.time_left() == pytest.approx(4.0)
    rec(ProgressEvent("sweep", 1, 4, None, 30.0, {"cell": 0}))
    rec(event(1, 10, 1.0))
    assert rec.time_left() == pytest.approx(90.0)  # the whole sweep's, not the running cell's phase
    assert [s["phase"] for s in rec.samples] == ["impair", "sweep", "impair"] and rec.samples[1]["cell"] == 0


def masked(token: bytes, mask: bytes) -> str:
    """A cookie as tornado writes it: version 2, the mask, the token XOR the mask, a time stamp."""
    return f"2|{mask.hex()}|{bytes(b ^ mask[i % 4] for i, b in enumerate(token)).hex()}|1796659547"


def test_the_browser_is_known_by_its_xsrf_cookie_whatever_the_mask():
    token = bytes(range(32))
    first, again = masked(token, b"\x01\x02\x03\x04"), masked(token, b"\xa7\x95\x04\x8a")
    assert first != again and browser_secret(first) == browser_secret(again) == token
    assert browser_secret(masked(bytes(32), b"\x01\x02\x03\x04")) != token  # another browser
    assert browser_secret("") == b"" and browser_secret("not|a|cookie") == b"not|a|cookie"


def test_a_running_sweep_is_timed_by_its_own_pace_not_by_other_sweeps(queue):
    queue.durations["sweep"] = [600.0]  # an earlier, much larger sweep
    gate = threading.Event()

    def sweep(progress: Recorder) -> None:
        progress(ProgressEvent("sweep", 1, 3, None, 10.0, {"cell": 0}))
        gated(gate)(progress)

    a = queue.submit("alice", "sweep", "A", sweep, None)
    until(lambda: a.recorder.outer is not None)
    assert queue.time_left(a) == pytest.approx(20.0)
    gate.set()
