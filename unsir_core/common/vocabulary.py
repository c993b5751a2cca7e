"""The names of the models a run compares, one vocabulary for the pages, the CSV, the JSON and the report.

The engine keys its evaluations by stage ("original", "impair", "repair", "retrain", and "start" for
a chained request); people read the titles.
Colours too: forget classes warm, retain classes cool, one colour per model, in the pages and the report.
"""

from __future__ import annotations

FORGET = "#E4572E"  # forget classes and A_Df
RETAIN = "#2E86DE"  # retain classes and A_Dr

STAGE_TITLES = {
    "original": "Original",  # the true original: the model before any unlearning request
    "start": "Starting model",  # a chained request's starting point: an already unlearned model
    "impair": "After impair",  # after the impair step, before repair
    "repair": "Unlearned",  # after impair and repair: the result
    "retrain": "Retrained",  # trained from scratch without the forgotten classes: the gold standard
}

STAGE_COLORS = {
    "original": "#8C8C99",
    "start": "#5D6D7E",
    "impair": "#F5A623",
    "repair": "#8E44AD",
    "retrain": "#27AE60",
}


# One colour per class where points are coloured by the class a model predicts (Tableau 10; cycled past ten).
CLASS_COLORS = (
    "#4E79A7",
    "#F28E2B",
    "#E15759",
    "#76B7B2",
    "#59A14F",
    "#EDC948",
    "#B07AA1",
    "#FF9DA7",
    "#9C755F",
    "#BAB0AC",
)


def class_color(c: int) -> str:
    """The colour of class index `c` in charts coloured by predicted class."""
    return CLASS_COLORS[c % len(CLASS_COLORS)]


def stage_title(stage: str) -> str:
    return STAGE_TITLES[stage]


def stage_titles(metrics: dict) -> dict[str, str]:
    """The titles of the stages a run's metrics hold, in its order (written into the JSON beside the keys)."""
    return {stage: STAGE_TITLES[stage] for stage in metrics}


def stage_color(stage: str) -> str:
    return STAGE_COLORS[stage]
