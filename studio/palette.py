"""Colours: forget classes warm, retain classes cool, one colour per model stage, in every chart.

FORGET and RETAIN mean forget and retain only; other pairs of series take SERIES.

Mid-luminance colours on transparent backgrounds read well in both the light and the dark theme.
"""
from __future__ import annotations

from typing import Collection

FORGET = "#E4572E"  # forget classes and A_Df
RETAIN = "#2E86DE"  # retain classes and A_Dr
# Two series of one metric that are not forget/retain (MIA variants, distance pairs): neither red nor blue.
SERIES = ("#16A085", "#B7950B")  # teal, ochre

STAGES = {  # engine evaluation key -> (title, colour); "Unlearned" is the model after impair and repair
    "original": ("Original", "#8C8C99"),
    "impair": ("After impair", "#F5A623"),
    "repair": ("Unlearned", "#8E44AD"),
    "retrain": ("Retrained", "#27AE60"),
}


def class_colors(num_classes: int, forget: Collection[int]) -> list[str]:
    """The colour of each class index: FORGET for the forget classes, RETAIN for the others."""
    return [FORGET if c in forget else RETAIN for c in range(num_classes)]


def stage_title(stage: str) -> str:
    return STAGES[stage][0]


def stage_color(stage: str) -> str:
    return STAGES[stage][1]
