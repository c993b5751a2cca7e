"""Unlearning methods behind one interface, and the registry that the CLI, the pages and the tests read.

Each method is one small file: a frozen settings dataclass with a comment on every default, and a
subclass of `UnlearningMethod` that implements `unlearn`. `METHODS` keeps the order of the tables:
the gold standard first, then the baselines from weakest to strongest (the fine-tune matched to UNSIR's repair
beside fine-tune), UNSIR, then UNSIR's ablations (the same recipe with one part taken out).
"""

from __future__ import annotations

from unsir_core.common.errors import ConfigError
from unsir_core.methods.bad_teacher import BadTeacher, BadTeacherSettings
from unsir_core.methods.base import Context, MethodResult, Request, UnlearningMethod, Workload, pool_size
from unsir_core.methods.finetune import Finetune, FinetuneRepair, FinetuneRepairSettings, FinetuneSettings
from unsir_core.methods.neggrad import NegGrad, NegGradSettings
from unsir_core.methods.neggrad_plus import NegGradPlus, NegGradPlusSettings
from unsir_core.methods.random_labels import RandomLabels, RandomLabelsSettings
from unsir_core.methods.retrain import Retrain, RetrainSettings
from unsir_core.methods.salun import SalUn, SalUnSettings
from unsir_core.methods.scrub import Scrub, ScrubSettings
from unsir_core.methods.settings import SettingField, make_settings, setting_fields
from unsir_core.methods.unsir import ABLATION_METHODS, Unsir, UnsirAblation, UnsirSettings

METHODS: dict[str, UnlearningMethod] = {
    m.name: m
    for m in (
        Retrain(),
        Finetune(),
        FinetuneRepair(),
        NegGrad(),
        NegGradPlus(),
        RandomLabels(),
        BadTeacher(),
        Scrub(),
        SalUn(),
        Unsir(),
        *ABLATION_METHODS,
    )
}


def get_method(name: str) -> UnlearningMethod:
    """The registered method `name` (case-insensitive; '-' and '+' accepted for NegGrad+ style names)."""
    key = name.strip().lower().replace("-", "_").replace("+", "_plus")
    method = METHODS.get(key)
    if method is None:
        raise ConfigError(f"Unknown unlearning method {name!r}. Known methods: {', '.join(METHODS)}.")
    return method


__all__ = [
    "METHODS",
    "BadTeacher",
    "BadTeacherSettings",
    "Context",
    "Finetune",
    "FinetuneRepair",
    "FinetuneRepairSettings",
    "FinetuneSettings",
    "MethodResult",
    "NegGrad",
    "NegGradPlus",
    "NegGradPlusSettings",
    "NegGradSettings",
    "RandomLabels",
    "RandomLabelsSettings",
    "Request",
    "Retrain",
    "RetrainSettings",
    "SalUn",
    "SalUnSettings",
    "Scrub",
    "ScrubSettings",
    "SettingField",
    "UnlearningMethod",
    "Unsir",
    "UnsirAblation",
    "UnsirSettings",
    "Workload",
    "get_method",
    "make_settings",
    "pool_size",
    "setting_fields",
]
