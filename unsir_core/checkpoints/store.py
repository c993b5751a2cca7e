"""The model store: checkpoints as safetensors with JSON metadata in the header, written atomically.

One file per model: the weights, and `ModelInfo` as JSON under the header key "unsir_studio"
(architecture, data set, class names, test accuracy, training config, library versions). A single
file replaced with `os.replace` means a crash never leaves a half-written checkpoint. Loading never
unpickles arbitrary objects: `.pt`/`.pth` files are read with `weights_only=True`.
"""

from __future__ import annotations

import io
import json
import pickletools
import re
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from unsir_core.checkpoints.catalog import (
    META_KEY,
    StoredModel,
    check_not_empty,
    default_checkpoint,
    list_models,
    read_info,
    stream_sha256,
)
from unsir_core.common.errors import CheckpointError
from unsir_core.common.files import atomic_write
from unsir_core.models import get_spec
from unsir_core.models.classifier import Classifier, ModelInfo

__all__ = [
    "META_KEY",
    "SUFFIXES",
    "StoredModel",
    "atomic_write",
    "check_state_fits",
    "check_suffix",
    "default_checkpoint",
    "list_models",
    "load_model",
    "non_finite_tensors",
    "read_info",
    "save_model",
    "slug",
]

SUFFIXES = (".safetensors", ".pt", ".pth")


def library_versions() -> dict[str, str]:
    import torchvision

    return {"torch": torch.__version__, "torchvision": torchvision.__version__}


def save_model(model: Classifier, path: str | Path) -> Path:
    """Write `model` to `path` (.safetensors) atomically; returns the path."""
    from safetensors.torch import save_file

    path = Path(path)
    if path.suffix != ".safetensors":
        raise CheckpointError(f"Checkpoints are saved as .safetensors, not {path.suffix or 'no suffix'}: {path}")
    info = replace(model.info, details={**model.info.details, "versions": library_versions()})
    meta = {META_KEY: json.dumps(info.to_dict())}
    atomic_write(path, lambda tmp: save_file(_cpu_state(model), str(tmp), metadata=meta))
    return path


def _cpu_state(model: Classifier) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu").contiguous() for k, v in model.net.state_dict().items()}


def state_sha256(model: Classifier) -> str:
    """The digest of `model`'s weights, equal to `weights_sha256` of any checkpoint file holding them."""
    from safetensors.torch import save

    data = save(_cpu_state(model))
    return stream_sha256(io.BytesIO(data), len(data), "the model")


def check_suffix(path: Path) -> None:
    if path.suffix.lower() not in SUFFIXES:
        raise CheckpointError(
            f"Unsupported checkpoint type {path.suffix or 'without a suffix'!r} ({path.name}): "
            "use .safetensors, .pt or .pth."
        )


def _read_state(path: Path) -> dict[str, torch.Tensor]:
    if not path.exists():
        raise CheckpointError(f"No checkpoint at {path}.")
    check_suffix(path)
    check_not_empty(path)
    if path.suffix.lower() == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as err:
            raise CheckpointError(f"{path.name} is damaged: it is not a valid safetensors file ({err}).") from err
    scan = scan_pickles(path)  # before torch reads a byte of it: bounded work and memory
    if scan.too_long:
        raise CheckpointError(
            f"Refused to load {path.name}: its pickle runs past {MAX_PICKLE_OPS:,} operations or holds a single value "
            f"over {MAX_PICKLE_ARG:,} bytes, which no state dict needs (a ResNet-50's has about 11,000 operations). "
            "Re-save it with torch.save(model.state_dict(), ...) or as .safetensors."
        )
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as err:
        if scan.objects:  # a well-formed pickle that weights_only refused
            raise CheckpointError(
                f"Refused to load {path.name}: it is not a plain tensor file. It contains Python objects that "
                "would run code when unpickled. Only tensors are accepted; re-save it with "
                "torch.save(model.state_dict(), ...) or as .safetensors."
            ) from err
        raise CheckpointError(
            f"{path.name} is damaged: it is not a readable PyTorch checkpoint (or it was cut "
            "short). Get the file again, or re-save it."
        ) from err
    for key in ("state_dict", "model_state_dict", "model", "net"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path.name} does not hold a state dict (a mapping of names to tensors).")
    return {k.removeprefix("module."): v for k, v in obj.items()}


MAX_PICKLE_OPS = 300_000  # pickle operations scanned at most (a ResNet-50's state dict has 11,000; 0.3 s)
MAX_PICKLE_ARG = 1 << 20  # bytes of one pickled value at most (tensor data lies outside the pickle)
OBJECT_OPS = {"GLOBAL", "STACK_GLOBAL", "INST", "OBJ", "REDUCE", "NEWOBJ", "NEWOBJ_EX"}  # they name Python objects


@dataclass(frozen=True)
class PickleScan:
    objects: bool  # well-formed pickles that name Python objects (which torch's own files do too)
    too_long: bool  # past MAX_PICKLE_OPS operations or with a value over MAX_PICKLE_ARG bytes: refused unread


