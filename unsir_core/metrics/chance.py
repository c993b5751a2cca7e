"""Whether a model learned anything: a test accuracy at or near chance (100/K % for K classes) makes every
later number meaningless, unlearning included, so train, the dashboard and UNSIR say so in words."""

from __future__ import annotations

from unsir_core.models import DEFAULT_MODEL, get_spec
from unsir_core.models.info import ModelInfo

# A model below this multiple of chance learned (almost) nothing: 15% of 10 classes, 75% of 2. Measured: a ViT
# trained from scratch for 8 epochs on 7,360 images of ten letters ended at 10.4%, a working Small CNN at 94%.
NEAR_CHANCE = 1.5


def chance_warning(test_acc: float, num_classes: int, arch: str = DEFAULT_MODEL) -> str | None:
    """A warning sentence with what to try when `test_acc` (%) over `num_classes` classes is at or near chance
    for an `arch` model; None when it is clearly above."""
    if num_classes < 2:
        return None  # a one-class model has no chance level to compare with
    chance = 100 / num_classes
    if test_acc >= NEAR_CHANCE * chance:
        return None
    spec = get_spec(arch)
    tries = ["train for more epochs"]
    if spec.name != DEFAULT_MODEL:
        tries.append(f"switch to a small conv net such as {DEFAULT_MODEL}")
    if spec.pretrained_weights is not None:
        tries.append("start from ImageNet weights (train --pretrained)")
    return (
        f"test accuracy {test_acc:.1f}% is at or near chance ({chance:.1f}% for {num_classes} classes, warning "
        f"below {NEAR_CHANCE:g}x): the {spec.title} model learned (almost) nothing. Try to {', or '.join(tries)}."
    )


def model_chance_warning(info: ModelInfo) -> str | None:
    """`chance_warning` for a checkpoint's recorded test accuracy, over the classes it still knows (its
    test_acc covers only those); None when no accuracy was recorded."""
    if info.test_acc is None:
        return None
    return chance_warning(info.test_acc, info.num_classes - len(info.forgotten), info.arch)
