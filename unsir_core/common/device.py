"""Device choice and the speed switches: bf16 autocast (CUDA only), channels_last, cudnn benchmark.

Torch is imported inside the functions that need it: `describe_without_torch` names the device for the
dashboard's first page without importing torch (about 2 s on a 2-core CPU). It says what
`pick_device("auto")` will choose: an NVIDIA GPU when the driver lists one and CUDA_VISIBLE_DEVICES does not
hide it, else the CPU with torch's default thread count (one per core this process may use).

bf16 autocast is 2-3x slower on the CPUs this project runs on, so mixed precision is CUDA-only.
channels_last pays on both: on the 2-core CPU the Small CNN trains 24% and evaluates 50% faster
(2,467 vs 1,983 and 4,709 vs 3,122 images/s, width 0.5, batch 128/1024).
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from unsir_core.common.errors import ConfigError

if TYPE_CHECKING:
    import torch

NVIDIA_GPUS = Path("/proc/driver/nvidia/gpus")  # one folder per GPU, with an "information" file (Linux)

# One lock for all accelerator work in this process: the dashboard serialises runs from several
# browser sessions on it, so two runs never fight for GPU memory.
DEVICE_LOCK = threading.Lock()


def pick_device(preference: str | None = "auto") -> torch.device:
    """ "auto" -> CUDA when available, else CPU; "cpu"/"cuda"/"cuda:N" as asked (clear error if absent)."""
    import torch

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
        raise ConfigError(
            f"There is no {preference}: this machine has {torch.cuda.device_count()} GPU(s), "
            f"cuda:0 to cuda:{torch.cuda.device_count() - 1}."
        )
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    return device


def describe(device: torch.device) -> str:
    """A short name for the UI: the GPU's name, or "CPU (N threads)"."""
    import torch

    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({torch.get_num_threads()} threads)"


def autocast(device: torch.device):
    """bf16 autocast on CUDA; nothing on CPU (where it is slower)."""
    import torch

    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def memory_format(device: torch.device) -> torch.memory_format:
    """channels_last on CUDA (tensor cores) and on CPU (oneDNN), see the module docstring."""
    import torch

    return torch.channels_last if device.type in ("cuda", "cpu") else torch.contiguous_format


def synchronize(device: torch.device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def gpu_name() -> str | None:
    """The first NVIDIA GPU's model name from the driver, or None when there is none (or it is hidden)."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", "unset").strip() in ("", "-1"):
        return None
    try:
        for info in sorted(NVIDIA_GPUS.glob("*/information")):
            for line in info.read_text().splitlines():
                if line.startswith("Model:"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return None


def describe_without_torch() -> str:
    """Like `device.describe(pick_device("auto"))`: the GPU's name, or "CPU (N threads)"."""
    name = gpu_name()
    if name:
        return name
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return f"CPU ({cores} threads)"
