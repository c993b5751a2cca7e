"""UNSIR (this project's method) behind the common interface: `unsir_core.algorithm.unlearn.unlearn` with a recipe.

Zero-glance: it reads a small retain subset and never a forget-class image. The settings pick a
preset ("auto": the recipe derived from the data and the model, see recipe.py) and optionally override
its most sensitive fields; None keeps the recipe's value.

Its ablations (`UnsirAblation`, one per `common.config.ABLATIONS` entry but "none") are rows of Compare too: the
same recipe with one part taken out (no noise, random noise, no impair, no repair), so a room sees what each part
contributes on the same request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import field, make_dataclass, replace
from typing import Any

from unsir_core.algorithm.presets import PRESETS
from unsir_core.algorithm.recipe import Recipe
from unsir_core.algorithm.request import resolve_recipe
from unsir_core.algorithm.unlearn import unlearn
from unsir_core.common.config import ABLATIONS, TUNING, UnsirConfig, config_value, flag, setting_info
from unsir_core.data import ImageData
from unsir_core.methods.base import Context, Request, UnlearningMethod, Workload
from unsir_core.models.classifier import Classifier, ModelInfo


def _override(name: str) -> tuple[str, str, Any]:
    """The UnsirSettings field of a tuning setting: named like its flag ("noise.batch_size" -> noise_batch), help
    from the setting itself, None keeping the recipe's value."""
    info = setting_info(name)  # its range too: make_settings checks a value against it before a method runs
    kind = type(config_value(UnsirConfig(), name)).__name__
    help = f"{info['help'][0].upper()}{info['help'][1:]}. Empty: the recipe's value."
    return flag(name)[2:].replace("-", "_"), f"{kind} | None", field(default=None, metadata={**info, "help": help})


CONFIG_FIELDS = {_override(name)[0]: name for name in TUNING}  # UnsirSettings field -> the setting it overrides


class _Recipe:
    """What UnsirSettings does with its values: the recipe for a request with these overrides."""

    def __post_init__(self):
        self.apply(UnsirConfig())  # an out-of-range value is refused here, before any method runs

    def recipe_for(self, data: ImageData, info: ModelInfo, forget: Sequence[int]) -> Recipe:
        """The recipe for this request (auto or the named preset), with these settings' overrides applied: the
        same choice as every other request (`request.resolve_recipe`)."""
        overrides = {dotted: getattr(self, name) for name, dotted in CONFIG_FIELDS.items()}
        return resolve_recipe(
            data,
            info,
            forget,
            self.preset,
            {"seed": self.seed, **{k: v for k, v in overrides.items() if v is not None}},
        )

    def recipe(self, ctx: Context, model: Classifier) -> Recipe:
        return self.recipe_for(ctx.data, model.info, ctx.forget)

    def apply(self, base: UnsirConfig) -> UnsirConfig:
        return base.with_overrides(
            seed=self.seed, **{dotted: getattr(self, name) for name, dotted in CONFIG_FIELDS.items()}
        )

    @classmethod
    def from_config(cls, preset: str, cfg: UnsirConfig) -> UnsirSettings:
        """Settings that run exactly `cfg`'s values for every field here, on top of `preset` (e.g. a session's)."""
        return cls(
            preset=preset if preset in PRESETS else "auto",
            seed=cfg.seed,
            **{name: config_value(cfg, dotted) for name, dotted in CONFIG_FIELDS.items()},
        )


# UNSIR's settings in Compare: a preset, the tuning settings of the vocabulary (common.config.TUNING), the seed.
UnsirSettings = make_dataclass(
    "UnsirSettings",
    [
        (
            "preset",
            "str",
            field(
                default="auto",
                metadata={  # "auto": the recipe derived from the data and the model
                    "choices": ("auto", *PRESETS),
                    "help": "Where the other settings start: auto = the recipe derived from the data, the model and "
                    "the forget set (recipe.py), or a preset name.",
                },
            ),
        ),
        *(_override(name) for name in TUNING),
        ("seed", "int", field(default=0, metadata={"help": "Seeds the noise, the retain subset and the shuffling."})),
    ],
    bases=(_Recipe,),
    frozen=True,
)
UnsirSettings.__module__ = __name__  # pickled by reference (process pools, Ray)


def unsir_images(cfg: UnsirConfig, w: Workload) -> float:
    """Training images (forward + backward) one UNSIR run with `cfg` processes: noise, impair and repair (the
    parts its ablation takes out count nothing)."""
    retain = min(cfg.retain_per_class, w.retain_per_class) * w.retain_classes
    noise = 0 if cfg.ablation == "no-noise" else cfg.noise.batch_size * w.forget_classes
    learned = cfg.noise.steps * noise if cfg.ablation not in ("no-noise", "random-noise") else 0
    impair = 0 if cfg.ablation == "no-impair" else cfg.impair.epochs * (retain + cfg.noise_copies * noise)
    repair = 0 if cfg.ablation == "no-repair" else cfg.repair.epochs * retain
    return learned + impair + repair


class Unsir(UnlearningMethod):
    name = "unsir"
    title = "UNSIR"
    summary = "Learn error-maximizing noise for the forget classes, impair on noise + retain subset, then repair."
    paper = "Tarun et al., Fast Yet Effective Machine Unlearning (IEEE TNNLS 2023)."
    reads_forget = False
    Settings = UnsirSettings
    ablation = "none"  # the part taken out (common.config.ABLATIONS); "none" is UNSIR itself

    def config_for(self, s: UnsirSettings, req: Request) -> UnsirConfig:
        return replace(s.recipe_for(req.data, req.original, req.forget).config, ablation=self.ablation)

    def planned_images(self, s: UnsirSettings, req: Request) -> float:
        return unsir_images(self.config_for(s, req), req.workload())

    def resolved(self, s: UnsirSettings, req: Request) -> dict:
        cfg = self.config_for(s, req)
        return {
            "preset": s.preset,
            **{name: config_value(cfg, dotted) for name, dotted in CONFIG_FIELDS.items()},
            "seed": cfg.seed,
        }

    def unlearn(self, model: Classifier, ctx: Context, s: UnsirSettings) -> Classifier:
        recipe = s.recipe(ctx, model)
        cfg = replace(recipe.config, ablation=self.ablation)
        result = unlearn(
            model, ctx.data, list(ctx.forget), cfg, ctx.device, ctx.progress, ctx.cancel, keep_impaired=False
        )
        ctx.losses.update({"noise": result.noise.loss_history if result.noise else [], **result.losses})
        outcome = result.repair_outcome
        ctx.details.update(
            {
                "timings_s": result.timings_s,
                "retain_samples": len(result.retain_indices),
                "unsir_config": cfg.to_dict(),
                "recipe": recipe.to_dict(),
                "repair_check": outcome.to_dict() if outcome else None,
                "degraded": bool(outcome and outcome.degraded),
            }
        )
        return result.model


class UnsirAblation(Unsir):
    """UNSIR with one part taken out, the same recipe otherwise: a row of Compare beside UNSIR."""

    def __init__(self, ablation: str):
        what, _, how = ABLATIONS[ablation].partition(": ")
        self.ablation = ablation
        self.name = f"unsir_{ablation.replace('-', '_')}"
        self.title = f"UNSIR {what}"
        self.summary = f"UNSIR {what} ({how}); every other setting as UNSIR's, to show what that part contributes."


ABLATION_METHODS = tuple(UnsirAblation(key) for key in ABLATIONS if key != "none")
