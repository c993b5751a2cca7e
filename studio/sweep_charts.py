"""Charts of a what-if sweep: the trend over one setting with seed bands, or a heat map over two.

Both take the sweep's tidy table (`SweepResult.frame()`, or the rows finished so far) and carry each cell's index
as customdata, so a click on a point names the run to open.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go

from .charts import style
from .palette import FORGET, RETAIN

# (column, legend title, colour, line dash): A_Df and A_Dr after impair (dotted) and after repair (solid)
SERIES = (
    ("forget_acc_impair", "A_Df after impair", FORGET, "dot"),
    ("retain_acc_impair", "A_Dr after impair", RETAIN, "dot"),
    ("forget_acc_repair", "A_Df after repair", FORGET, "solid"),
    ("retain_acc_repair", "A_Dr after repair", RETAIN, "solid"),
)
METRIC_TITLES = {column: title for column, title, _, _ in SERIES}


def value_text(value) -> str:
    """A grid value as shown on an axis: 0.001, 250, 1e-05."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def _rgba(hex_color: str, alpha: float) -> str:
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def trend(frame: pd.DataFrame, x: str, order: Sequence, x_title: str) -> go.Figure:
    """A_Df and A_Dr after impair and after repair against the grid values of `x` (in `order`, evenly spaced):
    the mean over seeds as a line, the band from the lowest to the highest seed, each seed's run as a point."""
    labels = [value_text(v) for v in order]
    # every grid value on the axis from the start, so a live chart does not rescale as runs finish
    fig = go.Figure(go.Scatter(x=labels, y=[None] * len(labels), mode="markers", showlegend=False, hoverinfo="skip"))
    ok = frame[frame["status"] == "ok"] if len(frame) else frame
    for column, title, color, dash in SERIES:
        if not len(ok):
            fig.add_scatter(x=[], y=[], name=title, mode="lines", line=dict(color=color, dash=dash))
            continue
        stats = ok.groupby(x, sort=False)[column].agg(["mean", "min", "max"]).reindex(list(order)).dropna()
        xs = [value_text(v) for v in stats.index]
        if ok["seed"].nunique() > 1:
            fig.add_scatter(
                x=xs + xs[::-1],
                y=list(stats["max"]) + list(stats["min"])[::-1],
                fill="toself",
                fillcolor=_rgba(color, 0.12),
                line=dict(width=0),
                hoverinfo="skip",
                showlegend=False,
                legendgroup=title,
            )
        fig.add_scatter(
            x=xs,
            y=stats["mean"],
            name=title,
            mode="lines",
            legendgroup=title,
            line=dict(color=color, dash=dash, width=3),
            hovertemplate="%{y:.1f}% (mean)<extra>" + title + "</extra>",
        )
        fig.add_scatter(
            x=[value_text(v) for v in ok[x]],
            y=ok[column],
            mode="markers",
            legendgroup=title,
            showlegend=False,
            customdata=ok["cell"],
            marker=dict(color=color, size=8, symbol="circle-open" if dash == "dot" else "circle"),
            text=[f"seed {s}" for s in ok["seed"]],
            hovertemplate="%{y:.1f}%, %{text} · click to open<extra>" + title + "</extra>",
        )
    for column, color, name, where in (
        ("forget_acc_original", FORGET, "A_Df", "top left"),
        ("retain_acc_original", RETAIN, "A_Dr", "bottom right"),
    ):
        if column in ok and ok[column].nunique() == 1:  # one forget set: the original model's level as a reference
            fig.add_hline(
                y=float(ok[column].iloc[0]),
                line=dict(color=color, dash="dash", width=1),
                annotation_text=f"original {name} {ok[column].iloc[0]:.1f}%",
                annotation_position=where,
                annotation_font_color=color,
                opacity=0.6,
            )
    return style(
        fig,
        height=420,
        clickmode="event+select",
        hovermode="closest",
        xaxis=dict(title=x_title, type="category", categoryorder="array", categoryarray=labels),
        yaxis=dict(title="test accuracy (%)", range=[-3, 105]),
    )


def heatmap(
    frame: pd.DataFrame, x: str, x_order: Sequence, y: str, y_order: Sequence, metric: str, x_title: str, y_title: str
) -> go.Figure:
    """`metric` (mean over seeds) over two settings; each cell's text is its value, a click opens its first seed."""
    ok = frame[frame["status"] == "ok"] if len(frame) else frame
    xs, ys = [value_text(v) for v in x_order], [value_text(v) for v in y_order]
    z = [[None] * len(xs) for _ in ys]
    first = [[None] * len(xs) for _ in ys]
    if len(ok):
        for (vx, vy), group in ok.groupby([x, y], sort=False):
            if vx in x_order and vy in y_order:
                i, j = list(y_order).index(vy), list(x_order).index(vx)
                z[i][j] = round(float(group[metric].mean()), 1)
                first[i][j] = int(group["cell"].iloc[0])
    scale = "RdBu_r" if metric.startswith("forget") else "RdBu"  # red = bad: forget accuracy high, retain low
    fig = go.Figure(
        go.Heatmap(
            x=xs,
            y=ys,
            z=z,
            zmin=0,
            zmax=100,
            colorscale=scale,
            text=[[("" if v is None else f"{v:.1f}") for v in row] for row in z],
            texttemplate="%{text}",
            colorbar=dict(title="%"),
            hoverongaps=False,
            hovertemplate=f"{x_title} %{{x}}, {y_title} %{{y}}: %{{z:.1f}}%<extra></extra>",
        )
    )
    # heat maps cannot be clicked in plotly: invisible markers on the cells carry the run to open
    points = [(xs[j], ys[i], first[i][j]) for i in range(len(ys)) for j in range(len(xs)) if first[i][j] is not None]
    fig.add_scatter(
        x=[p[0] for p in points],
        y=[p[1] for p in points],
        customdata=[p[2] for p in points],
        mode="markers",
        marker=dict(size=28, opacity=0.01, color="#000"),
        showlegend=False,
        hoverinfo="skip",
    )
    return style(
        fig,
        height=420,
        clickmode="event+select",
        title=dict(text=METRIC_TITLES[metric], x=0),
        xaxis=dict(title=x_title, type="category", categoryorder="array", categoryarray=xs),
        yaxis=dict(title=y_title, type="category", categoryorder="array", categoryarray=ys),
    )
