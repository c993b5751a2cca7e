"""UNSIR (this project's method) behind the common interface: `unsir_core.algorithm.unlearn.unlearn` with a recipe.

Zero-glance: it reads a small retain subset and never a forget-class image. The settings pick a
preset ("auto": the recipe derived from the data and the model, see recipe.py) and optionally override
its most sensitive fields; None keeps the recipe's value.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from unsir_core.models.classifier import Classifier, ModelInfo
from unsir_core.common.config import UnsirConfig, config_value, setting_info
from unsir_core.data import ImageData
from unsir_core.algorithm.presets import PRESETS
from unsir_core.algorithm.recipe import Recipe, choose_recipe
from unsir_core.algorithm.unlearn import unlearn
from unsir_core.methods.base import Context, Request, UnlearningMethod, Workload

# UnsirSettings field -> dotted UnsirConfig field it overrides
CONFIG_FIELDS = {"retain_per_class": "retain_per_class", "noise_copies": "noise_copies",
                 "noise_batch": "noise.batch_size", "noise_steps": "noise.steps", "noise_lr": "noise.lr",
                 "noise_l2": "noise.l2_weight", "impair_lr": "impair.lr", "impair_epochs": "impair.epochs",
                 "repair_lr": "repair.lr", "repair_epochs": "repair.epochs"}


def _recipe_value(name: str, text: str) -> dict:
    """The metadata of a field that overrides the recipe's `name`: that setting's range, and `text`."""
    return {**setting_info(CONFIG_FIELDS[name]), "help": text + " Empty: the recipe's value."}


@dataclass(frozen=True)
class UnsirSettings:
    preset: str = field(default="auto", metadata={  # "auto": the recipe derived from the data and the model
        "choices": ("auto", *PRESETS),
        "help": "Where the other settings start: auto = the recipe derived from the data, the model and the forget "
                "set (recipe.py), or a preset name."})
    retain_per_class: int | None = field(default=None, metadata=_recipe_value("retain_per_class",  # None: the recipe's
        "Retain subset size per retain class: the only training images UNSIR reads."))
    noise_copies: int | None = field(default=None, metadata=_recipe_value("noise_copies",  # None: the recipe's
        "Copies of the noise batch in the impair data."))
    noise_batch: int | None = field(default=None, metadata=_recipe_value("noise_batch",  # None: the recipe's
        "Noise samples learned per forget class."))
    noise_steps: int | None = field(default=None, metadata=_recipe_value("noise_steps",  # None: the recipe's
        "Adam steps on the noise pixels."))
    noise_lr: float | None = field(default=None, metadata=_recipe_value("noise_lr",  # None: the recipe's
        "Adam learning rate on the noise pixels."))
    noise_l2: float | None = field(default=None, metadata=_recipe_value("noise_l2",  # None: the recipe's
        "Lambda, the weight of the noise's L2 penalty."))
    impair_lr: float | None = field(default=None, metadata=_recipe_value("impair_lr",  # None: the recipe's
        "Impair learning rate (of the body when the recipe gives the head its own)."))
    impair_epochs: int | None = field(default=None, metadata=_recipe_value("impair_epochs",  # None: the recipe's
        "Passes over noise + retain subset."))
    repair_lr: float | None = field(default=None, metadata=_recipe_value("repair_lr",  # None: the recipe's
        "Repair learning rate (of the body when the recipe gives the head its own)."))
    repair_epochs: int | None = field(default=None, metadata=_recipe_value("repair_epochs",  # None: the recipe's
        "Passes over the retain subset."))
    seed: int = field(default=0, metadata={"help": "Seeds the noise, the retain subset and the shuffling."})  # 0

    def __post_init__(self):
        self.apply(UnsirConfig())  # an out-of-range value is refused here, before any method runs

    def recipe_for(self, data: ImageData, info: ModelInfo, forget: Sequence[int]) -> Recipe:
        """The recipe for this request (auto or the named preset), with these settings' overrides applied."""
        chosen = choose_recipe(data, info, list(forget), self.preset, self.seed)
        return Recipe(chosen.name, self.apply(chosen.config), chosen.choices)

    def recipe(self, ctx: Context, model: Classifier) -> Recipe:
        return self.recipe_for(ctx.data, model.info, ctx.forget)

    def apply(self, base: UnsirConfig) -> UnsirConfig:
        return base.with_overrides(seed=self.seed, **{dotted: getattr(self, name)
                                                      for name, dotted in CONFIG_FIELDS.items()})

    @classmethod
    def from_config(cls, preset: str, cfg: UnsirConfig) -> "UnsirSettings":
        """Settings that run exactly `cfg`'s values for every field here, on top of `preset` (e.g. a session's)."""
        return cls(preset=preset if preset in PRESETS else "auto", seed=cfg.seed,
                   **{name: config_value(cfg, dotted) for name, dotted in CONFIG_FIELDS.items()})


def unsir_images(cfg: UnsirConfig, w: Workload) -> float:
    """Training images (forward + backward) one UNSIR run with `cfg` processes: noise, impair and repair."""
    retain = min(cfg.retain_per_class, w.retain_per_class) * w.retain_classes
    noise = cfg.noise.batch_size * w.forget_classes
    return (cfg.noise.steps * noise + cfg.impair.epochs * (retain + cfg.noise_copies * noise)
            + cfg.repair.epochs * retain)


class Unsir(UnlearningMethod):
    name = "unsir"
    title = "UNSIR"
    summary = "Learn error-maximizing noise for the forget classes, impair on noise + retain subset, then repair."
    paper = "Tarun et al., Fast Yet Effective Machine Unlearning (IEEE TNNLS 2023)."
    reads_forget = False
    Settings = UnsirSettings

    def planned_images(self, s: UnsirSettings, req: Request) -> float:
        return unsir_images(s.recipe_for(req.data, req.original, req.forget).config, req.workload())

    def resolved(self, s: UnsirSettings, req: Request) -> dict:
        cfg = s.recipe_for(req.data, req.original, req.forget).config
        return {"preset": s.preset, **{name: config_value(cfg, dotted) for name, dotted in CONFIG_FIELDS.items()},
                "seed": cfg.seed}

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
