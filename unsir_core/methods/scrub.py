"""SCRUB: a student that moves away from the teacher on forget images and stays close on retain images.

The student starts as a copy of the model; the teacher is the frozen original. Each epoch first
runs (for the first `max_epochs` epochs) a max pass over the forget images, maximising
KL(teacher || student), then a min pass over the retain subset minimising
`gamma * CE + alpha * KL(teacher || student)`. Reads forget-class images.

Budget: Kurmanji et al., Towards Unbounded Machine Unlearning (NeurIPS 2023) run a few min epochs (sgda_epochs)
with max steps on the forget set in the first of them (msteps); here 4 and 3, the same order.

Evidence (shipped Small CNN, 1 CPU thread, defaults): A_Df / A_Dr as % of the original's: star 3.8% /
93.0%, triangle 0.4% / 93.3%, circle 0.0% / 95.0%; about 9-11 s. With the paper's lr 5e-4 (Adam here)
and T = 4 it keeps circle at 81% A_Df: too weak on this model.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from unsir_core.common.config import LR_MAX, MAX_SEED, setting
from unsir_core.methods.base import Context, Request, UnlearningMethod, kl_to, pool_size
from unsir_core.models.classifier import Classifier


@dataclass(frozen=True)
class ScrubSettings:
    epochs: int = setting(4, "min passes over the retain subset (paper: sgda_epochs)", 1, 100)
    max_epochs: int = setting(
        3, "the first this many epochs also run a max pass over the forget samples (paper: msteps)", 0, 100
    )
    lr: float = setting(
        2e-3,
        "Adam learning rate (paper: 5e-4 with SGD; at 5e-4 Adam keeps A_Df near 80% here)",
        0,
        LR_MAX,
        low_open=True,
    )
    temperature: float = setting(
        2.0, "distillation temperature (paper: kd_T 4; 2 forgets star 3.8% instead of 14.8%)", 0, 100, low_open=True
    )
    alpha: float = setting(0.5, "weight of KL to the teacher in the min pass (paper: 0.001-0.5)", 0, 1)
    gamma: float = setting(1.0, "weight of cross-entropy in the min pass (paper: 0.99)", 0, 100)
    batch_size: int = setting(64, "samples per step, both passes", 1, 8192)
    forget_samples: int = setting(500, "forget-class training images read (0: all)", 0, 1_000_000)
    retain_per_class: int = setting(200, "retain training images per class (0: all)", 0, 100_000)
    seed: int = setting(0, "sample choice and shuffling", 0, MAX_SEED)


class Scrub(UnlearningMethod):
    name = "scrub"
    title = "SCRUB"
    summary = "Alternate: maximise KL to the original on forget images, minimise CE + KL on retain images."
    paper = "Kurmanji et al., Towards Unbounded Machine Unlearning (NeurIPS 2023)."
    reads_forget = True
    Settings = ScrubSettings

    def planned_images(self, s: ScrubSettings, req: Request) -> float:
        w = req.workload()
        return s.epochs * pool_size(s.retain_per_class, w.retain_per_class) * w.retain_classes + min(
            s.max_epochs, s.epochs
        ) * pool_size(s.forget_samples, w.forget_images)

    def unlearn(self, model: Classifier, ctx: Context, s: ScrubSettings) -> Classifier:
        fx, _ = ctx.forget_train(s.forget_samples)
        rx, ry = ctx.retain_train(s.retain_per_class)
        teacher, work = ctx.frozen_copy(model), ctx.working_copy(model)
        opt = ctx.optimiser(work, s.lr)
        f_batches, r_batches = ctx.batches(len(fx), s.batch_size), ctx.batches(len(rx), s.batch_size)

        def teacher_probs(xb: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                return (ctx.logits(teacher, xb) / s.temperature).softmax(1)

        def max_loss(_: int):
            xb = fx[next(f_batches)]
            return -kl_to(ctx.logits(work, xb), teacher_probs(xb), s.temperature)

        def min_loss(_: int):
            idx = next(r_batches)
            logits = ctx.logits(work, rx[idx])
            return s.gamma * F.cross_entropy(logits, ry[idx]) + s.alpha * kl_to(
                logits, teacher_probs(rx[idx]), s.temperature
            )

        hint = f"Lower the learning rate (now {s.lr}) or max_epochs (now {s.max_epochs})."
        for epoch in range(1, s.epochs + 1):
            if epoch <= s.max_epochs:
                ctx.optimise(work, f"max {epoch}", ctx.steps(len(fx), s.batch_size, 1), max_loss, opt, hint)
            ctx.optimise(work, f"min {epoch}", ctx.steps(len(rx), s.batch_size, 1), min_loss, opt, hint)
        return work
