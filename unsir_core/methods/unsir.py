"""UNSIR (this project's method) behind the common interface: `unsir_core.unlearn.unlearn` with a recipe.

Zero-glance: it reads a small retain subset and never a forget-class image. The settings pick a
preset ("auto": the recipe derived from the data and the model, see recipe.py) and optionally override
its most sensitive fields; None keeps the recipe's value.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..classifier import Classifier
from ..config import UnsirConfig
from ..presets import PRESETS
from ..recipe import Recipe, choose_recipe
from ..unlearn import unlearn
from .base import Context, UnlearningMethod


@dataclass(frozen=True)
class UnsirSettings:
    preset: str = field(default="auto", metadata={"choices": ("auto", *PRESETS)})  # "auto" = the recipe derived from the data and the model, or a preset name
    retain_per_class: int | None = None  # retain subset size per class (None: the recipe's)
    noise_copies: int | None = None  # copies of the noise batch in impair (None: the recipe's)
    noise_steps: int | None = None  # Adam steps on the noise (None: the recipe's)
    impair_lr: float | None = None  # impair learning rate (None: the recipe's)
    repair_lr: float | None = None  # repair learning rate (None: the recipe's)
    repair_epochs: int | None = None  # repair epochs (None: the recipe's)
    seed: int = 0  # noise, retain subset and shuffling

    def __post_init__(self):
        self.apply(UnsirConfig())  # an out-of-range value is refused here, before any method runs

    def recipe(self, ctx: Context, model: Classifier) -> Recipe:
        """The recipe for this request (auto or the named preset), with these settings' overrides applied."""
        chosen = choose_recipe(ctx.data, model.info, list(ctx.forget), self.preset, self.seed)
        return Recipe(chosen.name, self.apply(chosen.config), chosen.choices)

    def apply(self, base: UnsirConfig) -> UnsirConfig:
        return base.with_overrides(**{
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
        recipe = s.recipe(ctx, model)
        cfg = recipe.config
        result = unlearn(model, ctx.data, list(ctx.forget), cfg, ctx.device, ctx.progress, ctx.cancel,
                         keep_impaired=False)
        ctx.losses.update({"noise": result.noise.loss_history, **result.losses})
        outcome = result.repair_outcome
        ctx.details.update({"timings_s": result.timings_s, "retain_samples": len(result.retain_indices),
                            "unsir_config": cfg.to_dict(), "recipe": recipe.to_dict(),
                            "repair_check": outcome.to_dict() if outcome else None,
                            "degraded": bool(outcome and outcome.degraded)})
        return result.model
