"""The figures of one run, built in one place for the Results and the Impair and repair pages."""

from __future__ import annotations

import plotly.graph_objects as go

from . import charts
from .palette import stage_title
from .runs import RunRecord, ablation_title

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


def with_ablation(base: RunRecord, twin: RunRecord) -> go.Figure:
    """The live chart of `base` with the A_Df and A_Dr of its ablation `twin` drawn dashed on the same axes; a
    twin without impair starts its repair where `base`'s repair starts."""
    fig = charts.accuracy_trace(base.live, base.metrics["original"])
    missing = twin.ablation == "no-impair"
    offset = next((s["total"] for s in base.live if s["phase"] == "impair"), 0) if missing else 0
    words = ablation_title(twin.ablation)
    for trace in charts.accuracy_trace(twin.live, twin.metrics["original"]).data[:2]:
        x = list(trace.x)
        fig.add_scatter(
            x=[x[0], *(v + offset for v in x[1:])],
            y=list(trace.y),
            name=f"{trace.name} {words}",
            mode="lines+markers",
            line=dict(color=trace.line.color, width=2, dash="dash"),
            marker=dict(symbol="x"),
            opacity=0.8,
        )
    return fig
