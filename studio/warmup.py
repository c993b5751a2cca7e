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
WARMED: set[tuple] = (
    set()
)  # models (path, mtime, data set) and forget requests (model, classes, seed) warmed or warming
_lock = threading.Lock()


def warm_up(setup: Setup) -> QueuedJob | None:
    """Queue what the setup's first run would pay for, unless warmed already (or under AppTest, or switched off):
    for a new model a whole UNSIR request on it; for a new forget set of a warmed model its stored reference's
    test-set pass (`reference`). Returns the job queued, if any."""
    if jobs.inline() or os.environ.get(SWITCH) == "0":
        return None
    try:
        path = loaders.model_path(setup)
        model = (str(path), path.stat().st_mtime, setup.dataset)
    except (UnsirError, OSError):  # no model for this setup: the page says so, nothing to warm
        return None
    request = (model, setup.forget, setup.forgotten_before, setup.config.seed, setup.retrain_epochs)
    with _lock:
        new_model, new_request = model not in WARMED, bool(setup.forget) and request not in WARMED
        WARMED.update((model, request) if setup.forget else (model,))
    if new_model:  # the request on the setup's own forget classes: their reference is warmed with it
        return QUEUE.submit(SERVER, "warm-up", f"Warming up {path.stem}", lambda progress: _work(setup, progress), None)
    if new_request:
        title = f"Warming up the reference without {', '.join(setup.forget)}"
        return QUEUE.submit(SERVER, "warm-up", title, lambda progress: reference(setup), None)
    return None


def _work(setup: Setup, progress: Recorder) -> None:
    """One UNSIR request on the setup's model: its forget classes, or the data set's first class."""
    data = loaders.data(setup.dataset)
    forget = tuple(c for c in setup.forget if c in data.class_names) or (data.class_names[0],)
    made = runs.warm_run(replace(setup, forget=forget, chain=(), retrain=False), progress)
    charts.live(made.live, "accuracy")


def reference(setup: Setup) -> bool:
    """Load the stored retrained reference of the setup's request and compute its test-set logits once (the
    engine keeps them for a model that never changes): a run forgetting a class not warmed yet paid for that
    pass. False when no reference is stored (the run then retrains only if asked to, and says how long)."""
    from unsir_core.checkpoints.store import load_model
    from unsir_core.metrics.evaluate import test_logits

    found = runs.stored_reference(setup, loaders.model(setup))
    if found is None:
        return False
    test_logits(load_model(found), loaders.data(setup.dataset).test_x, fixed=True)
    return True
