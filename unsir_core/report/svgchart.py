"""Small static SVG charts for the printable report: grouped bars and lines, with a title and a legend.

Static on purpose: plotly.js alone weighs over 3 MB, and a report must stay under 2 MB, open offline
and print cleanly. Every chart is a few KB of plain SVG that scales with the page.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from unsir_core.common.escaping import html

WIDTH, HEIGHT = 760, 300  # viewBox of every chart; it scales to the page width
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 58, 64  # plot margins: axis labels, title and legend, class names


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^k at or above `value`, so that quarter ticks are round numbers."""
    if value <= 0:
        return 1.0
    scale = 10 ** math.floor(math.log10(value))
    return next(m * scale for m in (1, 2, 2.5, 5, 10) if m * scale >= value)


def _frame(title: str, legend: Mapping[str, str], y_label: str, y_max: float, body: str) -> str:
    plot_h = HEIGHT - TOP - BOTTOM
    ticks = []
    for i in range(5):
        v = y_max * i / 4
        y = TOP + plot_h - plot_h * i / 4
        ticks.append(
            f"<line x1='{LEFT}' x2='{WIDTH - RIGHT}' y1='{y:.1f}' y2='{y:.1f}' stroke='#ddd'/>"
            f"<text x='{LEFT - 6}' y='{y + 4:.1f}' text-anchor='end' font-size='11'>{v:.3g}</text>"
        )
    keys, x = [], LEFT
    for name, color in legend.items():
        keys.append(
            f"<rect x='{x}' y='30' width='12' height='12' fill='{color}'/>"
            f"<text x='{x + 16}' y='40' font-size='12'>{html(name)}</text>"
        )
        x += 28 + 7 * len(name)
    return (
        f"<svg class='chart' viewBox='0 0 {WIDTH} {HEIGHT}' xmlns='http://www.w3.org/2000/svg' role='img' "
        f"aria-label='{html(title)}' font-family='sans-serif'>"
        f"<text x='{LEFT}' y='18' font-size='15' font-weight='bold'>{html(title)}</text>{''.join(keys)}"
        f"{''.join(ticks)}<text transform='translate(14 {TOP + plot_h / 2}) rotate(-90)' text-anchor='middle' "
        f"font-size='11'>{html(y_label)}</text>{body}</svg>"
    )


def _x_labels(labels: Sequence[str], centers: Sequence[float]) -> str:
    y = HEIGHT - BOTTOM + 14
    room = (WIDTH - LEFT - RIGHT) / max(len(labels), 1)  # pixels per label
    tilt = max((len(s) for s in labels), default=0) * 6.5 > room
    return "".join(
        f"<text x='{x:.1f}' y='{y}' font-size='11' text-anchor='{'end' if tilt else 'middle'}'"
        + (f" transform='rotate(-35 {x:.1f} {y})'" if tilt else "")
        + f">{html(s)}</text>"
        for s, x in zip(labels, centers)
    )


def bars(
    title: str,
    categories: Sequence[str],
    series: Mapping[str, tuple[Sequence[float], str]],
    y_label: str,
    y_max: float = 100.0,
    highlight: Sequence[str] = (),
    values: bool = False,
) -> str:
    """Grouped bars: one group per category, one bar per series (name -> (values, colour)).

    Categories in `highlight` get a bold label (the forget classes); `values` prints each bar's value.
    """
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    group = plot_w / max(len(categories), 1)
    bar = group * 0.8 / max(len(series), 1)
    body, centers = [], []
    for i, cat in enumerate(categories):
        x0 = LEFT + i * group + group * 0.1
        centers.append(LEFT + i * group + group / 2)
        for j, (name, (vals, color)) in enumerate(series.items()):
            v = max(0.0, min(float(vals[i]), y_max))
            h = plot_h * v / y_max
            x, y = x0 + j * bar, TOP + plot_h - h
            body.append(
                f"<rect x='{x:.1f}' y='{y:.1f}' width='{bar * 0.92:.1f}' height='{h:.1f}' fill='{color}'>"
                f"<title>{html(name)} · {html(cat)}: {float(vals[i]):.1f}</title></rect>"
            )
            if values:
                body.append(
                    f"<text x='{x + bar * 0.46:.1f}' y='{y - 3:.1f}' font-size='10' text-anchor='middle'>"
                    f"{float(vals[i]):.1f}</text>"
                )
    labels = _x_labels(categories, centers)
    for cat in highlight:  # bold forget-class names
        labels = labels.replace(f">{html(cat)}</text>", f" font-weight='bold' fill='#B5391A'>{html(cat)}</text>")
    return _frame(title, {n: c for n, (_, c) in series.items()}, y_label, y_max, "".join(body) + labels)


def lines(
    title: str,
    x_labels: Sequence[str],
    series: Mapping[str, tuple[Sequence[float], str]],
    y_label: str,
    y_max: float = 100.0,
) -> str:
    """One line with markers per series over the points `x_labels`."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(len(x_labels), 1)
    xs = [LEFT + step * (i + 0.5) for i in range(len(x_labels))]
    body = []
    for name, (vals, color) in series.items():
        pts = [(x, TOP + plot_h - plot_h * max(0.0, min(float(v), y_max)) / y_max) for x, v in zip(xs, vals)]
        body.append(
            f"<polyline fill='none' stroke='{color}' stroke-width='2.5' "
            f"points='{' '.join(f'{x:.1f},{y:.1f}' for x, y in pts)}'/>"
        )
        body += [
            f"<circle cx='{x:.1f}' cy='{y:.1f}' r='4' fill='{color}'><title>{html(name)}: {float(v):.1f}"
            f"</title></circle>"
            for (x, y), v in zip(pts, vals)
        ]
    legend = {n: c for n, (_, c) in series.items()}
    return _frame(title, legend, y_label, y_max, "".join(body) + _x_labels(x_labels, xs))
