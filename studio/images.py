"""Tensors to displayable images: crisp upscaling, coloured frames, class mosaics, noise for the eye."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from unsir_core.data import ImageData
from unsir_core.models.classifier import unprepare

DISPLAY = 96  # pixels of a displayed 32x32 image (nearest-neighbour upscaling keeps it crisp)


def to_rgb(x: torch.Tensor) -> np.ndarray:
    """One uint8 image [C, H, W] (grey or RGB) -> uint8 [H, W, 3]."""
    return x.detach().cpu().expand(3, -1, -1).permute(1, 2, 0).contiguous().numpy()


def upscale(img: np.ndarray, size: int = DISPLAY) -> np.ndarray:
    """uint8 [H, W, 3] -> [size', size', 3] by pixel repetition (an integer factor, at least 1)."""
    factor = max(1, size // img.shape[0])
    return img.repeat(factor, axis=0).repeat(factor, axis=1)


def framed(img: np.ndarray, color: str, width: int = 4) -> np.ndarray:
    """A coloured frame (hex colour) around uint8 [H, W, 3]."""
    rgb = np.array([int(color[i : i + 2], 16) for i in (1, 3, 5)], dtype=np.uint8)
    out = np.empty((img.shape[0] + 2 * width, img.shape[1] + 2 * width, 3), dtype=np.uint8)
    out[:] = rgb
    out[width:-width, width:-width] = img
    return out


def class_indices(data: ImageData, cls: int, count: int) -> torch.Tensor:
    """The first `count` test indices of class `cls` (a fixed, reproducible choice)."""
    return (data.test_y == cls).nonzero().flatten()[:count].cpu()


def class_mosaic(data: ImageData, cls: int, side: int = 2) -> np.ndarray:
    """side x side test images of class `cls` tiled into one uint8 image."""
    idx = class_indices(data, cls, side * side)
    tiles = [to_rgb(data.test_x[i]) for i in idx]
    tiles += [np.zeros_like(tiles[0])] * (side * side - len(tiles))
    rows = [np.concatenate(tiles[r * side : (r + 1) * side], axis=1) for r in range(side)]
    return upscale(np.concatenate(rows, axis=0), DISPLAY * side)


def noise_for_display(
    images: torch.Tensor, mean: Sequence[float], std: Sequence[float], size: int = DISPLAY
) -> list[np.ndarray]:
    """Noise [B, C, S, S] in normalised space -> uint8 [S, S, 3] per image, min-max stretched per image.

    Undo the normalisation (`unprepare`), then stretch each image to the full range: the noise is
    faint, and only its pattern matters to the eye.
    """
    x = unprepare(images.detach().float().cpu(), tuple(mean), tuple(std))  # [B, C, S, S] in [0, 1]
    lo = x.amin(dim=(1, 2, 3), keepdim=True)
    hi = x.amax(dim=(1, 2, 3), keepdim=True)
    x = ((x - lo) / (hi - lo).clamp_min(1e-8) * 255).round().to(torch.uint8)
    return [upscale(to_rgb(img), size) for img in x]
