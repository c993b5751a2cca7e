"""Worst-case privacy score referenced to the retrained model (Unlearning Comparator, IEEE TVCG 2025).

Lee et al., "Unlearning Comparator: A Visual Analytics System for Comparative Evaluation of Machine
Unlearning Methods", IEEE TVCG 2025 (github.com/gnueaj/Machine-Unlearning-Comparator). The attacker sees
one softmax feature of a model on the forget-class training images and must say whether the model is
the unlearned one or the retrained one (which never saw them). Two features: the entropy of the softmax
at temperature 2, and the confidence log p_max - log(1 - p_max) at temperature 1. For 51 evenly spaced
thresholds and both directions ("unlearned if above" / "if below") it takes the false positive rate
(retrained outputs called unlearned) and false negative rate, and the differential-privacy style

    eps = max(0, min(log(1 - d - FPR) - log FNR, log(1 - d - FNR) - log FPR)),   d = 1e-5;

each threshold's attack score is 1 - 2^(-eps). The privacy score is 1 - the largest attack score over
both features, thresholds and directions: 1 = the unlearned model's outputs cannot be told from the
retrained model's by any such threshold, 0 = some threshold separates them perfectly. It reads
forget-class training images: an audit after the fact. Deterministic: no sampling, no fitting.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch

from unsir_core.common.errors import ConfigError
from unsir_core.data import ImageData
from unsir_core.metrics.evaluate import predict_logits
from unsir_core.models.classifier import Classifier

DELTA = 1e-5  # d in the epsilon formula
THRESHOLDS = 51  # thresholds per feature, evenly spaced over its range
FEATURE_RANGES = {"entropy": (0.0, 2.5), "confidence": (-2.5, 10.0)}  # the Comparator's histogram ranges
DEFINITION = (
    "Worst-case privacy score referenced to the retrained model (Unlearning Comparator, Lee et al., IEEE TVCG "
    "2025): an attacker sees one feature of a model's softmax on the forget-class training images (entropy at "
    "temperature 2, or log p_max − log(1 − p_max)) and, with a threshold, guesses whether it is the unlearned or the "
    "retrained model. Each of 51 thresholds per feature and direction gives ε = max(0, min(log(1 − δ − FPR) − "
    "log FNR, log(1 − δ − FNR) − log FPR)), δ = 10⁻⁵, and an attack score 1 − 2^(−ε). Privacy score = 1 − the "
    "best attack score: 1 = indistinguishable from retraining, 0 = perfectly distinguishable."
)


@dataclass(frozen=True)
class RetrainPrivacy:
    score: float  # 1 - the worst-case attack score, in [0, 1]
    attack_score: float  # the best attack's 1 - 2^(-eps)
    feature: str  # "entropy" or "confidence": the feature of the best attack
    threshold: float  # its threshold
    direction: str  # "above" or "below": which side it calls "unlearned"
    fpr: float  # its false positive rate (retrained outputs called unlearned)
    fnr: float  # its false negative rate (unlearned outputs called retrained)
    n_images: int  # forget-class training images both models were run on

    def to_dict(self) -> dict:
        return asdict(self)


def comparator_features(logits: torch.Tensor) -> dict[str, np.ndarray]:
    """Logits [N, K] -> {"entropy": [N] at temperature 2, "confidence": [N] log p_max - log(1 - p_max)}."""
    logits = logits.double()
    p2 = (logits / 2).softmax(1)
    entropy = -torch.xlogy(p2, p2).sum(1)
    log_p = logits.log_softmax(1)
    top = log_p.max(1).values
    confidence = top - torch.log1p(-top.exp().clamp(max=1 - 1e-12))
    return {"entropy": entropy.cpu().numpy(), "confidence": confidence.cpu().numpy()}


def attack_scores(
    unlearned: np.ndarray, retrained: np.ndarray, low: float, high: float
) -> list[tuple[float, str, float, float, float]]:
    """(attack score, direction, threshold, FPR, FNR) for every threshold and direction."""
    out = []
    for t in np.linspace(low, high, THRESHOLDS):
        for direction in ("above", "below"):
            called_u = (unlearned > t) if direction == "above" else (unlearned <= t)
            called_r = (retrained > t) if direction == "above" else (retrained <= t)
            fnr, fpr = 1 - called_u.mean(), called_r.mean()
            eps = max(
                0.0,
                min(
                    np.log(max(1 - DELTA - fpr, DELTA)) - np.log(max(fnr, DELTA)),
                    np.log(max(1 - DELTA - fnr, DELTA)) - np.log(max(fpr, DELTA)),
                ),
            )
            out.append((1 - 2.0 ** (-eps), direction, float(t), float(fpr), float(fnr)))
    return out


def privacy_from_logits(unlearned: torch.Tensor, retrained: torch.Tensor) -> RetrainPrivacy:
    """The worst-case privacy score of two models' logits [N, K] on the same forget-class images."""
    if unlearned.shape != retrained.shape or unlearned.ndim != 2 or len(unlearned) == 0:
        raise ConfigError(
            f"Need two non-empty logit tensors of one shape [N, K], got {tuple(unlearned.shape)} and "
            f"{tuple(retrained.shape)}."
        )
    fu, fr = comparator_features(unlearned), comparator_features(retrained)
    best = max(
        (
            (*a, name)
            for name, (low, high) in FEATURE_RANGES.items()
            for a in attack_scores(fu[name], fr[name], low, high)
        ),
        key=lambda a: a[0],
    )
    attack, direction, threshold, fpr, fnr, feature = best
    return RetrainPrivacy(
        round(1 - attack, 4),
        round(attack, 4),
        feature,
        round(threshold, 4),
        direction,
        round(fpr, 4),
        round(fnr, 4),
        len(unlearned),
    )


def forget_train_images(data: ImageData, forget: Sequence[int]) -> torch.Tensor:
    """Every training image [F, C, H, W] of the forget classes."""
    mask = data.class_mask(data.train_y, forget)
    if not forget or not mask.any():
        raise ConfigError(
            f"The privacy score needs forget-class training images; {data.name} has none of classes {list(forget)}."
        )
    return data.train_x[mask]


def retrain_privacy(model: Classifier, retrained: Classifier, data: ImageData, forget: Sequence[int]) -> RetrainPrivacy:
    """`model`'s worst-case privacy score against `retrained` on every forget-class training image."""
    x = forget_train_images(data, forget)
    return privacy_from_logits(predict_logits(model, x), predict_logits(retrained, x))
