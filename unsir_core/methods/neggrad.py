"""NegGrad: gradient ascent on the forget set, i.e. minimise -CE on forget-class training images.

Reads forget-class images. Nothing holds the retain classes in place, so the forget loss is pushed
up by damaging the whole network: the literature (Golatkar et al. 2020; Kurmanji et al. 2023)
reports a large loss of retain accuracy, which these defaults reproduce on Shapes-10.

Budget: the literature's GA runs 5 epochs over the forget set at SGD lr 1e-5 to 1e-3 (Jia et al., Model Sparsity
Can Simplify Machine Unlearning, NeurIPS 2023; Fan et al., SalUn, ICLR 2024; their scripts: 5 epochs, lr 1e-4).
Here 1 epoch over 500 forget images at Adam 1e-3 already costs half the retain accuracy, so the default stays
below the literature's budget; `compare --set neggrad.epochs=5` gives it (not re-measured for issue 21).

Evidence (shipped Small CNN, 1 CPU thread, defaults): A_Df / A_Dr as % of the original's: star 1.3% /
46.8%, triangle 0.0% / 42.7%, circle 0.0% / 48.8%; about 0.5 s.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F

from unsir_core.common.config import LR_MAX, MAX_SEED, setting
from unsir_core.methods.base import Context, UnlearningMethod
from unsir_core.models.classifier import Classifier


@dataclass(frozen=True)
class NegGradSettings:
    epochs: int = setting(1, "passes over the forget samples", 1, 100)
    lr: float = setting(1e-3, "Adam learning rate of the ascent", 0, LR_MAX, low_open=True)
    batch_size: int = setting(64, "forget samples per step", 1, 8192)
    forget_samples: int = setting(500, "forget-class training images read (0: all)", 0, 1_000_000)
    seed: int = setting(0, "sample choice and shuffling", 0, MAX_SEED)


class NegGrad(UnlearningMethod):
    name = "neggrad"
    title = "NegGrad"
    summary = "Gradient ascent on the forget-class training images (maximise their cross-entropy)."
    paper = "Golatkar et al. 2020; 'NegGrad' in Kurmanji et al., Towards Unbounded Machine Unlearning (2023)."
    reads_forget = True
    Settings = NegGradSettings

    def unlearn(self, model: Classifier, ctx: Context, s: NegGradSettings) -> Classifier:
        x, y = ctx.forget_train(s.forget_samples)
        work = ctx.working_copy(model)
        batches = ctx.batches(len(x), s.batch_size)

        def loss(_: int):
            idx = next(batches)
            return -F.cross_entropy(ctx.logits(work, x[idx]), y[idx])

        ctx.optimise(
            work,
            "ascent",
            ctx.steps(len(x), s.batch_size, s.epochs),
            loss,
            ctx.optimiser(work, s.lr),
            hint=f"Lower the NegGrad learning rate (now {s.lr}).",
        )
        return work
