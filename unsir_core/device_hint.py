"""The compute device in words without importing torch (about 2 s on a 2-core CPU), for the first page.

It says what `device.pick_device("auto")` will choose: an NVIDIA GPU when the driver lists one and
CUDA_VISIBLE_DEVICES does not hide it, else the CPU with torch's default thread count (one per core
this process may use). Once a page has loaded torch, the dashboard asks torch itself.
"""
from __future__ import annotations

import os
from pathlib import Path

NVIDIA_GPUS = Path("/proc/driver/nvidia/gpus")  # one folder per GPU, with an "information" file (Linux)


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
