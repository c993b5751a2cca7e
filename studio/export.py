"""Downloads of the Runs page: results as JSON and CSV (outcome first, the models named as on the pages), a model
as safetensors bytes with its lineage."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from unsir_core.checkpoints.lineage import finalize
from unsir_core.common import strict_json
from unsir_core.common.escaping import csv_text
from unsir_core.common.numbers import SCORE_DIGITS, rounded
from unsir_core.report.summary import run_verdict, summarize

from .handout import setting_label, value_words
from .palette import stage_title
from .runs import RunRecord

if TYPE_CHECKING:
    from unsir_core.models.classifier import Classifier


def run_dict(record: RunRecord) -> dict[str, Any]:
    """Everything about a run that is worth keeping: the engine's report with its summary in words, the setup
    link, audits, live samples. `python -m unsir_core report` turns it into the printable report."""
    return {
        "run": record.id,
        "finished": record.created,
        "checkpoint": record.model_name,
        "parent_run": record.parent,
        "summary": summarize(record.report, audits=record.audits),
        "setup_query": record.setup.to_query(),
        **record.report,
        "audits": record.audits,
        "live": record.live,
    }


def runs_json(records: Sequence[RunRecord]) -> bytes:
    return strict_json.dumps([run_dict(r) for r in records]).encode()


CSV_DIGITS = 2  # decimals of accuracies and seconds in the runs CSV
STAGE_ORDER = ("repair", "original", "start", "impair", "retrain")  # outcome first in the table and the CSV


def summary_row(record: RunRecord) -> dict[str, Any]:
    """One flat row per run: the outcome first (A_Df, A_Dr of the unlearned model, then the other models), the
    request, the settings that differ from the preset in words, then the setup and the timings."""
    setup, m, t = record.setup, record.metrics, record.report["timings_s"]
    row: dict[str, Any] = {
        "run": record.id,
        "forget": ", ".join(setup.forget),
        "already forgotten": ", ".join(setup.forgotten_before),
    }
    for stage in [s for s in STAGE_ORDER if s in m]:
        row[f"A_Df {stage_title(stage)} (%)"] = rounded(m[stage]["forget_acc"], CSV_DIGITS)
        row[f"A_Dr {stage_title(stage)} (%)"] = rounded(m[stage]["retain_acc"], CSV_DIGITS)
    row["unlearning (s)"] = rounded(t["unlearn"], CSV_DIGITS)
    row.update(
        {
            "changed settings": ", ".join(
                f"{setting_label(k)} {value_words(v)}" for k, v in setup.changed_knobs().items()
            ),
            "preset": setup.preset,
            "seed": setup.config.seed,
            "data set": setup.dataset,
            "checkpoint": record.model_name,
            "finished": record.created,
        }
    )
    row.update({f"{phase} (s)": rounded(seconds, CSV_DIGITS) for phase, seconds in t.items() if phase != "unlearn"})
    found = run_verdict(record.report, record.audits)
    row["ToW"] = None if found.tow is None else rounded(found.tow, SCORE_DIGITS)
    row["JS to retrained"] = None if found.js is None else rounded(found.js, SCORE_DIGITS)
    row.update({f"verdict {c.question}": c.text if c.measured else "not measured" for c in found.clauses})
    row["device"] = record.report["device"]
    row["summary"] = summarize(record.report, audits=record.audits)
    return row


def runs_csv(records: Sequence[RunRecord]) -> bytes:
    return csv_text(pd.DataFrame([summary_row(r) for r in records])).encode()


def unlearned_model(record: RunRecord) -> Classifier:
    """The run's unlearned model with its lineage (every request of its chain) and the true original's name."""
    return finalize(record.unsir.result.model, record.report)


def model_bytes(record: RunRecord) -> bytes:
    """The unlearned model as a .safetensors file (weights plus UNSIR Studio metadata and lineage)."""
    from unsir_core.checkpoints.store import save_model

    with tempfile.TemporaryDirectory() as tmp:
        return save_model(unlearned_model(record), Path(tmp) / "model.safetensors").read_bytes()
