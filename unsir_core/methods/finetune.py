"""Fine-tune on the retain set: hope that catastrophic forgetting erases the forget classes.

Reads no forget-class image. Two rows, for two questions:

- **Fine-tune**, at the literature's budget: 10 epochs over the whole retain set (Jia et al., Model Sparsity Can
  Simplify Machine Unlearning, NeurIPS 2023, and Fan et al., SalUn, ICLR 2024: "FT", 10 epochs, SGD lr 0.01-0.1 on
  ResNet-18; Adam 5e-4 here, the rate the Small CNN was measured at). Golatkar et al. 2020 and Kurmanji et al. 2023
  (SCRUB) find it keeps much of the forget accuracy when run briefly.
- **Fine-tune, UNSIR's repair** (`FinetuneRepair`): exactly UNSIR's repair phase on UNSIR's retain subset (the
  auto recipe's rates, batch, epochs, annealing and fixed layers, same seed), no noise and no impair: the
  matched-budget question "is the noise needed, or does the repair alone forget?".

Evidence (shipped Small CNN, contended 2-core CPU): see docs/results.md and the README's stage table.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F

from unsir_core.algorithm.request import resolve_recipe
from unsir_core.algorithm.unlearn import run_phase
from unsir_core.common.config import LR_MAX, MAX_SEED, UnsirConfig, setting
from unsir_core.methods.base import Context, Request, UnlearningMethod
from unsir_core.models.classifier import Classifier


@dataclass(frozen=True)
class FinetuneSettings:
    epochs: int = setting(10, "passes over the retain images (Jia et al. 2023, Fan et al. 2024: 10)", 1, 100)
    lr: float = setting(
        5e-4,
        "Adam learning rate; 1e-3 forgets a little more (circle: A_Df 67% instead of 76%)",
        0,
        LR_MAX,
        low_open=True,
    )
    batch_size: int = setting(128, "samples per step", 1, 8192)
    retain_per_class: int = setting(
        0, "retain training images per class (0: all, the literature's: the whole retain set)", 0, 100_000
    )
    seed: int = setting(0, "subset choice and shuffling", 0, MAX_SEED)


class Finetune(UnlearningMethod):
    name = "finetune"
    title = "Fine-tune"
    summary = "Keep training on the retain classes only, so the forget classes fade by catastrophic forgetting."
    paper = "Golatkar et al., Eternal Sunshine of the Spotless Net (CVPR 2020), 'Fine-tune' baseline."
    reads_forget = False
    Settings = FinetuneSettings

    def unlearn(self, model: Classifier, ctx: Context, s: FinetuneSettings) -> Classifier:
        x, y = ctx.retain_train(s.retain_per_class)
        work = ctx.working_copy(model)
        batches = ctx.batches(len(x), s.batch_size)

        def loss(_: int):
            idx = next(batches)
            return F.cross_entropy(ctx.logits(work, x[idx]), y[idx])

        ctx.optimise(
            work,
            "finetune",
            ctx.steps(len(x), s.batch_size, s.epochs),
            loss,
            ctx.optimiser(work, s.lr),
            hint=f"Lower the fine-tune learning rate (now {s.lr}).",
        )
        return work


@dataclass(frozen=True)
class FinetuneRepairSettings:
    seed: int = setting(0, "the retain subset (UNSIR's, for the same seed) and shuffling", 0, MAX_SEED)


class FinetuneRepair(UnlearningMethod):
    name = "finetune_repair"
    title = "Fine-tune, UNSIR's repair"
    summary = "Fine-tune with exactly UNSIR's repair settings on its retain subset: no noise, no impair."
    paper = "Matched-budget baseline for UNSIR (Tarun et al. 2023): the question is whether the noise is needed."
    reads_forget = False
    Settings = FinetuneRepairSettings

    @staticmethod
    def config(s: FinetuneRepairSettings, data, info, forget) -> UnsirConfig:
        """UNSIR's auto recipe for this request, with this seed: its repair phase and retain subset size."""
        return resolve_recipe(data, info, list(forget), None, {"seed": s.seed}).config

    def planned_images(self, s: FinetuneRepairSettings, req: Request) -> float:
        cfg, w = self.config(s, req.data, req.original, req.forget), req.workload()
        return cfg.repair.epochs * min(cfg.retain_per_class, w.retain_per_class) * w.retain_classes

    def unlearn(self, model: Classifier, ctx: Context, s: FinetuneRepairSettings) -> Classifier:
        cfg = self.config(s, ctx.data, model.info, ctx.forget)
        x, y = ctx.retain_train(cfg.retain_per_class)
        work = ctx.working_copy(model)
        ctx.losses["finetune"] = run_phase(
            work, "finetune", cfg.repair, x, y, generator=ctx.generator, progress=ctx.progress, cancel=ctx.cancel
        )
        ctx.details["unsir_config"] = cfg.to_dict()
        return work
