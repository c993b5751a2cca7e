"""Retrain from scratch on the retain classes: the gold standard every other method approximates.

`train.fit` with `exclude=` the forgotten classes, so it never reads a forget-class image. By default
it uses the original model's own recorded training settings (shipped Small CNN: 40 epochs, A_Dr 93-95%
of the original's), so it is a full-strength reference. References live in the reference store
(`unsir_core.checkpoints.references`): a matching one, shipped or trained earlier, is loaded instead of trained, and
a new one is kept for the next comparison, session or CLI call. A shorter retrain (`epochs`) is a weaker
reference and is flagged as under-trained when its A_Dr falls below 95% of the original's.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from unsir_core.checkpoints.references import obtain
from unsir_core.common.config import TrainConfig, setting_info
from unsir_core.methods.base import Context, Request, UnlearningMethod
from unsir_core.models.classifier import Classifier, ModelInfo
from unsir_core.training.train import gold_standard_config


@dataclass(frozen=True)
class RetrainSettings:
    # epochs None: as many as the original was trained for; batch_size, lr None: the original's
    epochs: int | None = field(
        default=None,
        metadata={
            **setting_info("epochs", TrainConfig),
            "help": "Passes over the retain-class training images. Empty: as many as the original model's training, "
            "which gives a full-strength reference; fewer is faster but weaker.",
        },
    )
    batch_size: int | None = field(
        default=None,
        metadata={**setting_info("batch_size", TrainConfig), "help": "Samples per step. Empty: the original model's."},
    )
    lr: float | None = field(
        default=None,
        metadata={
            **setting_info("lr", TrainConfig),
            "help": "Peak learning rate of the one-cycle schedule. Empty: the original model's.",
        },
    )
    seed: int = field(
        default=0,
        metadata={
            **setting_info("seed", TrainConfig),
            "help": "Seeds initialisation, shuffling and augmentation; where a retrained model sends a forgotten "
            "class's images varies with it.",
        },
    )

    def train_config(self, original: ModelInfo) -> TrainConfig:
        """The original's recorded training settings with these overrides (None keeps the original's)."""
        cfg = gold_standard_config(original, self.seed, self.epochs)
        return replace(cfg, **{k: v for k, v in (("batch_size", self.batch_size), ("lr", self.lr)) if v is not None})

    @classmethod
    def from_train_config(cls, cfg: TrainConfig) -> RetrainSettings:
        return cls(epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, seed=cfg.seed)


class Retrain(UnlearningMethod):
    name = "retrain"
    title = "Retrain"
    summary = "Train a fresh model of the same architecture on the retain classes only (gold standard)."
    paper = "Standard baseline (exact unlearning); e.g. Tarun et al. 2023, Table 1."
    reads_forget = False
    Settings = RetrainSettings

    def planned_images(self, s: RetrainSettings, req: Request) -> float:
        w = req.workload()
        return s.train_config(req.original).epochs * w.retain_per_class * w.retain_classes

    def resolved(self, s: RetrainSettings, req: Request) -> dict:
        return {k: v for k, v in asdict(s.train_config(req.original)).items() if k in asdict(s)}

    def unlearn(self, model: Classifier, ctx: Context, s: RetrainSettings) -> Classifier:
        progress = None
        if ctx.progress is not None:  # record the losses on the way (fit returns only the model)
            history = ctx.losses.setdefault("train", [])

            def progress(ev):
                history.append(round(ev.loss, 5))
                ctx.progress(ev)

        reference = obtain(model, ctx.data, ctx.gone, s.train_config(model.info), ctx.device, progress, ctx.cancel)
        out = reference.model
        ctx.details["retain_samples"] = int((~ctx.data.class_mask(ctx.data.train_y, ctx.gone)).sum())
        ctx.details.update({k: out.info.details[k] for k in ("train_config", "train_s") if k in out.info.details})
        ctx.details["reference"] = {
            "path": str(reference.path) if reference.path else None,
            "reused": reference.reused,
            "shipped": reference.shipped,
        }
        return out
