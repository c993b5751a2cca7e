"""Device choice and the speed switches: bf16 autocast (CUDA only), channels_last, cudnn benchmark.

bf16 autocast is 2-3x slower on the CPUs this project runs on, so mixed precision is CUDA-only.
channels_last pays on both: on the 2-core CPU the Small CNN trains 24% and evaluates 50% faster
(2,467 vs 1,983 and 4,709 vs 3,122 images/s, width 0.5, batch 128/1024).
"""
from __future__ import annotations

import contextlib
import threading

import torch

from .errors import ConfigError

# One lock for all accelerator work in this process: the dashboard serialises runs from several
# browser sessions on it, so two runs never fight for GPU memory.
DEVICE_LOCK = threading.Lock()


def pick_device(preference: str | None = "auto") -> torch.device:
    """"auto" -> CUDA when available, else CPU; "cpu"/"cuda"/"cuda:N" as asked (clear error if absent)."""
    if preference in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(preference)
    except RuntimeError:
        raise ConfigError(f"Unknown device {preference!r}: use auto, cpu, cuda or cuda:N.") from None
    if device.type not in ("cpu", "cuda"):
        raise ConfigError(f"UNSIR Studio runs on cpu or cuda, not {device.type}: use auto, cpu, cuda or cuda:N.")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("CUDA was asked for but no GPU is visible to PyTorch; use --device cpu or auto.")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise ConfigError(f"There is no {preference}: this machine has {torch.cuda.device_count()} GPU(s), "
                          f"cuda:0 to cuda:{torch.cuda.device_count() - 1}.")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    return device


def describe(device: torch.device) -> str:
    """A short name for the UI: the GPU's name, or "CPU (N threads)"."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({torch.get_num_threads()} threads)"


def autocast(device: torch.device):
    """bf16 autocast on CUDA; nothing on CPU (where it is slower)."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def memory_format(device: torch.device) -> torch.memory_format:
    """channels_last on CUDA (tensor cores) and on CPU (oneDNN), see the module docstring."""
    return torch.channels_last if device.type in ("cuda", "cpu") else torch.contiguous_format


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
