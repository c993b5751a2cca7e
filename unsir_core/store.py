"""The model store: checkpoints as safetensors with JSON metadata in the header, written atomically.

One file per model: the weights, and `ModelInfo` as JSON under the header key "unsir_studio"
(architecture, data set, class names, test accuracy, training config, library versions). A single
file replaced with `os.replace` means a crash never leaves a half-written checkpoint. Loading never
unpickles arbitrary objects: `.pt`/`.pth` files are read with `weights_only=True`.
"""
from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import torch

from .catalog import META_KEY, StoredModel, check_not_empty, default_checkpoint, list_models, read_info
from .classifier import Classifier, ModelInfo
from .errors import CheckpointError
from .files import atomic_write
from .models import get_spec

__all__ = ["META_KEY", "SUFFIXES", "StoredModel", "atomic_write", "check_state_fits", "check_suffix",
           "default_checkpoint", "list_models", "load_model", "non_finite_tensors", "read_info", "save_model", "slug"]

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
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.net.state_dict().items()}
    meta = {META_KEY: json.dumps(info.to_dict())}
    atomic_write(path, lambda tmp: save_file(state, str(tmp), metadata=meta))
    return path


def check_suffix(path: Path) -> None:
    if path.suffix.lower() not in SUFFIXES:
        raise CheckpointError(f"Unsupported checkpoint type {path.suffix or 'without a suffix'!r} ({path.name}): "
                              "use .safetensors, .pt or .pth.")


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
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as err:
        if pickles_objects(path):  # a well-formed pickle that weights_only refused
            raise CheckpointError(
                f"Refused to load {path.name}: it is not a plain tensor file. It contains Python objects that "
                "would run code when unpickled. Only tensors are accepted; re-save it with "
                "torch.save(model.state_dict(), ...) or as .safetensors."
            ) from err
        raise CheckpointError(f"{path.name} is damaged: it is not a readable PyTorch checkpoint (or it was cut "
                              "short). Get the file again, or re-save it.") from err
    for key in ("state_dict", "model_state_dict", "model", "net"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path.name} does not hold a state dict (a mapping of names to tensors).")
    return {k.removeprefix("module."): v for k, v in obj.items()}


def pickles_objects(path: Path) -> bool:
    """True when `path` holds well-formed pickles that name Python objects (torch's zip format or a raw
    pickle stream); False for a damaged file. Scans opcodes only: nothing is unpickled."""
    import io
    import pickletools
    import zipfile

    objects = {"GLOBAL", "STACK_GLOBAL", "INST", "OBJ", "REDUCE", "NEWOBJ", "NEWOBJ_EX"}
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                pickles = [n for n in archive.namelist() if n.endswith(".pkl")]
                streams = [io.BytesIO(archive.read(n)) for n in pickles]
        else:
            streams = [io.BytesIO(path.read_bytes())]
        found = False
        for stream in streams:
            size = len(stream.getbuffer())
            while stream.tell() < size:  # a legacy torch file is several pickles in a row
                found |= any(op.name in objects for op, _, _ in pickletools.genops(stream))
        return found
    except Exception:  # any malformed opcode or archive: damaged, not dangerous
        return False


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
    wrong = [f"{k} {tuple(state[k].shape)} vs {tuple(own[k])}" for k in own
             if k in state and state[k].shape != own[k]]
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
