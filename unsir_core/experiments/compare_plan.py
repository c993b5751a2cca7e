"""What a comparison will do and about how long it takes, before it runs.

Per method: the training images it processes with its settings (`UnlearningMethod.planned_images`),
divided by the training speed measured on this device (`train.training_speed`), plus the measurements
of its row (relearn fine-tunes up to the cap, and forward passes for the attacks, the probe and the
evaluation, counted as a third of a training image each). The retrained reference costs nothing when
the reference store holds a matching one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from unsir_core.checkpoints.references import ReferenceKey, find
from unsir_core.data import ImageData
from unsir_core.methods import Request, get_method
from unsir_core.metrics.audits import MetricSettings
from unsir_core.metrics.probe import PROBE_PER_CLASS
from unsir_core.models.classifier import Classifier

FORWARD_SHARE = 1 / 3  # a forward pass costs about a third of a training step's forward + backward


@dataclass(frozen=True)
class PlannedRow:
    method: str  # registry key
    title: str
    images: float  # training images the method processes
    seconds: float  # estimated seconds, method and its measurements
    note: str  # e.g. "stored reference: no training"


def measurement_images(data: ImageData, ms: MetricSettings, gone: Sequence[int]) -> float:
    """Training-image equivalents of measuring one row."""
    forward = (
        len(data.test_y) * 2
        + 4 * ms.mia_samples
        + (PROBE_PER_CLASS * data.num_classes + len(data.test_y) if ms.probe else 0)
    )
    forward += int(data.class_mask(data.train_y, gone).sum()) * 2  # privacy score: the row and the reference
    relearn = ms.relearn_max_epochs * ms.relearn_samples if ms.relearn else 0
    return relearn + FORWARD_SHARE * forward


def plan(
    model: Classifier,
    data: ImageData,
    forget: Sequence[int | str],
    methods: Sequence[str],
    settings: Mapping[str, Any],
    ms: MetricSettings,
    images_per_s: float,
) -> list[PlannedRow]:
    """One row per method that will run (the reference first), with its estimated seconds."""
    request = data.forget_classes(forget, model.info.forgotten)
    gone = tuple(sorted(set(request) | set(model.info.forgotten)))
    req = Request(model.info, data, tuple(request))
    per_row = measurement_images(data, ms, gone)
    names = sorted(dict.fromkeys(get_method(n).name for n in methods), key=lambda n: n != "retrain")
    rows = []
    for name in names:
        method = get_method(name)
        s = method.settings(settings.get(name))
        images, note = method.planned_images(s, req), ""
        if name == "retrain":
            cfg = s.train_config(model.info)
            stored = find(ReferenceKey.for_original(model.info, gone, cfg))
            if stored is not None:
                images, note = 0.0, f"stored reference {stored.name}: no training"
            else:
                note = f"{cfg.epochs} epochs, trained once and stored"
        rows.append(PlannedRow(name, method.title, images, (images + per_row) / images_per_s, note))
    return rows
