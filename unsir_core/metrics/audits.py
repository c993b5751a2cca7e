"""The audits of an unlearned model, one definition each, for Results (studio/audits.py), Compare and sweeps.

An audit reads forget-class images (that is what it measures), unlike unlearning itself. `MetricSettings` says
how every page measures; the functions below are the only places that turn it into calls of the metrics, so the
Results page, a Compare row and a sweep cell report the same relearn time and the same attack for the same model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from unsir_core.metrics.privacy import MIA_SAMPLES

if TYPE_CHECKING:
    from unsir_core.data import ImageData
    from unsir_core.metrics.privacy import MiaResult
    from unsir_core.metrics.relearn import RelearnResult
    from unsir_core.models.classifier import Classifier


@dataclass(frozen=True)
class MetricSettings:
    """How every page measures a model's audits (the same for every method, run and sweep cell)."""

    relearn: bool = True  # measure relearn time (the slowest metric: up to max_epochs small fine-tunes per model)
    relearn_max_epochs: int = 10  # cap; a model that has not relearned by then shows ">10"
    relearn_samples: int = 500  # training samples (of all classes) per relearn epoch (paper: 500)
    relearn_lr: float = 1e-3  # Adam learning rate of the relearning attack
    relearn_probe: int = 100  # forget test images per class on which relearning is checked
    mia_samples: int = MIA_SAMPLES  # members and non-members drawn for each attack (halves fit / score it)
    probe: bool = True  # fit the feature probe on each model (a few seconds per model)
    seed: int = 0  # seeds relearning, the attacks' sampling, the probe's images and ZRF's random model


def relearn_baseline(
    original: Classifier, data: ImageData, gone: Sequence[int], s: MetricSettings
) -> tuple[float, float]:
    """The original's forget accuracy (%) on the relearn probe, and the accuracy that counts as relearned."""
    from unsir_core.metrics.relearn import accuracy, forget_probe, relearn_target

    original_acc = round(accuracy(original, *forget_probe(data, list(gone), s.relearn_probe)), 2)
    return original_acc, relearn_target(original_acc)


def relearn(model: Classifier, data: ImageData, gone: Sequence[int], target: float, s: MetricSettings) -> RelearnResult:
    """Epochs of fine-tuning until `model`'s forget accuracy is back at `target` (see metrics.relearn)."""
    from unsir_core.metrics.relearn import relearn_time

    return relearn_time(
        model,
        data,
        list(gone),
        target,
        s.relearn_max_epochs,
        s.relearn_samples,
        s.relearn_lr,
        s.seed,
        probe_per_class=s.relearn_probe,
    )


def relearn_audit(
    original: Classifier,
    models: Mapping[str, Classifier],
    data: ImageData,
    gone: Sequence[int],
    s: MetricSettings,
    done: Any = None,
) -> dict[str, Any]:
    """{"target", "original", stage: relearn result} for each of `models`, measured against `original`'s
    probe accuracy; `done(i, n)` is called after each model."""
    original_acc, target = relearn_baseline(original, data, gone, s)
    out: dict[str, Any] = {"target": target, "original": original_acc}
    for i, (stage, model) in enumerate(models.items(), start=1):
        out[stage] = relearn(model, data, gone, target, s).to_dict()
        if done is not None:
            done(i, len(models))
    return out


def membership(model: Classifier, data: ImageData, gone: Sequence[int], variant: str, s: MetricSettings) -> MiaResult:
    """The membership-inference attack `variant` on `model`, with the settings' sample count and seed."""
    from unsir_core.metrics.privacy import membership_inference

    return membership_inference(model, data, list(gone), variant=variant, n=s.mia_samples, seed=s.seed)
