"""Downloads of the Runs page: results as JSON and CSV, a model as safetensors bytes, figures as HTML."""
from __future__ import annotations

import io
import tempfile
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from unsir_core import strict_json
from unsir_core.classifier import Classifier
from unsir_core.store import save_model

from .figures import run_figures
from .runs import RunRecord


def run_dict(record: RunRecord) -> dict[str, Any]:
    """Everything about a run that is worth keeping: the engine's report, the setup link, audits, live samples."""
    return {"run": record.id, "finished": record.created, "checkpoint": record.model_name,
            "setup_query": record.setup.to_query(), **record.report, "audits": record.audits, "live": record.live}


def runs_json(records: Sequence[RunRecord]) -> bytes:
    return strict_json.dumps([run_dict(r) for r in records]).encode()


def summary_row(record: RunRecord) -> dict[str, Any]:
    """One flat row per run: setup, the settings that differ from the preset, metrics per stage, timings."""
    setup, m, t = record.setup, record.metrics, record.report["timings_s"]
    row = {"run": record.id, "finished": record.created, "data set": setup.dataset, "checkpoint": record.model_name,
           "forget": ", ".join(setup.forget), "preset": setup.preset, "seed": setup.config.seed,
           "changed settings": ", ".join(f"{k}={v:g}" for k, v in setup.changed_knobs().items())}
    for stage, ev in m.items():
        row[f"A_Df {stage} (%)"] = round(ev["forget_acc"], 2)
        row[f"A_Dr {stage} (%)"] = round(ev["retain_acc"], 2)
    row.update({f"{phase} (s)": round(seconds, 2) for phase, seconds in t.items()})
    row["device"] = record.report["device"]
    return row


def runs_csv(records: Sequence[RunRecord]) -> bytes:
    return pd.DataFrame([summary_row(r) for r in records]).to_csv(index=False).encode()


def model_bytes(model: Classifier) -> bytes:
    """The model as a .safetensors file (weights plus UNSIR Studio metadata)."""
    with tempfile.TemporaryDirectory() as tmp:
        return save_model(model, Path(tmp) / "model.safetensors").read_bytes()


def figures_html(record: RunRecord) -> bytes:
    """Every figure of the run in one self-contained HTML page (plotly.js embedded once: works offline)."""
    out = io.StringIO()
    out.write(f"<html><head><meta charset='utf-8'><title>UNSIR Studio, {record.title}</title></head>"
              f"<body style='font-family:sans-serif'><h1>{record.title}</h1>")
    for i, (name, fig) in enumerate(run_figures(record).items()):
        out.write(f"<h2>{name.replace('_', ' ')}</h2>")
        out.write(fig.to_html(full_html=False, include_plotlyjs=i == 0))
    out.write("</body></html>")
    return out.getvalue().encode()
