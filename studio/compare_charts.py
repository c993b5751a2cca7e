"""The figures of a comparison (Compare page and its HTML export).

Honest by construction: a metric that was not computed for a row is left out of that chart (and the
chart says which rows are missing), never drawn as 0; the retrained model is not drawn against itself.
"""

from __future__ import annotations

import math

import plotly.graph_objects as go

from unsir_core.common.escaping import html
from unsir_core.common.numbers import SCORE_DIGITS, fixed, pct
from unsir_core.experiments.compare_table import COLUMNS, Comparison, MethodRow

from . import charts
from .palette import FORGET, RETAIN, SERIES, stage_color

METHOD_COLORS = {
    "original": stage_color("original"),
    "retrain": stage_color("retrain"),
    "finetune": "#1ABC9C",
    "neggrad": "#C0392B",
    "neggrad_plus": "#E67E22",
    "random_labels": "#F1C40F",
    "bad_teacher": "#7F8C8D",
    "scrub": "#3498DB",
    "salun": "#D35400",
    "unsir": stage_color("repair"),
}
NOT_COMPUTED = "not computed"


def color(method: str) -> str:
    return METHOD_COLORS.get(method, RETAIN)


def missing(rows: list[MethodRow], keys: list[str]) -> list[str]:
    """Titles of the rows that lack every one of `keys`."""
    return [r.title for r in rows if all(getattr(r, k) is None for k in keys)]


def digits(key: str) -> int:
    """Decimals of a MethodRow attribute as the table shows it (3 for those outside the table's columns)."""
    return next((c.digits for c in COLUMNS if c.key == key), SCORE_DIGITS)


def method_bars(
    result: Comparison,
    keys: list[tuple[str, str, str]],
    y_title: str,
    log: bool = False,
    y_range: list[float] | None = None,
    skip: tuple[str, ...] = (),
) -> go.Figure:
    """Grouped bars per method for `keys` [(attribute, label, colour)]; rows without a value get no bar,
    and the x label of a row with no value at all says "not computed"."""
    rows = [r for r in result.rows if r.ok and r.method not in skip]
    absent = set(missing(rows, [k for k, _, _ in keys]))
    x = [f"{r.title}<br>({NOT_COMPUTED})" if r.title in absent else r.title for r in rows]
    fig = go.Figure(
        [
            go.Bar(
                x=x,
                y=[getattr(r, key) for r in rows],
                name=label,
                marker_color=c,
                text=[fixed(getattr(r, key), digits(key)) for r in rows],  # as the table rounds it
                texttemplate="%{text}",
                textposition="outside",
            )
            for key, label, c in keys
        ]
    )
    axis = dict(title=y_title, type="log" if log else "linear", range=y_range)
    if log:
        axis.update(tickvals=charts.log_ticks([getattr(r, k) or 0 for r in rows for k, _, _ in keys]), tickformat="~g")
    return charts.style(fig, barmode="group", yaxis=axis)


def has_relearn(result: Comparison) -> bool:
    return any(
        r.ok and r.method != "original" and (r.relearn_epochs is not None or r.relearn_capped) for r in result.rows
    )


def relearn_chart(result: Comparison) -> go.Figure:
    """Relearn epochs per method; a method still below the target at the cap gets a hatched bar at the cap."""
    cap = result.metric_settings.relearn_max_epochs
    rows = [
        r for r in result.rows if r.ok and r.method != "original" and (r.relearn_epochs is not None or r.relearn_capped)
    ]
    fig = go.Figure(
        go.Bar(
            x=[r.title for r in rows],
            y=[cap if r.relearn_capped else r.relearn_epochs for r in rows],
            text=[r.relearn_text(cap) for r in rows],
            textposition="outside",
            marker_color=[color(r.method) for r in rows],
            marker_pattern_shape=["/" if r.relearn_capped else "" for r in rows],
        )
    )
    return charts.style(fig, yaxis=dict(title=f"epochs (hatched: not relearned within {cap})", range=[0, cap * 1.15]))


