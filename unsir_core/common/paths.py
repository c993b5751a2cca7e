"""Where the project keeps files on disk. Override with environment variables."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[2]
ASSETS_DIR = PROJECT_DIR / "assets" / "models"  # shipped checkpoints, made by the project's train command


def home() -> Path:
    """Root of the user's files: $UNSIR_HOME, default ~/.cache/unsir_studio."""
    return Path(os.environ.get("UNSIR_HOME", Path.home() / ".cache" / "unsir_studio"))


def data_root() -> Path:
    """Downloaded and generated data sets: $UNSIR_DATA_ROOT, default $UNSIR_HOME/data."""
    return Path(os.environ.get("UNSIR_DATA_ROOT", home() / "data"))


def model_store() -> Path:
    """The local model store (trained and unlearned checkpoints): $UNSIR_HOME/models."""
    return home() / "models"
