"""The noise preview of the Forget classes and noise page: UNSIR's first step, run on its own.

It is the same computation `unlearn` starts with (a frozen copy of the model, a generator seeded
with the run's seed), so the preview is exactly the noise the next run with this setup learns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import streamlit as st
import torch

from unsir_core.algorithm.noise import Noise, freeze, optimize_noise
from unsir_core.common.device import memory_format
from unsir_core.models.classifier import Classifier

from . import jobs, loaders, runs
from .setup import Setup

PREVIEW = "noise_preview"


@dataclass(frozen=True)
class NoisePreview:
    key: tuple[Any, ...]  # what it was learned for: see `key_for`
    noise: Noise
    probs: torch.Tensor  # [K*B, classes] the original model's softmax on each noise image (CPU)


def key_for(setup: Setup, model_name: str) -> tuple[Any, ...]:
    """Everything the noise depends on: data set, checkpoint (and earlier requests), forget classes, noise
    settings and seed."""
    return (setup.dataset, model_name, setup.chain, tuple(sorted(setup.forget)), setup.config.noise, setup.config.seed)


def request(setup: Setup) -> None:
    jobs.request("noise", f"Noise for {', '.join(setup.forget)}", setup=setup)


def execute() -> None:
    jobs.execute("noise", _work, _commit, chart="loss")


def _work(job: jobs.Job, progress: jobs.ProgressView) -> NoisePreview:
    setup: Setup = job.params["setup"]
    model = runs.starting_model(setup)
    forget = loaders.data(setup.dataset).forget_classes(setup.forget, model.info.forgotten)
    device = loaders.device()
    work = model.copy()  # the cached model is shared: never touch it
    work.net.to(device, memory_format=memory_format(device))
    freeze(work)
    noise = optimize_noise(work, forget, setup.config.noise, torch.Generator().manual_seed(setup.config.seed), progress)
    return NoisePreview(key_for(setup, loaders.model_path(setup).name), noise, _softmax(work, noise))


@torch.no_grad()
def _softmax(model: Classifier, noise: Noise) -> torch.Tensor:
    return model.net(noise.images.to(model.device)).float().softmax(1).cpu()


def _commit(preview: NoisePreview, samples: list[dict]) -> str:
    st.session_state[PREVIEW] = preview
    return (
        f"Noise learned: the frozen model's cross-entropy on it is {preview.noise.forget_ce:.2f} "
        f"(mean L2 norm {preview.noise.l2_norm:.1f})."
    )


def current(setup: Setup) -> NoisePreview | None:
    """The preview for this setup, or else the noise of the newest run with the same key."""
    key = key_for(setup, loaders.model_path(setup).name)
    preview = st.session_state.get(PREVIEW)
    if preview is not None and preview.key == key:
        return preview
    for record in reversed(runs.history()):
        if (
            record.unsir is not None
            and record.unsir.result.noise is not None
            and key_for(record.setup, record.model_name) == key
        ):
            original = record.unsir.original
            return NoisePreview(key, record.unsir.result.noise, _softmax(original, record.unsir.result.noise))
    return None
