"""The checkpoints on disk: their metadata (read from the safetensors header) and the default one per data set.

Torch-free: the dashboard's sidebar and model lists read checkpoint headers before any page needs
torch. Loading and saving weights is `unsir_core.store`.
"""
from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path

from .errors import CheckpointError
from .files import sweep_stale_temps
from .model_info import ModelInfo
from .models import DEFAULT_MODEL
from .paths import ASSETS_DIR, model_store

META_KEY = "unsir_studio"  # header key of the ModelInfo JSON
MAX_HEADER = 100_000_000  # bytes: safetensors' own limit on a header


def read_info(path: str | Path, missing_ok: bool = False) -> ModelInfo | None:
    """Only the metadata of a .safetensors checkpoint, checked; read as plain JSON, without torch or the weights.

    The format: 8 bytes (little-endian length N), N bytes of JSON (a "__metadata__" object of strings
    and one entry per tensor with its byte range), then the tensor data. A header that does not parse,
    or byte ranges that do not match the file's size, mean a damaged file. A file without UNSIR Studio
    metadata raises CheckpointError, or gives None with `missing_ok`; metadata that is there but invalid
    always raises."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            if n > min(MAX_HEADER, size - 8):
                raise ValueError(f"a header of {n:,} bytes in a file of {size:,}")
            header = json.loads(f.read(n))
        if not isinstance(header, dict):
            raise ValueError("the header is not a JSON object")
        ends = [v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"]
        if 8 + n + max(ends, default=0) != size:
            raise ValueError("the tensor data does not match the header's byte ranges (cut short?)")
        meta = header.get("__metadata__") or {}
    except FileNotFoundError:
        raise CheckpointError(f"No checkpoint at {path}.") from None
    except (OSError, ValueError, struct.error, KeyError, TypeError, IndexError) as err:
        check_not_empty(path)
        raise CheckpointError(f"{path.name} is damaged: it is not a valid safetensors file ({err}).") from err
    if META_KEY not in meta:
        if missing_ok:
            return None
        raise CheckpointError(
            f"{path.name} has no UNSIR Studio metadata; load it with an explicit architecture and data set."
        )
    try:
        return ModelInfo.from_dict(json.loads(meta[META_KEY]))
    except (ValueError, TypeError) as err:  # JSON that does not parse, or not a string
        raise CheckpointError(f"The metadata of {path.name} is damaged ({err}).") from err
    except CheckpointError as err:
        raise CheckpointError(f"The metadata of {path.name} is invalid: {err} The checkpoint was not loaded.") from err


def check_not_empty(path: Path) -> None:
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path.name} is empty (0 bytes): the copy or download was cut short. Get the file again.")


@dataclass(frozen=True)
class StoredModel:
    path: Path
    info: ModelInfo
    shipped: bool  # True for checkpoints in assets/ (read-only)


def list_models(dataset: str | None = None, dirs: tuple[Path, ...] | None = None) -> list[StoredModel]:
    """Checkpoints with valid metadata in assets/ and the model store, optionally for one data set.

    A file whose metadata fails `ModelInfo.check_metadata` is skipped: never offered, never read further."""
    found = []
    if model_store().is_dir():
        sweep_stale_temps(model_store())  # leftovers of a save killed mid-way
    for folder in dirs or (ASSETS_DIR, model_store()):
        for path in sorted(Path(folder).glob("*.safetensors")):
            try:
                info = read_info(path)
            except CheckpointError:
                continue
            if dataset is None or info.dataset == dataset:
                found.append(StoredModel(path, info, Path(folder) == ASSETS_DIR))
    return found


def default_checkpoint(dataset: str, arch: str | None = None) -> Path:
    """The shipped (or else stored) original model for `dataset` and `arch` (default: the registry's
    default architecture first, then any); clear error if none."""
    originals = [m for m in list_models(dataset) if m.info.origin == "trained" and not m.info.forgotten]
    for wanted in ([arch] if arch else [DEFAULT_MODEL, None]):
        for m in originals:
            if wanted is None or m.info.arch == wanted:
                return m.path
    what = f"{dataset} with {arch}" if arch else dataset
    raise CheckpointError(
        f"No trained model for {what} in {ASSETS_DIR} or {model_store()}: train one with "
        f"`python -m unsir_core train --dataset {dataset}{' --arch ' + arch if arch else ''}`."
    )
