"""The Compare page's job: run the comparison with a status line per method, keep the result in the session.

The retrained reference comes from the reference store (`unsir_core.checkpoints.references`): shipped, or trained
once by any session or the CLI and kept, so a second comparison of the same forget set never retrains.
"""

from __future__ import annotations

import streamlit as st

from unsir_core.data import ImageData
from unsir_core.experiments.compare import compare
from unsir_core.experiments.compare_table import Comparison
from unsir_core.methods import METHODS
from unsir_core.models.classifier import Classifier

from . import jobs, loaders
from .job_queue import Recorder

RESULT = "compare:result"  # the last finished Comparison of this session
KIND = "compare"


def order(params: dict) -> list[str]:
    """The methods in the order the comparison runs them: the original, the reference, the rest."""
    names = params["methods"]
    run_order = ["original", *sorted(names, key=lambda n: n != "retrain")]
    if "retrain" not in names and params["train_reference"]:
        run_order.insert(1, "retrain")
    return run_order


class CompareView(jobs.ProgressView):
    """The job's progress bar with a status line per method above it: waiting, running (phase, step), done."""

    def __init__(self, job: jobs.Job):
        super().__init__(job.title, None)
        self.names = order(job.params)
        self.box = st.empty()

    def show(self, rec: Recorder) -> None:
        state = {n: "waiting" for n in self.names}
        started: dict[str, float] = {}
        for ev, at in zip(list(rec.events), list(rec.times)):
            name, _, phase = ev.phase.partition("/")
            if name not in state:
                continue
            started.setdefault(name, at)
            for n in self.names[: self.names.index(name)]:
                if state[n].startswith(("waiting", "running")):
                    state[n] = f"done in {at - started.get(n, at):.1f} s"
            state[name] = f"running: {phase} {ev.step}/{ev.total}"
        self.box.markdown(" · ".join(f"**{METHODS[n].title if n in METHODS else n}** {s}" for n, s in state.items()))
        super().show(rec)


def execute(model: Classifier, data: ImageData) -> None:
    """Run the requested comparison, if any, on `model` and `data`."""

    def work(job: jobs.Job, progress: Recorder) -> Comparison:
        p = job.params
        return compare(
            model,
            data,
            p["setup"].forget,
            p["methods"],
            p["settings"],
            loaders.device(),
            progress=progress,
            metrics=p["metrics"],
            train_reference=p["train_reference"],
        )

    jobs.execute(KIND, work, _commit, make_view=CompareView)


def _commit(result: Comparison, samples: list[dict]) -> str:
    st.session_state[RESULT] = result
    failed = [r.title for r in result.rows if not r.ok]
    return f"Compared {len(result.rows) - 1} methods in {jobs.format_seconds(result.total_s)}." + (
        f" Not finished: {', '.join(failed)} (see the Status column)." if failed else ""
    )
