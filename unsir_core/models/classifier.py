"""`Classifier`: a network plus what it needs to be used and explained (`ModelInfo`).

The network takes normalised, resized float input [B, C, S, S]; `Classifier.prepare` turns uint8
images into that. The paper's noise lives in the same normalised space.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from unsir_core.models import get_spec
from unsir_core.models.info import ModelInfo

__all__ = ["Classifier", "ModelInfo", "prepare", "unprepare"]


@dataclass(frozen=True)
class Classifier:
    net: nn.Module  # takes prepare(x) -> logits [B, K]
    info: ModelInfo

    @classmethod
    def create(cls, info: ModelInfo) -> Classifier:
        return cls(get_spec(info.arch).create(info.num_classes, info.in_channels, info.width), info)

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 [B, C, H, W] -> normalised float [B, C, S, S] on x's device."""
        return prepare(x, self.info.mean, self.info.std, self.info.input_size)

    def copy(self, **info_changes: Any) -> Classifier:
        """A deep copy of the network (the original is never touched) with updated info."""
        return Classifier(copy.deepcopy(self.net), replace(self.info, **info_changes))

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device


@functools.lru_cache(maxsize=32)
def _stats(mean: tuple[float, ...], std: tuple[float, ...], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalisation constants [1, C, 1, 1] on `device`, made once (no host-to-device copy per batch)."""
    return (torch.tensor(mean, device=device).view(1, -1, 1, 1), torch.tensor(std, device=device).view(1, -1, 1, 1))


def prepare(x: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...], size: int) -> torch.Tensor:
    """uint8 [B, C, H, W] -> (x/255 - mean)/std, bilinearly resized to size x size when needed."""
    m, s = _stats(tuple(mean), tuple(std), x.device)
    out = (x.float().div_(255) - m) / s
    if out.shape[-1] != size or out.shape[-2] != size:
        out = F.interpolate(out, size=(size, size), mode="bilinear", align_corners=False)
    return out


def unprepare(x: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """Normalised float [B, C, S, S] -> [0, 1] float, for display (clipped)."""
    m, s = _stats(tuple(mean), tuple(std), x.device)
    return (x * s + m).clamp(0, 1)
