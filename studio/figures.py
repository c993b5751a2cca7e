"""The figures of one run, built in one place for the Results and the Impair and repair pages."""

from __future__ import annotations

import plotly.graph_objects as go

from . import charts
from .palette import stage_title
from .runs import RunRecord

COMPARED = ("original", "repair", "retrain")  # the models the per-class figures put side by side


def run_figures(record: RunRecord, normalized: bool = True) -> dict[str, go.Figure]:
    """Figures by name: stages, distribution, per_class, weights, live, timings (+ relearn, mia when computed)."""
    metrics, names, forget = record.metrics, record.class_names, record.forget
    shown = [s for s in COMPARED if s in metrics]
    figs = {
        "stages": charts.stage_accuracy(metrics),
        "distribution": charts.class_panels(
            {stage_title(s): metrics[s]["prediction_distribution"] for s in shown},
            names,
            forget,
            "forget-class test images",
        ),
        "per_class": charts.class_panels(
            {stage_title(s): metrics[s]["per_class_acc"] for s in shown}, names, forget, "test accuracy (%)", 105
        ),
        "weights": charts.weight_distance(record.report["extras"]["weights"], normalized),
        "live": charts.accuracy_trace(record.live, metrics["original"]),
        "timings": charts.timings(record.report["timings_s"]),
    }
    relearn = record.audits.get("relearn")
    if relearn:
        figs["relearn"] = charts.relearn(
            {s: v for s, v in relearn.items() if s not in ("target", "original")}, relearn["target"]
        )
    if record.audits.get("mia"):
        figs["mia"] = charts.membership(record.audits["mia"])
    return figs
