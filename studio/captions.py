"""Captions that describe a run, computed from that run's numbers (never a fixed sentence that may not hold).

`gradcam_caption`: what the GradCAM maps and probabilities on the shown images actually say.
`noise_caption`: what the original model makes of the learned noise.
`impair_story`, `repair_story`, `stage_caption`: which phase did the forgetting in a run, from its A_Df and A_Dr
after each stage (the method's textbook story is said only when the run's numbers bear it out).
`ablation_caption`: what the noise contributed, from a run and its no-noise twin.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from .palette import stage_title

if TYPE_CHECKING:  # annotations only: the Overview's diagram imports this module, and the first page stays torch-free
    import torch

SAME_PLACE = 0.5  # mean correlation with the original's maps above which "the evidence stays where it was"
IMPAIR_FORGETS = 10.0  # A_Df (%) after impair at most this: impair did the forgetting (issue 21's stage target)
REPAIR_FORGETS = 2.0  # A_Df (%) after repair at most this: the forget classes are gone
REPAIR_RESTORES = 0.95  # A_Dr after repair at least this share of the original's: the rest is restored


def _drop(before: float, after: float) -> float:
    """The share of `before` lost (0 = untouched, 1 = all gone)."""
    return (before - after) / before if before else 0.0


def impair_story(metrics: Mapping[str, Mapping[str, float]]) -> str:
    """What impair did in a run (metrics: stage -> {"forget_acc", "retain_acc"}, with "original" and "impair")."""
    o, i = metrics["original"], metrics["impair"]
    numbers = (
        f"A_Df {o['forget_acc']:.1f}% → {i['forget_acc']:.1f}%, A_Dr {o['retain_acc']:.1f}% → {i['retain_acc']:.1f}%"
    )
    if i["forget_acc"] == o["forget_acc"] and i["retain_acc"] == o["retain_acc"]:
        return f"Impair changed nothing in this run ({numbers})."
    harder = _drop(o["forget_acc"], i["forget_acc"]) > _drop(o["retain_acc"], i["retain_acc"])
    if i["forget_acc"] <= IMPAIR_FORGETS and harder:
        return f"Impair removed the forget classes and hit them harder than the retained ones ({numbers})."
    if harder:
        return (
            f"Impair hit the forget classes harder than the retained ones but did not remove them ({numbers}; "
            f"removed means {IMPAIR_FORGETS:g}% or less)."
        )
    return (
        f"Impair hit the retained classes harder than the forget classes ({numbers}): in this run the noise did "
        "not do the forgetting."
    )


def repair_story(metrics: Mapping[str, Mapping[str, float]]) -> str:
    """What repair did in a run, after impair (metrics with "original", "impair" and "repair")."""
    o, i, r = metrics["original"], metrics["impair"], metrics["repair"]
    numbers = (
        f"A_Df {i['forget_acc']:.1f}% → {r['forget_acc']:.1f}%, A_Dr {i['retain_acc']:.1f}% → {r['retain_acc']:.1f}%"
    )
    if i["forget_acc"] == r["forget_acc"] and i["retain_acc"] == r["retain_acc"]:
        return f"Repair changed nothing in this run ({numbers})."
    restored = r["retain_acc"] >= REPAIR_RESTORES * o["retain_acc"]
    rest = (
        f"restored the retained classes ({REPAIR_RESTORES:.0%} of the original's A_Dr or more)"
        if restored
        else f"left the retained classes below {REPAIR_RESTORES:.0%} of the original's A_Dr"
    )
    if i["forget_acc"] > IMPAIR_FORGETS and r["forget_acc"] <= REPAIR_FORGETS:
        return (
            f"Repair {rest} and, training on retain images only, also did the forgetting ({numbers}): in this run "
            "the forget classes faded by catastrophic forgetting, not because of the noise."
        )
    if r["forget_acc"] > max(REPAIR_FORGETS, i["forget_acc"] + 5):
        return f"Repair {rest}, and the forget classes partly came back ({numbers})."
    return f"Repair {rest}; the forget classes stayed gone ({numbers})."


def stage_caption(metrics: Mapping[str, Mapping[str, float]]) -> str:
    """Both phases of a run in two sentences, from its numbers."""
    return f"{impair_story(metrics)} {repair_story(metrics)}"


def ablation_caption(
    title: str, run: Mapping[str, Mapping[str, float]], twin: Mapping[str, Mapping[str, float]], ablation: str
) -> str:
    """What the part `ablation` took out contributed: A_Df after impair and after repair in the run and in its
    twin `title` (e.g. "without noise"); for "no-noise", whether the demo shows the noise matters (A_Df after
    repair without noise at least half the original's)."""
    parts = [
        f"A_Df after impair: {run['impair']['forget_acc']:.1f}% with UNSIR, {twin['impair']['forget_acc']:.1f}% "
        f"{title}; after repair: {run['repair']['forget_acc']:.1f}% and {twin['repair']['forget_acc']:.1f}%. A_Dr "
        f"after repair: {run['repair']['retain_acc']:.1f}% and {twin['repair']['retain_acc']:.1f}%."
    ]
    if ablation == "no-noise" and run["repair"]["forget_acc"] > REPAIR_FORGETS:
        parts.append(
            f"UNSIR itself did not forget here (A_Df {run['repair']['forget_acc']:.1f}% after repair, more than "
            f"{REPAIR_FORGETS:g}%), so this pair shows no contribution of the noise: change the settings first."
        )
    elif ablation == "no-noise":
        half = twin["repair"]["forget_acc"] >= 0.5 * run["original"]["forget_acc"]
        parts.append(
            "Without the noise the forget classes stay largely recognised: here the noise does the forgetting."
            if half
            else "Without the noise the forget classes are forgotten too (below half the original's A_Df): on this "
            "data and model, training on the retain subset alone forgets them, so this run cannot show that the "
            "noise matters."
        )
    return " ".join(parts)


def map_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Mean over images of the Pearson correlation of two stacks of heatmaps [N, H, W] (0 for a flat map)."""
    values = []
    for x, y in zip(a.reshape(len(a), -1), b.reshape(len(b), -1)):
        if x.std() == 0 or y.std() == 0:
            values.append(0.0)
        else:
            values.append(float(np.corrcoef(x, y)[0, 1]))
    return float(np.mean(values)) if values else 0.0


def _predicted(names: Sequence[str], probs: torch.Tensor) -> str:
    counts = Counter(int(p) for p in probs.argmax(1))
    return ", ".join(f"{names[c]} {n}/{len(probs)}" for c, n in counts.most_common(2))


def gradcam_caption(
    names: Sequence[str], cls: int, forget: bool, probs: Mapping[str, torch.Tensor], maps: Mapping[str, np.ndarray]
) -> str:
    """probs: stage -> softmax [N, K]; maps: stage -> heatmaps [N, H, W] of the shown images of class `cls`."""
    parts = [
        f"On these {len(next(iter(probs.values())))} {names[cls]} images: "
        + "; ".join(
            f"{stage_title(s).lower()} p({names[cls]}) = {float(p[:, cls].mean()):.0%} on average, "
            f"predicts {_predicted(names, p)}"
            for s, p in probs.items()
        )
        + "."
    ]
    if "repair" in maps and "original" in maps:
        same = map_similarity(maps["repair"], maps["original"])
        where = "stay where the original's are" if same >= SAME_PLACE else "moved away from the original's"
        parts.append(f"The unlearned model's maps {where} (mean correlation {same:.2f}).")
        if forget and same >= SAME_PLACE and float(probs["repair"][:, cls].mean()) < 0.05:
            parts.append(
                f"It still finds the {names[cls]} but no longer names it: the class was removed from the "
                "decision, not necessarily from the features (the feature probe on Results measures "
                "this)."
            )
        if "retrain" in maps:
            if all(m.std() == 0 for m in maps["retrain"]):
                parts.append(f"The retrained model's maps are empty: it finds no evidence for {names[cls]} at all.")
            else:
                retrained = map_similarity(maps["retrain"], maps["original"])
                parts.append(f"The retrained model's maps against the original's: mean correlation {retrained:.2f}.")
    if not forget:
        parts.append("A retain-class image should look the same in every model.")
    return " ".join(parts)


def noise_caption(names: Sequence[str], forget_class: int, probs: torch.Tensor) -> str:
    """probs: the original model's softmax [B, K] on the noise of one forget class."""
    pred = probs.argmax(1)
    other = pred != forget_class
    conf = probs.max(1).values
    share = float(other.float().mean())
    text = (
        f"The original model calls {share:.0%} of the {names[forget_class]} noise something other than "
        f"{names[forget_class]}"
    )
    if other.any():
        top, count = Counter(int(p) for p in pred[other]).most_common(1)[0]
        text += f" (most often {names[top]}, {count} of {len(pred)})"
    text += (
        f", with a mean confidence of {float(conf.mean()):.0%} and p({names[forget_class]}) = "
        f"{float(probs[:, forget_class].mean()):.1%} on average."
    )
    return text
