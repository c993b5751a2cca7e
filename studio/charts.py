"""Plotly figures of the dashboard. Transparent backgrounds and no fixed template, so Streamlit's
theme styles them for light and dark mode; class and stage colours come from `palette`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from unsir_core.common.escaping import plot_text
from unsir_core.common.numbers import pct
from unsir_core.metrics.relearn import RELEARN_SHARE, crossing

from .palette import FORGET, RETAIN, SERIES, class_colors, stage_color, stage_title


def style(fig: go.Figure, height: int = 320, **layout: Any) -> go.Figure:
    """Shared look: transparent background, compact margins, legend on top."""
    base = dict(
        height=height,
        margin=dict(l=10, r=10, t=40, b=10),
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        legend=dict(orientation="h", y=1.02, yanchor="bottom", x=0),
    )
    fig.update_layout({**base, **layout})
    return fig


def live(samples: Sequence[Mapping[str, Any]], kind: str) -> go.Figure:
    """The live chart of a job: forget/retain accuracy through impair and repair, or the loss per step."""
    return accuracy_trace(samples) if kind == "accuracy" else loss_trace(samples)


def accuracy_trace(samples: Sequence[Mapping[str, Any]], baseline: Mapping[str, float] | None = None) -> go.Figure:
    """A_Df and A_Dr on a fixed test probe over the impair then repair steps (one x axis), from step 0 =
    `baseline` (the original model's evaluation) when given."""
    starts: dict[str, int] = {}  # phase -> global step before its first step (an extra repair epoch: its own)
    end = last = extra = 0
    x, forget, retain = ([0], [baseline["forget_acc"]], [baseline["retain_acc"]]) if baseline else ([], [], [])
    checks: list[tuple[int, float, float]] = []  # (global step, held-out retain accuracy, the original's)
    for s in samples:
        if s["phase"] == "check":
            checks.append((last, s["check_acc"], s["check_original"]))
            continue
        if s["phase"] not in ("impair", "repair", "repair+"):
            continue
        extra += s["phase"] == "repair+" and s["step"] == 1  # each extra repair epoch starts again at step 1
        key = f"repair+{extra}" if s["phase"] == "repair+" else s["phase"]
        if key not in starts:
            starts[key], end = end, end + s["total"]
        last = starts[key] + s["step"]
        if "forget_acc" in s:
            x.append(last)
            forget.append(s["forget_acc"])
            retain.append(s["retain_acc"])
    fig = go.Figure(
        [
            go.Scatter(
                x=x, y=forget, name="Forget classes (A_Df)", mode="lines+markers", line=dict(color=FORGET, width=3)
            ),
            go.Scatter(
                x=x, y=retain, name="Retain classes (A_Dr)", mode="lines+markers", line=dict(color=RETAIN, width=3)
            ),
        ]
    )
    if checks:
        fig.add_trace(
            go.Scatter(
                x=[c[0] for c in checks],
                y=[c[1] for c in checks],
                mode="markers",
                name="Repair check (held-out retain training images)",
                marker=dict(symbol="diamond", size=11, color=RETAIN, line=dict(width=2, color="white")),
                customdata=[c[2] for c in checks],
                hovertemplate="%{y:.1f}% (original: %{customdata:.1f}%)<extra></extra>",
            )
        )
    for phase, start in starts.items():
        stage = phase.rstrip("+0123456789")
        fig.add_vline(x=start + 0.5, line=dict(color=stage_color(stage), dash="dot", width=2))
        fig.add_annotation(
            x=start + 0.5,
            y=104,
            text="extra repair" if "+" in phase else phase,
            showarrow=False,
            xanchor="left",
            font=dict(color=stage_color(stage)),
        )
    return style(fig, xaxis_title="step (impair, then repair)", yaxis=dict(title="test accuracy (%)", range=[-3, 108]))


def loss_trace(samples: Sequence[Mapping[str, Any]]) -> go.Figure:
    """Loss per step, one line per phase (the noise objective, or the training loss)."""
    fig = go.Figure()
    for phase in dict.fromkeys(s["phase"] for s in samples):
        steps = [s for s in samples if s["phase"] == phase and s["loss"] is not None]
        fig.add_scatter(
            x=[s["step"] for s in steps],
            y=[s["loss"] for s in steps],
            name=phase,
            mode="lines",
            line=dict(color=FORGET if phase == "noise" else RETAIN, width=3),
        )
    return style(fig, xaxis_title="step", yaxis_title="loss", showlegend=False)


def noise_loss(history: Sequence[float]) -> go.Figure:
    """The noise objective −CE + λ‖N‖² per Adam step (lower = the model is more wrong on the noise)."""
    return loss_trace([{"phase": "noise", "step": i + 1, "loss": v} for i, v in enumerate(history)])


def class_panels(
    panels: Mapping[str, Sequence[float]],
    class_names: Sequence[str],
    forget: Sequence[int],
    y_title: str,
    y_max: float | None = None,
    height: int = 320,
) -> go.Figure:
    """One bar chart per model side by side (shared y), bars coloured forget/retain by class."""
    fig = make_subplots(
        rows=1, cols=len(panels), shared_yaxes=True, subplot_titles=list(panels), horizontal_spacing=0.03
    )
    colors = class_colors(len(class_names), forget)
    for i, values in enumerate(panels.values(), start=1):
        fig.add_bar(
            x=[plot_text(c) for c in class_names],
            y=list(values),
            marker_color=colors,
            showlegend=False,
            row=1,
            col=i,
            hovertemplate="%{x}: %{y:.1f}<extra></extra>",
        )
    fig.update_yaxes(title_text=y_title, row=1, col=1)
    if y_max is not None:
        fig.update_yaxes(range=[0, y_max])
    fig.update_xaxes(tickangle=-45 if len(class_names) > 6 else 0)
    # A legend for the two colours: invisible traces named after them.
    for name, color in (("forget class", FORGET), ("retain class", RETAIN)):
        fig.add_bar(x=[None], y=[None], name=name, marker_color=color, row=1, col=1)
    return style(
        fig,
        height=height,
        margin=dict(l=10, r=10, t=70, b=10),
        legend=dict(orientation="h", y=1.16, yanchor="bottom", x=1, xanchor="right"),
    )


def stage_accuracy(metrics: Mapping[str, Mapping[str, float]]) -> go.Figure:
    """A_Df and A_Dr of each stage as grouped bars (forget and retain colours)."""
    stages = list(metrics)
    fig = go.Figure(
        [
            go.Bar(
                x=[stage_title(s) for s in stages],
                y=[metrics[s]["forget_acc"] for s in stages],
                name="A_Df (forget)",
                marker_color=FORGET,
                text=[pct(metrics[s]["forget_acc"]) for s in stages],  # rounded as every card (common.numbers)
                texttemplate="%{text}",
                textposition="outside",
            ),
            go.Bar(
                x=[stage_title(s) for s in stages],
                y=[metrics[s]["retain_acc"] for s in stages],
                name="A_Dr (retain)",
                marker_color=RETAIN,
                text=[pct(metrics[s]["retain_acc"]) for s in stages],
                texttemplate="%{text}",
                textposition="outside",
            ),
        ]
    )
    return style(fig, yaxis=dict(title="test accuracy (%)", range=[0, 115]), barmode="group")


MAX_LOG_TICKS = 8  # tick labels on a log axis, at most


def weight_distance(
    series: Mapping[str, Sequence[Mapping[str, Any]]],
    normalized: bool,
    reference: str = "original",
    names: Mapping[str, str] | None = None,
    colors: Mapping[str, str] | None = None,
) -> go.Figure:
    """Per-layer distance from `reference`, one bar series per compared model, log scale (paper Fig. 2).

    series: {key: [LayerDistance dicts]}; `names`/`colors` default to the stage titles and colours. A layer
    at exactly 0 (frozen, so unchanged) cannot sit on a log axis: it gets a marker on the axis floor
    labelled "0 (frozen)" instead of a bar at 1e-12."""
    key = "normalized" if normalized else "l2"
    names = names or {s: f"{reference} → {stage_title(s).lower()}" for s in series}
    colors = colors or {s: stage_color(s) for s in series}
    positive = [d[key] for layers in series.values() for d in layers if d[key] > 0]
    floor = 10.0 ** math.floor(math.log10(min(positive))) if positive else 1e-3
    fig = go.Figure()
    for s, layers in series.items():
        fig.add_bar(
            x=[d["name"] for d in layers],
            y=[d[key] if d[key] > 0 else None for d in layers],
            name=names[s],
            marker_color=colors[s],
            offsetgroup=s,
            customdata=[d["n_params"] for d in layers],
            hovertemplate="%{x}: %{y:.3g} (%{customdata:,} parameters)<extra>" + names[s] + "</extra>",
        )
        frozen = [d["name"] for d in layers if d[key] == 0]
        if frozen:
            fig.add_bar(
                x=frozen,
                y=[floor * 4] * len(frozen),
                base=[floor] * len(frozen),
                offsetgroup=s,
                marker=dict(color="rgba(0,0,0,0)", line=dict(color=colors[s], width=1.5)),
                text=["0 (frozen)"] * len(frozen),
                textposition="inside",
                textangle=-90,
                insidetextfont=dict(size=11, color=colors[s]),
                name=names[s] + ": 0 (frozen)",
                hovertemplate="%{x}: 0 (frozen: this layer did not change)<extra>" + names[s] + "</extra>",
            )
    title = f"‖w − w_{reference}‖ / ‖w_{reference}‖" if normalized else f"‖w − w_{reference}‖₂"
    values = positive + [floor]
    return style(
        fig,
        height=380,
        barmode="group",
        showlegend=True,
        xaxis=dict(title="layer", tickangle=-45),
        yaxis=dict(
            title=title,
            type="log",
            tickvals=log_ticks(values),
            tickformat="~g",
            range=[math.log10(floor), math.log10(max(values)) + 0.15],
        ),
    )


def log_ticks(values: Sequence[float]) -> list[float]:
    """Readable ticks for a log axis spanning the positive `values`: 1-2-5 per decade when that gives at most
    MAX_LOG_TICKS ticks, else every decade, else every k-th decade."""
    values = [v for v in values if v > 0]
    if not values:
        return []
    low, high = math.floor(math.log10(min(values))), math.ceil(math.log10(max(values)))
    decades = list(range(low, high + 1))
    if 3 * len(decades) <= MAX_LOG_TICKS:
        return [m * 10.0**e for e in decades for m in (1, 2, 5)]
    step = math.ceil(len(decades) / MAX_LOG_TICKS)
    return [10.0**e for e in decades[::step]]


def relearn(curves: Mapping[str, Mapping[str, Any]], target: float) -> go.Figure:
    """Forget accuracy while fine-tuning again on 500 random training samples per epoch; each curve's first
    crossing of the target (the headline number) is ringed."""
    fig = go.Figure()
    for stage, r in curves.items():
        fig.add_scatter(
            x=r["history_epochs"],
            y=r["history"],
            name=stage_title(stage),
            mode="lines+markers",
            line=dict(color=stage_color(stage), width=3),
        )
        epoch = crossing(r["history_epochs"], r["history"], target)
        if epoch is not None:
            fig.add_scatter(
                x=[epoch],
                y=[r["history"][r["history_epochs"].index(epoch)]],
                mode="markers",
                marker=dict(size=18, color="rgba(0,0,0,0)", line=dict(color=stage_color(stage), width=2)),
                showlegend=False,
                hovertemplate=f"{stage_title(stage)}: relearned at epoch {epoch}<extra></extra>",
            )
    fig.add_hline(
        y=target,
        line=dict(color=FORGET, dash="dot"),
        annotation_text=f"relearned: {RELEARN_SHARE:.0%} of the original's A_Df ({target:.1f}%)",
        annotation_position="top left",
    )  # curves start low: clear of them
    return style(
        fig,
        xaxis_title="relearn epoch (500 training samples each)",
        yaxis=dict(title="forget accuracy (%)", range=[-3, 105]),
    )


def membership(results: Mapping[str, Mapping[str, Any]]) -> go.Figure:
    """Per model: the attack's own accuracy on held-out members/non-members (with its 95% interval, next to
    chance), and the % of forget-class training images it calls "member" (faded when the attack is at chance)."""
    stages = list(results)
    x = [stage_title(s) for s in stages]
    fig = go.Figure(
        [
            go.Bar(
                x=x,
                y=[results[s]["attack_acc"] for s in stages],
                name="attack accuracy (held out)",
                marker_color=SERIES[0],
                text=[pct(results[s]["attack_acc"]) for s in stages],
                texttemplate="%{text}",
                textposition="outside",
                error_y=dict(
                    type="data",
                    symmetric=False,
                    array=[results[s]["acc_high"] - results[s]["attack_acc"] for s in stages],
                    arrayminus=[results[s]["attack_acc"] - results[s]["acc_low"] for s in stages],
                ),
            ),
            go.Bar(
                x=x,
                y=[results[s]["forget_member_rate"] for s in stages],
                name="forget images called member",
                marker_color=[stage_color(s) for s in stages],
                text=[pct(results[s]["forget_member_rate"]) for s in stages],
                texttemplate="%{text}",
                textposition="outside",
                marker_opacity=[0.35 if results[s]["at_chance"] else 1.0 for s in stages],
            ),
        ]
    )
    chance_line(fig)
    return style(fig, barmode="group", yaxis=dict(title="%", range=[0, 115]))


def chance_line(fig: go.Figure) -> go.Figure:
    """A dotted line at 50% named in the legend (an annotation on the line sat on the bars' own labels)."""
    fig.add_hline(y=50, line=dict(color="gray", dash="dot"))
    fig.add_scatter(x=[None], y=[None], mode="lines", line=dict(color="gray", dash="dot"), name="chance (50%)")
    return fig


def timings(timings_s: Mapping[str, float]) -> go.Figure:
    """Seconds per phase as one horizontal stacked bar."""
    colors = {
        "noise": FORGET,
        "impair": stage_color("impair"),
        "repair": stage_color("repair"),
        "evaluate": stage_color("original"),
        "retrain": stage_color("retrain"),
        "reference": stage_color("retrain"),
    }
    names = {"reference": "stored reference loaded"}  # reused, not retrained: its seconds are loading it
    fig = go.Figure(
        [
            go.Bar(
                y=[""],
                x=[timings_s[p]],
                name=f"{names.get(p, p)} {timings_s[p]:.2f} s",
                orientation="h",
                marker_color=colors[p],
            )
            for p in colors
            if p in timings_s
        ]
    )
    return style(
        fig,
        height=150,
        barmode="stack",
        xaxis_title="seconds",
        margin=dict(l=10, r=10, t=30, b=10),
        legend=dict(orientation="h", y=1.02, yanchor="bottom", x=0, traceorder="normal"),
    )


def layer_cka(
    cka: Mapping[str, Sequence[Mapping[str, Any]]], names: Mapping[str, str], colors: Mapping[str, str]
) -> go.Figure:
    """Linear CKA per layer of the unlearned model against each other model (one line per comparison), on the
    weight distance's layer axis: 1 = the same representation up to rotation and scale."""
    fig = go.Figure()
    for other, layers in cka.items():
        fig.add_scatter(
            x=[d["name"] for d in layers],
            y=[d["cka"] for d in layers],
            name=names[other],
            mode="lines+markers",
            line=dict(color=colors[other], width=3),
            hovertemplate="%{x}: CKA %{y:.3f}<extra>" + names[other] + "</extra>",
        )
    return style(
        fig,
        height=320,
        xaxis=dict(title="layer", tickangle=-45),
        yaxis=dict(title="linear CKA", range=[0, 1.05]),
    )
