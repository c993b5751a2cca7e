"""Bad Teacher: distil from a competent teacher on retain images and an incompetent one on forget images.

The student starts as a copy of the model. On retain images it matches the original model (the
competent teacher); on forget images it matches a randomly initialised network (the incompetent
teacher), so its answers there become as uninformed as random. Reads forget-class images.

Budget: the paper's, 1 epoch over the forget images and 30% of the retain set (Chundawat et al., AAAI 2023);
here 500 forget images and 300 retain images per class (30% of Shapes-10's).

Evidence (shipped Small CNN, 1 CPU thread, defaults): A_Df / A_Dr as % of the original's: star 0.8% /
95.6%, triangle 3.8% / 84.0%, circle 0.8% / 87.5%; about 5 s. lr 5e-4 leaves star at 12% A_Df.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from unsir_core.common.config import LR_MAX, MAX_SEED, setting
from unsir_core.methods.base import Context, UnlearningMethod, kl_to
from unsir_core.models.classifier import Classifier


@dataclass(frozen=True)
class BadTeacherSettings:
    epochs: int = setting(1, "passes over forget + retain samples (paper: 1)", 1, 100)
    lr: float = setting(
        1e-3, "Adam learning rate (paper: 1e-4 on ResNet18; the small CNN needs more)", 0, LR_MAX, low_open=True
    )
    temperature: float = setting(1.0, "distillation temperature (paper: KL_temperature 1)", 0, 100, low_open=True)
    batch_size: int = setting(128, "samples per step (mixed forget and retain)", 1, 8192)
    forget_samples: int = setting(500, "forget-class training images read (0: all)", 0, 1_000_000)
    retain_per_class: int = setting(300, "retain training images per class (paper: 30% of the retain set)", 0, 100_000)
    seed: int = setting(0, "the random teacher, sample choice and shuffling", 0, MAX_SEED)


class BadTeacher(UnlearningMethod):
    name = "bad_teacher"
    title = "Bad Teacher"
    summary = "Distil the original model on retain images and a random network on forget images."
    paper = "Chundawat et al., Can Bad Teaching Induce Forgetting? (AAAI 2023)."
    reads_forget = True
    Settings = BadTeacherSettings

    def unlearn(self, model: Classifier, ctx: Context, s: BadTeacherSettings) -> Classifier:
        fx, _ = ctx.forget_train(s.forget_samples)
        rx, _ = ctx.retain_train(s.retain_per_class)
        x = torch.cat([fx, rx])
        is_forget = torch.cat([torch.ones(len(fx)), torch.zeros(len(rx))]).bool().to(ctx.device)  # [N]
        competent, incompetent = ctx.frozen_copy(model), ctx.random_model(model)
        work = ctx.working_copy(model)
        batches = ctx.batches(len(x), s.batch_size)

        def loss(_: int):
            idx = next(batches)
            xb = x[idx]
            with torch.no_grad():
                good = (ctx.logits(competent, xb) / s.temperature).softmax(1)
                bad = (ctx.logits(incompetent, xb) / s.temperature).softmax(1)
                target = torch.where(is_forget[idx].view(-1, 1), bad, good)
            return kl_to(ctx.logits(work, xb), target, s.temperature)

        ctx.optimise(
            work,
            "distil",
            ctx.steps(len(x), s.batch_size, s.epochs),
            loss,
            ctx.optimiser(work, s.lr),
            hint=f"Lower the learning rate (now {s.lr}).",
        )
        return work