def tradeoff(result: Comparison) -> go.Figure:
    """A_Df against A_Dr; the marker area is the wall time; the retrained model (a star) marks the target.
    Big markers are drawn first and every marker is translucent with an outline, so none hides another;
    the original is an open ring."""
    rows = [r for r in result.rows if r.ok and r.retain_acc is not None]
    biggest = max([r.wall_s or 0 for r in rows] + [1e-9])
    size = {r.method: 12 + 48 * math.sqrt((r.wall_s or 0) / biggest) for r in rows}
    fig = go.Figure()
    for r in sorted(rows, key=lambda r: -size[r.method]):
        symbol = "star" if r.method == "retrain" else "circle-open" if r.method == "original" else "circle"
        fig.add_scatter(
            x=[r.retain_acc],
            y=[r.forget_acc],
            mode="markers+text",
            text=[r.title],
            textposition="bottom center" if r.method == "original" else "top center",
            name=r.title,
            showlegend=False,
            marker=dict(
                size=size[r.method],
                color=color(r.method),
                opacity=0.65,
                symbol=symbol,
                line=dict(width=2, color=color(r.method)),
            ),
            hovertemplate=f"{r.title}<br>A_Dr {pct(r.retain_acc)}<br>A_Df {pct(r.forget_acc)}<br>"
            + (f"{fixed(r.wall_s, 1)} s" if r.wall_s is not None else "time not measured")
            + "<extra></extra>",
        )
    return charts.style(
        fig,
        height=420,
        xaxis=dict(title="A_Dr: retain-class test accuracy (%) →"),
        yaxis=dict(title="A_Df: forget-class test accuracy (%)", range=[-5, 105]),
    )


def distributions(result: Comparison, per_row: int = 5) -> list[go.Figure]:
    """Predicted classes on the forget test images, one panel per method, several panels per figure."""
    rows = [r for r in result.rows if r.ok]
    return [
        charts.class_panels(
            {r.title: r.prediction_distribution for r in rows[i : i + per_row]},
            result.class_names,
            result.forget,
            "forget-class test images",
            height=300,
        )
        for i in range(0, len(rows), per_row)
    ]


def layer_chart(result: Comparison, to: str, normalized: bool) -> go.Figure:
    """Per-layer distance of every method to the original or to the retrained model (not the model itself)."""
    series, names, colors = {}, {}, {}
    for r in result.rows:
        layers = r.layers_original if to == "original" else r.layers_retrain
        if r.ok and layers and r.method != to:
            series[r.method] = [d.to_dict() for d in layers]
            names[r.method], colors[r.method] = r.title, color(r.method)
    return charts.weight_distance(series, normalized, "retrain" if to == "retrain" else "original", names, colors)


def all_figures(result: Comparison) -> dict[str, go.Figure]:
    figs = {
        "accuracy": method_bars(
            result,
            [("forget_acc", "A_Df (forget)", FORGET), ("retain_acc", "A_Dr (retain)", RETAIN)],
            "test accuracy (%)",
            y_range=[0, 115],
        ),
        "tradeoff": tradeoff(result),
        "time": method_bars(
            result, [("wall_s", "wall time", stage_color("original"))], "seconds", log=True, skip=("original",)
        ),
        "privacy": method_bars(
            result,
            [("mia_entropy", "MIA entropy", SERIES[0]), ("mia_confidence", "MIA confidence", SERIES[1])],
            "forget-train images called member (%)",
            y_range=[0, 115],
        ),
        "attack_accuracy": method_bars(
            result,
            [("mia_entropy_acc", "entropy attack", SERIES[0]), ("mia_confidence_acc", "confidence attack", SERIES[1])],
            "attack accuracy on held-out data (%)",
            y_range=[0, 115],
        ),
        "privacy_score": method_bars(
            result,
            [("privacy_score", "privacy score", stage_color("retrain"))],
            "privacy score vs retrain (1 = indistinguishable)",
            y_range=[0, 1.1],
            skip=("retrain",),
        ),
        "probe": method_bars(
            result,
            [("probe_forget_acc", "probe A_Df", stage_color("repair"))],
            "linear probe accuracy on forget images (%)",
            y_range=[0, 115],
        ),
        "to_retrain": method_bars(
            result,
            [("act_dist", "activation distance", SERIES[0]), ("js_div", "JS divergence", SERIES[1])],
            "distance to the retrained model",
            skip=("retrain",),
        ),
        "zrf": method_bars(
            result, [("zrf", "ZRF", stage_color("repair"))], "ZRF (1 = as uninformed as random)", y_range=[0.3, 1.05]
        ),
        "weights_original": layer_chart(result, "original", True),
        "weights_retrain": layer_chart(result, "retrain", True),
    }
    if has_relearn(result):
        figs["relearn"] = relearn_chart(result)
    charts.chance_line(figs["attack_accuracy"])
    for i, fig in enumerate(distributions(result)):
        figs[f"predictions_{i + 1}"] = fig
    return figs


def figures_html(result: Comparison, figs: dict[str, go.Figure]) -> bytes:
    parts = [
        f"<html><head><meta charset='utf-8'><title>UNSIR Studio: compare methods</title></head>"
        f"<body style='font-family:sans-serif'><h1>Compare methods</h1><pre>{html(result.to_markdown())}</pre>"
    ]
    for i, (name, fig) in enumerate(figs.items()):
        parts.append(f"<h2>{name.replace('_', ' ')}</h2>" + fig.to_html(full_html=False, include_plotlyjs=i == 0))
    return ("".join(parts) + "</body></html>").encode()
