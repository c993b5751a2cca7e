"""Captions that describe a run, computed from that run's numbers (never a fixed sentence that may not hold).

`gradcam_caption`: what the GradCAM maps and probabilities on the shown images actually say.
`noise_caption`: what the original model makes of the learned noise.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np
import torch

from .palette import stage_title

SAME_PLACE = 0.5  # mean correlation with the original's maps above which "the evidence stays where it was"


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