def scan_pickles(path: Path) -> PickleScan:
    """Scan the pickles of `path` (torch's zip format, or a raw stream of pickles) opcode by opcode, streamed
    from the file: nothing is unpickled, at most MAX_PICKLE_OPS operations are read and no single read is
    larger than MAX_PICKLE_ARG. A malformed opcode or archive ends the scan: the pickles complete by then count."""
    seen = _Seen(MAX_PICKLE_OPS)
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                for member in [m for m in archive.infolist() if m.filename.endswith(".pkl")]:
                    with archive.open(member) as raw:
                        _scan_stream(_Capped(raw), member.file_size, seen)
        else:
            with open(path, "rb") as raw:
                _scan_stream(_Capped(raw), path.stat().st_size, seen)
    except _TooLong:
        return PickleScan(seen.objects, True)
    except Exception:  # any malformed opcode or archive: damaged, not dangerous
        pass
    return PickleScan(seen.objects, False)


class _TooLong(Exception):
    """The pickle needs more work or memory than any state dict."""


class _Seen:
    """What a scan found so far, and the operations it may still read."""

    def __init__(self, ops: int):
        self.left, self.objects = ops, False

    def spend(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise _TooLong


class _Capped:
    """A binary stream whose single reads are capped at MAX_PICKLE_ARG bytes (pickletools reads an argument in one
    call, of a size the file itself gives)."""

    def __init__(self, raw):
        self.raw = raw

    def read(self, n: int = -1) -> bytes:
        if n < 0 or n > MAX_PICKLE_ARG:
            raise _TooLong
        return self.raw.read(n)

    def readline(self) -> bytes:
        line = self.raw.readline(MAX_PICKLE_ARG + 1)
        if len(line) > MAX_PICKLE_ARG:
            raise _TooLong
        return line

    def tell(self) -> int:
        return self.raw.tell()


def _scan_stream(stream: _Capped, size: int, seen: _Seen) -> None:
    """Scan the pickles in a row in `stream` (a legacy torch file has several), noting in `seen` whether a complete
    one names Python objects."""
    while stream.tell() < size:
        names = set()
        for op, _, _ in pickletools.genops(stream):
            seen.spend()
            names.add(op.name)
        seen.objects |= bool(names & OBJECT_OPS)


def expected_shapes(info: ModelInfo) -> dict[str, torch.Size]:
    """The state dict shapes of `info`'s network, built on the meta device: no memory, no weights."""
    with torch.device("meta"):
        net = get_spec(info.arch).create(info.num_classes, info.in_channels, info.width)
    return {k: v.shape for k, v in net.state_dict().items()}


def load_model(path: str | Path, info: ModelInfo | None = None) -> Classifier:
    """Load a checkpoint into a fresh network.

    `.safetensors` files carry their own `ModelInfo`; `.pt`/`.pth` (and foreign .safetensors) need
    `info` saying the architecture and classes. The weights' shapes are compared with the
    architecture's before the network is built, so forged metadata (a huge width) costs nothing; a
    checkpoint that does not fit raises CheckpointError naming the layers that differ.
    """
    path = Path(path)
    check_suffix(path)
    if info is None:
        if path.suffix.lower() != ".safetensors":
            raise CheckpointError(f"{path.name} carries no metadata: say which architecture and data set it is for.")
        info = read_info(path)
    state = _read_state(path)
    check_state_fits(info, state, path.name)
    model = Classifier.create(info)
    model.net.load_state_dict(state)
    model.net.eval()
    return model


def check_state_fits(info: ModelInfo, state: dict[str, torch.Tensor], name: str) -> None:
    """Raise CheckpointError, naming what differs, unless `state` fits `info`'s network exactly."""
    own = expected_shapes(info)
    spec = get_spec(info.arch)
    head_w = next((k for k in own if k.startswith(spec.head) and k.endswith("weight")), None)
    if head_w in state and state[head_w].shape[0] != own[head_w][0]:
        raise CheckpointError(
            f"{name} has {state[head_w].shape[0]} output classes but the chosen setup has "
            f"{own[head_w][0]}: pick a checkpoint trained on the same data set."
        )
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [f"{k} {tuple(state[k].shape)} vs {tuple(own[k])}" for k in own if k in state and state[k].shape != own[k]]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} (e.g. {', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"unexpected {len(unexpected)} (e.g. {', '.join(unexpected[:3])})")
        if wrong:
            parts.append(f"different shapes: {'; '.join(wrong[:3])}")
        raise CheckpointError(
            f"{name} does not fit {spec.title} (width {info.width}): {', '.join(parts)}. "
            "Choose the architecture it was trained with."
        )


def non_finite_tensors(model: Classifier) -> list[str]:
    """Names of the parameters and buffers holding NaN or inf: such a model's accuracies mean nothing."""
    return [k for k, v in model.net.state_dict().items() if v.is_floating_point() and not torch.isfinite(v).all()]


def slug(text: str) -> str:
    """`text` as a file name: letters (any script), digits, `_`, `.` and `-`; other runs become one `-`."""
    return re.sub(r"[^\w.-]+", "-", text).strip("-")
