"""UNSIR (this project's method) behind the common interface: `unsir_core.unlearn.unlearn` with a preset.

Zero-glance: it reads a small retain subset and never a forget-class image. The settings pick a
preset ("auto": the one tuned for the data set and model, see presets.py) and optionally override
its most sensitive fields; None keeps the preset's value.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..classifier import Classifier
from ..config import UnsirConfig
from ..presets import PRESETS, get_preset, preset_for
from ..unlearn import unlearn
from .base import Context, UnlearningMethod


@dataclass(frozen=True)
class UnsirSettings:
    preset: str = field(default="auto", metadata={"choices": ("auto", *PRESETS)})  # preset name from presets.PRESETS; "auto" = the one tuned for this data set and model
    retain_per_class: int | None = None  # retain subset size per class (None: the preset's; Shapes-10: 150)
    noise_copies: int | None = None  # copies of the noise batch in impair (None: the preset's; Shapes-10: 8)
    noise_steps: int | None = None  # Adam steps on the noise (None: the preset's; Shapes-10: 20)
    impair_lr: float | None = None  # impair learning rate (None: the preset's; Shapes-10: 0.01)
    repair_lr: float | None = None  # repair learning rate (None: the preset's; Shapes-10: 0.002)
    repair_epochs: int | None = None  # repair epochs (None: the preset's; Shapes-10: 3)
    seed: int = 0  # noise, retain subset and shuffling

    def config(self, dataset: str, arch: str) -> UnsirConfig:
        preset = preset_for(dataset, arch) if self.preset == "auto" else get_preset(self.preset)
        return preset.config.with_overrides(**{
            "seed": self.seed, "retain_per_class": self.retain_per_class, "noise_copies": self.noise_copies,
            "noise.steps": self.noise_steps, "impair.lr": self.impair_lr, "repair.lr": self.repair_lr,
            "repair.epochs": self.repair_epochs})


class Unsir(UnlearningMethod):
    name = "unsir"
    title = "UNSIR"
    summary = "Learn error-maximizing noise for the forget classes, impair on noise + retain subset, then repair."
    paper = "Tarun et al., Fast Yet Effective Machine Unlearning (IEEE TNNLS 2023)."
    reads_forget = False
    Settings = UnsirSettings

    def unlearn(self, model: Classifier, ctx: Context, s: UnsirSettings) -> Classifier:
        cfg = s.config(model.info.dataset, model.info.arch)
        result = unlearn(model, ctx.data, list(ctx.forget), cfg, ctx.device, ctx.progress, ctx.cancel,
                         keep_impaired=False)
        ctx.losses.update({"noise": result.noise.loss_history, **result.losses})
        ctx.details.update({"timings_s": result.timings_s, "retain_samples": len(result.retain_indices),
                            "unsir_config": cfg.to_dict()})
        return result.model
