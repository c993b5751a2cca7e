"""Training an original model from the dashboard: a job with live loss and ETA, saved to the model store."""

from __future__ import annotations

import time

from unsir_core.checkpoints.store import save_model, slug
from unsir_core.common.config import TrainConfig
from unsir_core.common.errors import UnsirError
from unsir_core.common.paths import model_store
from unsir_core.models import get_spec
from unsir_core.training.train import fit

from . import jobs, loaders, state
from .imports import unique_path
from .setup import Setup
from .ui import data_label


def recorded_config(setup: Setup) -> dict:
    """The training settings the setup's model recorded ({} when it has none, e.g. an imported one)."""
    try:
        return loaders.model_info(setup).details.get("train_config", {})
    except UnsirError:
        return {}


def request(setup: Setup, cfg: TrainConfig) -> None:
    """on_click: train the setup's architecture on its data set with `cfg`."""
    title = f"Training {get_spec(setup.arch).title} on {data_label(setup.dataset)} ({cfg.epochs} epochs)"
    jobs.request("train", title, setup=setup, cfg=cfg)


def execute() -> None:
    jobs.execute("train", _work, _commit, chart="loss")


def _work(job: jobs.Job, progress: jobs.ProgressView) -> str:
    setup, cfg = job.params["setup"], job.params["cfg"]
    model = fit(loaders.data(setup.dataset), setup.arch, cfg, device=loaders.device(), progress=progress)
    name = slug(
        f"{data_label(setup.dataset)}-{setup.arch}-{cfg.epochs}ep-seed{cfg.seed}-{time.strftime('%H%M%S')}.safetensors"
    )
    return save_model(model, unique_path(model_store() / name)).name  # atomic: a whole file or none


def _commit(name: str, samples: list[dict]) -> str:
    state.set_setup(state.setup().with_value("model", name))
    return f"Trained and saved {name} in the model store; it is now the selected model."
