"""Helpers shared by several test files: the repository root, the shipped checkpoint, a model's bytes as .pt."""
from __future__ import annotations

import io
from pathlib import Path

import torch

from unsir_core.common.paths import ASSETS_DIR

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ASSETS_DIR / "shapes10-smallcnn.safetensors"


def pt_bytes(model) -> bytes:
    buf = io.BytesIO()
    torch.save(model.net.state_dict(), buf)
    return buf.getvalue()

