"""How close an unlearned model is to the retrained one (the question the literature asks; "lower" is not "better").

- ToW, "tug of war" (Zhao et al.; the Unlearning Comparator, Lee et al. 2025, reports it): the product over the
  forget, retain and test sets of 1 - |acc_unlearned - acc_retrained|, accuracies as fractions. 1 = the same
  accuracies as the retrained model; a model that forgets too much loses ToW as surely as one that forgets too
  little. Here the three sets are the forget-class test images, the retain-class test images and all test
  images (A_Df, A_Dr and test accuracy, the figures every page shows).
- JS divergence of the two models' softmax outputs on the forget-class test images (`privacy.js_divergence`;
  0 = the same outputs, at most ln 2).

`tow` needs no torch; `js_to_retrained` imports it inside.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from unsir_core.data import ImageData
    from unsir_core.models.classifier import Classifier

TOW_DEFINITION = (
    "ToW (tug of war; Zhao et al., as in the Unlearning Comparator): the product over the forget-class, "
    "retain-class and all test images of 1 − |accuracy − the retrained model's accuracy| (accuracies as "
    "fractions). 1 = the same accuracies as the retrained model; forgetting too much lowers it as much as "
    "forgetting too little."
)
JS_DEFINITION = (
    "JS divergence: the mean Jensen-Shannon divergence between this model's and the retrained model's softmax "
    "outputs on the forget-class test images (natural log). 0 = the same outputs; at most ln 2 ≈ 0.693."
)


def tow(unlearned: Sequence[float], retrained: Sequence[float]) -> float:
    """ToW of accuracies in % on (forget, retain, test) against the retrained model's; in [0, 1]."""
    if len(unlearned) != len(retrained) or not unlearned:
        raise ValueError(
            f"ToW needs the same sets for both models, got {len(unlearned)} and {len(retrained)} accuracies."
        )
    out = 1.0
    for u, r in zip(unlearned, retrained):
        out *= 1 - abs(u - r) / 100
    return out


def js_to_retrained(model: Classifier, retrained: Classifier, data: ImageData, forget: Sequence[int]) -> float:
    """Mean JS divergence between `model`'s and `retrained`'s softmax outputs on the forget-class test images."""
    from unsir_core.common.errors import ConfigError
    from unsir_core.metrics.evaluate import predict_logits
    from unsir_core.metrics.privacy import js_divergence

    mask = data.class_mask(data.test_y, list(forget))
    if not forget or not mask.any():
        raise ConfigError(
            f"JS divergence needs forget-class test images; {data.name} has none of classes {list(forget)}."
        )
    x = data.test_x[mask]
    return js_divergence(predict_logits(model, x), predict_logits(retrained, x))
