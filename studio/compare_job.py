"""The Compare page's job: run the comparison with a status line per method, keep the result in the session.

The retrained reference comes from the reference store (`unsir_core.checkpoints.references`): shipped, or trained
once by any session or the CLI and kept, so a second comparison of the same forget set never retrains.
"""

from __future__ import annotations

import time

import streamlit as st

from unsir_core.data import ImageData
from unsir_core.experiments.compare import compare
from unsir_core.experiments.compare_table import Comparison
from unsir_core.methods import METHODS
from unsir_core.models.classifier import Classifier

from . import jobs, loaders

RESULT = "compare:result"  # the last finished Comparison of this session
KIND = "compare"


class MethodProgress:
    """Per-method status lines above the job's progress bar: waiting, running (phase, step), done."""

    def __init__(self, view: jobs.ProgressView, names: list[str]):
        self.view, self.names = view, names
        self.state = {n: "waiting" for n in names}
        self.started: dict[str, float] = {}
        self.box = st.empty()
        self.drawn = 0.0

    def __call__(self, ev) -> None:
        name, _, phase = ev.phase.partition("/")
        if name in self.state:
            now = time.perf_counter()
            self.started.setdefault(name, now)
            for n in self.names[: self.names.index(name)]:
                if self.state[n].startswith(("waiting", "running")):
                    self.state[n] = f"done in {now - self.started.get(n, now):.1f} s"
            self.state[name] = f"running: {phase} {ev.step}/{ev.total}"
            if now - self.drawn > jobs.DRAW_INTERVAL_S:
                self.drawn = now
                self.box.markdown(
                    " · ".join(f"**{METHODS[n].title if n in METHODS else n}** {s}" for n, s in self.state.items())
                )
        self.view(ev)


def execute(model: Classifier, data: ImageData) -> None:
    """Run the requested comparison, if any, on `model` and `data`."""

    def work(job: jobs.Job, view: jobs.ProgressView) -> Comparison:
        p = job.params
        names = p["methods"]
        order = ["original", *sorted(names, key=lambda n: n != "retrain")]
        if "retrain" not in names and p["train_reference"]:
            order.insert(1, "retrain")
        return compare(
            model,
            data,
            p["setup"].forget,
            names,
            p["settings"],
            loaders.device(),
            progress=MethodProgress(view, order),
            metrics=p["metrics"],
            train_reference=p["train_reference"],
        )

    jobs.execute(KIND, work, _commit)


def _commit(result: Comparison, samples: list[dict]) -> str:
    st.session_state[RESULT] = result
    failed = [r.title for r in result.rows if not r.ok]
    return f"Compared {len(result.rows) - 1} methods in {jobs.format_seconds(result.total_s)}." + (
        f" Not finished: {', '.join(failed)} (see the Status column)." if failed else ""
    )
