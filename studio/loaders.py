"""Cached loading of data sets and checkpoints, shared by every browser session.

Cached objects are shared and must never change: the engine works on copies (`unlearn`, `fit`,
`heatmaps` and `relearn_time` all copy the network first). Checkpoints are cached by path and
modification time, so a replaced file is read again.

Torch is imported by the functions that load weights or data, not by this module: the sidebar reads
checkpoint headers only, and the first page renders without torch (about 2 s less on a 2-core CPU).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st

from unsir_core.checkpoints import roots
from unsir_core.checkpoints.catalog import StoredModel, default_checkpoint, list_models, read_info
from unsir_core.common.config import TrainConfig
from unsir_core.common.errors import CheckpointError
from unsir_core.common.paths import ASSETS_DIR, model_store
from unsir_core.models import get_spec

from .setup import Setup

if TYPE_CHECKING:
    import torch

    from unsir_core.data import ImageData
    from unsir_core.models.classifier import Classifier, ModelInfo


@st.cache_resource(max_entries=3, show_spinner="Loading the data set…")
def data(name: str) -> ImageData:
    """The data set `name` (downloaded when missing and online; DataError with instructions offline).

    An image folder (`folder:PATH`) must lie inside the configured data roots (`unsir_core.checkpoints.roots`)."""
    from unsir_core.data import load_dataset

    if name.startswith("folder:"):
        roots.data_folder(name.split(":", 1)[1])
    return load_dataset(name)


@st.cache_resource(show_spinner=False)
def device() -> torch.device:
    from unsir_core.common.device import pick_device

    return pick_device("auto")


def device_name() -> str:
    """The device in words; before any page has needed torch, without importing it (`device.describe_without_torch`)."""
    if "torch" not in sys.modules:
        from unsir_core.common.device import describe_without_torch

        return describe_without_torch()
    from unsir_core.common.device import describe

    return describe(device())


def model_path(setup: Setup) -> Path:
    """The checkpoint file of the setup: the chosen one, or the default for its data set and architecture."""
    if not setup.model:
        return default_checkpoint(setup.dataset, setup.arch)
    for folder in (ASSETS_DIR, model_store()):
        if (folder / setup.model).exists():
            return folder / setup.model
    raise CheckpointError(
        f"The checkpoint {setup.model} is neither in {ASSETS_DIR} nor in {model_store()}: "
        "choose another one on the Model and data page."
    )


@st.cache_resource(max_entries=6, show_spinner="Loading the model…")
def _load(path: str, mtime: float) -> Classifier:
    from unsir_core.checkpoints.store import load_model

    return load_model(path)


@st.cache_data(max_entries=32, show_spinner=False)
def _info(path: str, mtime: float) -> ModelInfo:
    return read_info(path)


def model_info(setup: Setup) -> ModelInfo:
    """The setup's checkpoint metadata, read from the file header only (fast: no weights)."""
    path = model_path(setup)
    return _info(str(path), path.stat().st_mtime)


def model(setup: Setup) -> Classifier:
    """The setup's original model (shared: never train it in place); CheckpointError when it does not fit."""
    path = model_path(setup)
    loaded = _load(str(path), path.stat().st_mtime)
    if loaded.info.arch != setup.arch:
        raise CheckpointError(
            f"{path.name} is a {get_spec(loaded.info.arch).title} checkpoint, not "
            f"{get_spec(setup.arch).title}: choose a matching one on the Model and data page."
        )
    loaded.info.check_fits(data(setup.dataset))
    return loaded


SPEED_BATCHES = 12  # timed training steps behind the retraining estimate (after 2 warm-up steps)


def load_checkpoint(path: Path) -> Classifier:
    """A checkpoint by path, from the shared cache (for `run_request`, which finds a chain's true original)."""
    return _load(str(path), path.stat().st_mtime)


@st.cache_data(max_entries=16, show_spinner="Timing a few training steps…")
def _training_speed(path: str, mtime: float, dataset: str, batch_size: int) -> float:
    # 12 steps, not 2: two steps after the warm-up still ran at a quarter of the speed of a real retrain
    # (108-124 img/s against 518 over 8 steps, loaded 2-core CPU), so the estimate was 2x too long. The faster of
    # two timings: anything else running (the browser drawing this page) only slows one down. On the quiet 2-core
    # CPU single timings varied 2,145-2,704 img/s; six runs of this rule estimated 40-epoch retrains that took
    # 134-140 s at 0.82-1.05x their real time.
    from unsir_core.training import train

    cfg = TrainConfig(batch_size=batch_size)
    return max(
        train.training_speed(_info(path, mtime), data(dataset), cfg, device(), batches=SPEED_BATCHES)[1]
        for _ in range(2)
    )


def training_speed(setup: Setup, batch_size: int) -> float:
    """Images per second that training the setup's architecture reaches on this device (timed steps, cached)."""
    path = model_path(setup)
    return _training_speed(str(path), path.stat().st_mtime, setup.dataset, batch_size)


@st.cache_data(max_entries=16, show_spinner="Evaluating the model on the test split…")
def _test_accuracy(path: str, mtime: float, dataset: str) -> list[float]:
    from unsir_core.metrics.evaluate import evaluate

    return evaluate(_load(path, mtime), data(dataset), ()).per_class_acc


def per_class_accuracy(setup: Setup) -> list[float]:
    """Test accuracy (%) per class of the setup's model."""
    path = model_path(setup)
    model(setup)  # checks that it fits the data set
    return _test_accuracy(str(path), path.stat().st_mtime, setup.dataset)


def stored_models(setup: Setup) -> list[StoredModel]:
    """Checkpoints in assets/ and the model store for the setup's data set and architecture."""
    return [m for m in list_models(setup.dataset) if m.info.arch == setup.arch]
