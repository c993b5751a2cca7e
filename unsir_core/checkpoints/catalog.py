"""The checkpoints on disk: their metadata (read from the safetensors header) and the default one per data set.

Torch-free: the dashboard's sidebar and model lists read checkpoint headers before any page needs
torch. Loading and saving weights is `unsir_core.checkpoints.store`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from unsir_core.common import safe_json
from unsir_core.common.errors import CheckpointError
from unsir_core.common.files import sweep_stale_temps
from unsir_core.common.paths import ASSETS_DIR, model_store
from unsir_core.models import DEFAULT_MODEL
from unsir_core.models.info import ModelInfo

META_KEY = "unsir_studio"  # header key of the ModelInfo JSON
MAX_HEADER = 8_000_000  # bytes of header JSON read at most (a checkpoint of this app has a few KB; safetensors
# allows 100 MB, which a forged file could fill with JSON that costs seconds and hundreds of MB to parse)


def read_info(path: str | Path, missing_ok: bool = False) -> ModelInfo | None:
    """Only the metadata of a .safetensors checkpoint, checked; read as plain JSON, without torch or the weights.

    A header that does not parse, or byte ranges that do not match the file's size, mean a damaged file
    (see `read_header`). A file without UNSIR Studio metadata raises CheckpointError, or gives None with
    `missing_ok`; metadata that is there but invalid always raises."""
    path = Path(path)
    with _opened(path) as f:
        meta = read_header(f, path.stat().st_size, path.name)[0].get("__metadata__", {})
    if META_KEY not in meta:
        if missing_ok:
            return None
        raise CheckpointError(
            f"{path.name} has no UNSIR Studio metadata; load it with an explicit architecture and data set "
            "(on the command line: --arch and --dataset)."
        )
    try:
        return ModelInfo.from_dict(safe_json.loads(meta[META_KEY], MAX_HEADER, "the metadata"))
    except ValueError as err:  # JSON that does not parse, or is too large or too deep
        raise CheckpointError(f"The metadata of {path.name} is damaged ({err}).") from err
    except CheckpointError as err:
        raise CheckpointError(f"The metadata of {path.name} is invalid: {err} The checkpoint was not loaded.") from err


@contextmanager
def _opened(path: Path) -> Iterator[BinaryIO]:
    try:
        with open(path, "rb") as f:
            yield f
    except FileNotFoundError:
        raise CheckpointError(f"No checkpoint at {path}.") from None


def read_header(f: BinaryIO, size: int, name: str) -> tuple[dict[str, Any], int]:
    """The safetensors header of the stream `f` of `size` bytes, checked, and its length N.

    The format: 8 bytes (little-endian N), N bytes of JSON (a "__metadata__" object of strings and one
    entry per tensor: dtype, shape, byte range), then the tensor data. CheckpointError calls the file
    damaged when the header is too large, too deep or not of this form, or its byte ranges do not match."""
    try:
        n = struct.unpack("<Q", f.read(8))[0]
        if n > min(MAX_HEADER, size - 8):
            raise ValueError(f"a header of {n:,} bytes in a file of {size:,} (at most {MAX_HEADER:,} are read)")
        header = safe_json.loads(f.read(n), MAX_HEADER, "the header")
        if not isinstance(header, dict):
            raise ValueError("the header is not a JSON object")
        meta = header.get("__metadata__", {})
        if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
            raise ValueError("__metadata__ is not an object of strings")
        ends = []
        for key, entry in header.items():
            if key != "__metadata__":
                if not (
                    isinstance(entry, dict)
                    and isinstance(entry.get("dtype"), str)
                    and _ints(entry.get("shape"))
                    and _ints(entry.get("data_offsets"))
                    and len(entry["data_offsets"]) == 2
                    and 0 <= entry["data_offsets"][0] <= entry["data_offsets"][1]
                ):
                    raise ValueError(f"the entry of tensor {key[:80]!r} is not a dtype, shape and byte range")
                ends.append(entry["data_offsets"][1])
        if 8 + n + max(ends, default=0) != size:
            raise ValueError("the tensor data does not match the header's byte ranges (cut short?)")
    except (OSError, ValueError, struct.error) as err:
        if size == 0:
            raise _empty(name) from None
        raise CheckpointError(f"{name} is damaged: it is not a valid safetensors file ({err}).") from err
    return header, n


def _ints(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in v)


def weights_sha256(path: Path) -> str:
    """The digest of a .safetensors checkpoint's weights (`stream_sha256`), read once per file version."""
    stat = path.stat()
    return _cached_sha256(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=64)
def _cached_sha256(path: str, mtime_ns: int, size: int) -> str:
    with _opened(Path(path)) as f:
        return stream_sha256(f, size, Path(path).name)


def stream_sha256(f: BinaryIO, size: int, name: str) -> str:
    """SHA-256 of the weights in the safetensors stream `f`: every tensor's name, dtype, shape and bytes, by name.
    The metadata and the layout are left out, so the same weights give the same digest in any file."""
    header, n = read_header(f, size, name)
    digest = hashlib.sha256()
    for key in sorted(k for k in header if k != "__metadata__"):
        entry = header[key]
        digest.update(json.dumps([key, entry["dtype"], entry["shape"]]).encode())
        start, end = entry["data_offsets"]
        f.seek(8 + n + start)
        while start < end:
            chunk = f.read(min(end - start, 1 << 20))
            if not chunk:
                raise CheckpointError(f"{name} is damaged: its tensor data is cut short.")
            digest.update(chunk)
            start += len(chunk)
    return digest.hexdigest()


def check_not_empty(path: Path) -> None:
    if path.stat().st_size == 0:
        raise _empty(path.name)


def _empty(name: str) -> CheckpointError:
    return CheckpointError(f"{name} is empty (0 bytes): the copy or download was cut short. Get the file again.")


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
    for wanted in [arch] if arch else [DEFAULT_MODEL, None]:
        for m in originals:
            if wanted is None or m.info.arch == wanted:
                return m.path
    what = f"{dataset} with {arch}" if arch else dataset
    raise CheckpointError(
        f"No trained model for {what} in {ASSETS_DIR} or {model_store()}: train one with "
        f"`python -m unsir_core train --dataset {dataset}{' --arch ' + arch if arch else ''}`."
    )
