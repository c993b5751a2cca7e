"""Fine-tune on the retain set: hope that catastrophic forgetting erases the forget classes.

Reads no forget-class image. The literature (Golatkar et al. 2020; Kurmanji et al. 2023) finds it
keeps most of the forget accuracy when run briefly: it is the "too weak" end of the comparison.

Evidence (shipped Small CNN, 1 CPU thread, defaults): A_Df / A_Dr as % of the original's: star 85.7% /
99.4%, triangle 91.2% / 99.1%, circle 75.5% / 99.4%; about 5 s.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F

from unsir_core.common.config import LR_MAX, MAX_SEED, setting
from unsir_core.methods.base import Context, UnlearningMethod
from unsir_core.models.classifier import Classifier


@dataclass(frozen=True)
class FinetuneSettings:
    epochs: int = setting(2, "passes over the retain subset", 1, 100)
    lr: float = setting(
        5e-4,
        "Adam learning rate; 1e-3 forgets a little more (circle: A_Df 67% instead of 76%)",
        0,
        LR_MAX,
        low_open=True,
    )
    batch_size: int = setting(128, "samples per step", 1, 8192)
    retain_per_class: int = setting(
        300, "retain training images per class (0: all); about 30% of Shapes-10's", 0, 100_000
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
