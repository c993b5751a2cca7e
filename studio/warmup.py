"""Warm once: the first run of a session is no slower than the second.

A session's first run used to pay for importing torch and the engine, loading the data, the model and its stored
retrained reference, and the first calls of every kernel (30.8 s against 5.8 s re-run, loaded 2-core CPU). The
server now pays it once per model, in the background: at its first page load and whenever a session chooses a
model not warmed yet, a server job on the device queue (`studio.job_queue`, visible there as "Warming up") runs
one real UNSIR request on that model with a live monitor, exactly as a run from the Impair page does, and draws
its live chart once; the result is dropped. No page waits for it; a run started meanwhile waits in line.
"""

from __future__ import annotations

import os
import threading
from dataclasses import replace

from unsir_core.common.errors import UnsirError

from . import charts, jobs, loaders, runs
from .job_queue import QUEUE, SERVER, QueuedJob, Recorder
from .setup import Setup

SWITCH = "UNSIR_WARM_UP"  # environment variable: "0" turns the warm-up off (test servers; a cold first run)
WARMED: set[tuple[str, float, str]] = set()  # (checkpoint path, its modification time, data set) warmed or warming
_lock = threading.Lock()


def warm_up(setup: Setup) -> QueuedJob | None:
    """Queue the warm-up of the setup's model and data set unless done already (or under AppTest); the job."""
    if jobs.inline() or os.environ.get(SWITCH) == "0":
        return None
    try:
        path = loaders.model_path(setup)
        key = (str(path), path.stat().st_mtime, setup.dataset)
    except (UnsirError, OSError):  # no model for this setup: the page says so, nothing to warm
        return None
    with _lock:
        if key in WARMED:
            return None
        WARMED.add(key)
    return QUEUE.submit(SERVER, "warm-up", f"Warming up {path.stem}", lambda progress: _work(setup, progress), None)


def _work(setup: Setup, progress: Recorder) -> None:
    """One UNSIR request on the setup's model: its forget classes, or the data set's first class."""
    data = loaders.data(setup.dataset)
    forget = tuple(c for c in setup.forget if c in data.class_names) or (data.class_names[0],)
    made = runs.warm_run(replace(setup, forget=forget, chain=(), retrain=False), progress)
    charts.live(made.live, "accuracy")
