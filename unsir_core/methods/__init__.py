"""Unlearning methods behind one interface, and the registry that the CLI, the pages and the tests read.

Each method is one small file: a frozen settings dataclass with a comment on every default, and a
subclass of `UnlearningMethod` that implements `unlearn`. `METHODS` keeps the order of the tables:
the gold standard first, then the baselines from weakest to strongest, UNSIR last.
"""
from __future__ import annotations

from ..errors import ConfigError
from .bad_teacher import BadTeacher, BadTeacherSettings
from .base import (Context, MethodResult, Request, SettingField, UnlearningMethod, Workload, make_settings,
                   pool_size, setting_fields)
from .finetune import Finetune, FinetuneSettings
from .neggrad import NegGrad, NegGradSettings
from .neggrad_plus import NegGradPlus, NegGradPlusSettings
from .random_labels import RandomLabels, RandomLabelsSettings
from .retrain import Retrain, RetrainSettings
from .salun import SalUn, SalUnSettings
from .scrub import Scrub, ScrubSettings
from .unsir import Unsir, UnsirSettings

METHODS: dict[str, UnlearningMethod] = {
    m.name: m
    for m in (Retrain(), Finetune(), NegGrad(), NegGradPlus(), RandomLabels(), BadTeacher(), Scrub(), SalUn(),
              Unsir())
}


def get_method(name: str) -> UnlearningMethod:
    """The registered method `name` (case-insensitive; '-' and '+' accepted for NegGrad+ style names)."""
    key = name.strip().lower().replace("-", "_").replace("+", "_plus")
    method = METHODS.get(key)
    if method is None:
        raise ConfigError(f"Unknown unlearning method {name!r}. Known methods: {', '.join(METHODS)}.")
    return method


__all__ = ["METHODS", "BadTeacher", "BadTeacherSettings", "Context", "Finetune", "FinetuneSettings", "MethodResult",
           "NegGrad", "NegGradPlus", "NegGradPlusSettings", "NegGradSettings", "RandomLabels", "RandomLabelsSettings",
           "Request", "Retrain", "RetrainSettings", "SalUn", "SalUnSettings", "Scrub", "ScrubSettings", "SettingField",
           "UnlearningMethod", "Unsir", "UnsirSettings", "Workload", "get_method", "make_settings", "pool_size",
           "setting_fields"]
