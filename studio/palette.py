"""Colours: forget classes warm, retain classes cool, one colour per model stage, in every chart.

FORGET and RETAIN mean forget and retain only; other pairs of series take SERIES.

Mid-luminance colours on transparent backgrounds read well in both the light and the dark theme. The
names and colours themselves live in `unsir_core.common.vocabulary`, which the printable report shares.
"""

from __future__ import annotations

from collections.abc import Collection

from unsir_core.common.vocabulary import FORGET, RETAIN, stage_color, stage_title

# Two series of one metric that are not forget/retain (MIA variants, distance pairs): neither red nor blue.
SERIES = ("#16A085", "#B7950B")  # teal, ochre

__all__ = ["FORGET", "RETAIN", "SERIES", "class_colors", "stage_color", "stage_title"]


def class_colors(num_classes: int, forget: Collection[int]) -> list[str]:
    """The colour of each class index: FORGET for the forget classes, RETAIN for the others."""
    return [FORGET if c in forget else RETAIN for c in range(num_classes)]
