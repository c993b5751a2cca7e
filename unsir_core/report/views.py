"""The report's figures of where the forgotten class went: the shared embedding of the original, unlearned
and retrained models side by side, its computed sentence, and the layer-wise CKA beside the weight distance.

Drawn from the run JSON's `extras["views"]` (`metrics/views.py`), as static SVG like the other charts: one
circle per point, grouped by colour, so 2,000 points x 3 models stay near 250 KB. Torch-free.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from unsir_core.common.escaping import html
from unsir_core.common.vocabulary import class_color, stage_color, stage_title
from unsir_core.report import svgchart

if TYPE_CHECKING:
    from unsir_core.metrics.embedding import Embedding
    from unsir_core.metrics.spread import ModelSummary, RetrainSpread

PANEL, GAP, TOP, LEGEND = 300, 16, 44, 40  # px: panel side, gap between panels, title band, class legend band


def stage_phrase(stage: str) -> str:
    """ "unlearned model", "original model": how the sentence names a model."""
    return f"{stage_title(stage).lower()} model"


def embedding_svg(embedding: Embedding, class_names: Sequence[str], forget: Sequence[int], title: str) -> str:
    """One square panel per model, the same axes in each; points coloured by the class that model predicts,
    forget-class points larger with a dark ring."""
    stages = list(embedding.coords)
    every = np.concatenate([np.asarray(c) for c in embedding.coords.values()])
    low, high = every.min(0), every.max(0)
    span = np.where(high > low, high - low, 1.0)
    width = len(stages) * PANEL + (len(stages) - 1) * GAP
    height = TOP + PANEL + LEGEND
    is_forget = np.isin(np.asarray(embedding.labels), list(forget))
    body = []
    for p, stage in enumerate(stages):
        x0 = p * (PANEL + GAP)
        xy = (np.asarray(embedding.coords[stage]) - low) / span * (PANEL - 12) + 6  # [N, 2] in the panel
        body.append(
            f"<rect x='{x0}' y='{TOP}' width='{PANEL}' height='{PANEL}' fill='none' stroke='#ccc'/>"
            f"<text x='{x0 + 4}' y='{TOP - 8}' font-size='14' font-weight='bold' fill='{stage_color(stage)}'>"
            f"{html(stage_title(stage))}</text>"
        )
        preds = np.asarray(embedding.predictions[stage])
        for group, radius, ring in ((~is_forget, 1.6, ""), (is_forget, 3.2, " stroke='#222' stroke-width='0.8'")):
            for c in np.unique(preds[group]):
                pts = xy[group & (preds == c)]
                circles = "".join(
                    f"<circle cx='{x0 + x:.1f}' cy='{TOP + PANEL - y:.1f}' r='{radius}'/>" for x, y in pts
                )
                body.append(f"<g fill='{class_color(int(c))}'{ring}>{circles}</g>")
    keys, x = [], 0
    for c, name in enumerate(class_names):
        bold = " font-weight='bold'" if c in forget else ""
        keys.append(
            f"<circle cx='{x + 6}' cy='{height - 22}' r='5' fill='{class_color(c)}'/>"
            f"<text x='{x + 14}' y='{height - 18}' font-size='11'{bold}>{html(name)}</text>"
        )
        x += 24 + 6.5 * len(str(name))
    return (
        f"<svg class='chart' viewBox='0 0 {width} {height}' xmlns='http://www.w3.org/2000/svg' role='img' "
        f"aria-label='{html(title)}' font-family='sans-serif'>"
        f"<text x='0' y='16' font-size='15' font-weight='bold'>{html(title)}</text>{''.join(body)}{''.join(keys)}"
        f"<text x='0' y='{height - 2}' font-size='11'>colour: the class each model predicts; large ringed points: "
        f"forget-class images</text></svg>"
    )


def cka_svg(cka: Mapping[str, Sequence[Mapping[str, Any]]]) -> str:
    """Linear CKA of the unlearned model against each other model, one line per comparison, layer by layer."""
    layers = [d["name"] for d in next(iter(cka.values()))]
    series = {
        f"unlearned vs {stage_title(s).lower()}": ([max(0.0, d["cka"]) for d in values], stage_color(s))
        for s, values in cka.items()
    }
    return svgchart.lines("Layer-wise linear CKA of the unlearned model", layers, series, "linear CKA", y_max=1.0)


def spread_svg(spread: RetrainSpread, unlearned: ModelSummary, class_names: Sequence[str]) -> str:
    """The retrained seeds' band (min-max, shaded) and the unlearned model's value (a diamond) on each summary:
    A_Df and A_Dr, the forget-class prediction distribution, where the forget-class points sit."""
    from unsir_core.metrics.embedding import APART
    from unsir_core.metrics.spread import Band

    places = sorted(set(spread.where) | set(unlearned.where), key=lambda c: (c == APART, c))
    labels = [
        "A_Df",
        "A_Dr",
        *(f"as {n}" for n in class_names),
        *("apart" if c == APART else f"in {class_names[c]}" for c in places),
    ]
    bands = [
        spread.forget_acc,
        spread.retain_acc,
        *spread.distribution,
        *(spread.where.get(c, Band(0.0, 0.0)) for c in places),
    ]
    values = [
        unlearned.forget_acc,
        unlearned.retain_acc,
        *unlearned.distribution,
        *(unlearned.where.get(c, 0.0) for c in places),
    ]
    step = (svgchart.WIDTH - svgchart.LEFT - svgchart.RIGHT) / len(labels)
    plot_h = svgchart.HEIGHT - svgchart.TOP - svgchart.BOTTOM
    xs = [svgchart.LEFT + step * (i + 0.5) for i in range(len(labels))]

    def y(v: float) -> float:
        return svgchart.TOP + plot_h - plot_h * max(0.0, min(v, 100.0)) / 100

    retrain, repair = stage_color("retrain"), stage_color("repair")
    body = []
    for x, label, b, v in zip(xs, labels, bands, values):
        top, bottom = y(b.high), y(b.low)
        body.append(
            f"<rect x='{x - step * 0.3:.1f}' y='{top:.1f}' width='{step * 0.6:.1f}' "
            f"height='{max(bottom - top, 1.5):.1f}' fill='{retrain}' fill-opacity='0.35' stroke='{retrain}'>"
            f"<title>{html(label)}: retrained {b.words()}</title></rect>"
            f"<path d='M{x:.1f} {y(v) - 6:.1f} l6 6 l-6 6 l-6 -6 z' fill='{repair}' stroke='#222' stroke-width='0.8'>"
            f"<title>{html(label)}: unlearned {v:.1f}%</title></path>"
        )
    seeds = ", ".join(map(str, spread.seeds))
    return svgchart._frame(
        "The unlearned model within what retraining itself varies",
        {f"retrained, seeds {seeds}: min-max": retrain, "unlearned": repair},
        "%",
        100.0,
        "".join(body) + svgchart._x_labels(labels, xs),
    )


def views_html(report: Mapping[str, Any], class_names: Sequence[str]) -> str:
    """The report's section on where the forgotten class went; empty when the run JSON has no views."""
    views = report.get("extras", {}).get("views")
    if not views:
        return ""
    # Imported here: metrics.embedding loads torch, and the report module is on the dashboard's torch-free first page.
    from unsir_core.metrics.embedding import Embedding, sentence

    forget = [class_names.index(c) for c in report["forgotten_total"]]
    embedding = Embedding.from_dict(views["embedding"])
    titles = {s: stage_phrase(s) for s in embedding.coords}
    parts = [
        "<h2>Where the forgotten class went</h2>",
        f"<p class='summary'>{html(sentence(embedding, forget, class_names, titles))}</p>",
        embedding_svg(embedding, class_names, forget, "Penultimate features of the test images, one shared 2-D space"),
        f"<p class='muted'>{html(embedding.settings.describe())}</p>",
    ]
    if views.get("spread") and "repair" in report.get("metrics", {}):
        from unsir_core.metrics.spread import RetrainSpread, summary, within

        spread = RetrainSpread.from_dict(views["spread"])
        unlearned = summary(report["metrics"]["repair"], views["embedding"]["where"]["repair"])
        parts += [
            f"<p class='summary'>{html(within(spread, unlearned, class_names))}</p>",
            spread_svg(spread, unlearned, class_names),
        ]
    if views.get("cka"):
        parts += [
            cka_svg(views["cka"]),
            "<p class='muted'>Linear CKA (Kornblith et al. 2019) of each layer's output on a fixed batch of test "
            "images: 1 = the same representation up to rotation and scale. Read it beside the weight distance: "
            "layers whose weights moved but whose CKA against the original stays near 1 kept their "
            "representation.</p>",
        ]
    return "".join(parts)
