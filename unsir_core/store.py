"""The model store: checkpoints as safetensors with JSON metadata in the header, written atomically.

One file per model: the weights, and `ModelInfo` as JSON under the header key "unsir_studio"
(architecture, data set, class names, test accuracy, training config, library versions). A single
file replaced with `os.replace` means a crash never leaves a half-written checkpoint. Loading never
unpickles arbitrary objects: `.pt`/`.pth` files are read with `weights_only=True`.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from .classifier import Classifier, ModelInfo
from .errors import CheckpointError
from .files import atomic_write
from .models import DEFAULT_MODEL, get_spec
from .paths import ASSETS_DIR, model_store

META_KEY = "unsir_studio"
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


def read_info(path: str | Path) -> ModelInfo:
    """Only the metadata of a .safetensors checkpoint (reads the header, not the weights)."""
    from safetensors import safe_open

    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except FileNotFoundError:
        raise CheckpointError(f"No checkpoint at {path}.") from None
    except Exception as err:
        raise CheckpointError(f"{path.name} is not a readable safetensors checkpoint ({err}).") from err
    if META_KEY not in meta:
        raise CheckpointError(
            f"{path.name} has no UNSIR Studio metadata; load it with an explicit architecture and data set."
        )
    try:
        return ModelInfo.from_dict(json.loads(meta[META_KEY]))
    except (ValueError, TypeError) as err:
        raise CheckpointError(f"The metadata of {path.name} is damaged ({err}).") from err


def _read_state(path: Path) -> dict[str, torch.Tensor]:
    if not path.exists():
        raise CheckpointError(f"No checkpoint at {path}.")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as err:
            raise CheckpointError(f"{path.name} is not a valid safetensors file ({err}).") from err
    if path.suffix in (".pt", ".pth"):
        try:
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
        except Exception as err:
            if "GLOBAL" in str(err) or "Unsupported operand" in str(err):  # weights_only refused an object
                raise CheckpointError(
                    f"Refused to load {path.name}: it is not a plain tensor file. It contains Python objects that "
                    "would run code when unpickled (or it is damaged). Only tensors are accepted; re-save it with "
                    "torch.save(model.state_dict(), ...) or as .safetensors."
                ) from err
            raise CheckpointError(f"{path.name} is not a readable PyTorch checkpoint ({err}).") from err
        for key in ("state_dict", "model_state_dict", "model", "net"):
            if isinstance(obj, dict) and isinstance(obj.get(key), dict):
                obj = obj[key]
                break
        if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
            raise CheckpointError(f"{path.name} does not hold a state dict (a mapping of names to tensors).")
        return {k.removeprefix("module."): v for k, v in obj.items()}
    raise CheckpointError(f"Unsupported checkpoint type {path.suffix!r}: use .safetensors, .pt or .pth.")


def load_model(path: str | Path, info: ModelInfo | None = None) -> Classifier:
    """Load a checkpoint into a fresh network.

    `.safetensors` files carry their own `ModelInfo`; `.pt`/`.pth` (and foreign .safetensors) need
    `info` saying the architecture and classes. A checkpoint that does not fit raises
    CheckpointError naming the layers that differ.
    """
    path = Path(path)
    if info is None:
        if path.suffix != ".safetensors":
            raise CheckpointError(f"{path.name} carries no metadata: say which architecture and data set it is for.")
        info = read_info(path)
    state = _read_state(path)
    model = Classifier.create(info)
    check_state_fits(model, state, path.name)
    model.net.load_state_dict(state)
    model.net.eval()
    return model


def check_state_fits(model: Classifier, state: dict[str, torch.Tensor], name: str) -> None:
    """Raise CheckpointError, naming what differs, unless `state` fits `model.net` exactly."""
    own = model.net.state_dict()
    spec = get_spec(model.info.arch)
    head_w = next((k for k in own if k.startswith(spec.head) and k.endswith("weight")), None)
    if head_w in state and state[head_w].shape[0] != own[head_w].shape[0]:
        raise CheckpointError(
            f"{name} has {state[head_w].shape[0]} output classes but the chosen setup has "
            f"{own[head_w].shape[0]}: pick a checkpoint trained on the same data set."
        )
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in own
             if k in state and state[k].shape != own[k].shape]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} (e.g. {', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"unexpected {len(unexpected)} (e.g. {', '.join(unexpected[:3])})")
        if wrong:
            parts.append(f"different shapes: {'; '.join(wrong[:3])}")
        raise CheckpointError(
            f"{name} does not fit {spec.title} (width {model.info.width}): {', '.join(parts)}. "
            "Choose the architecture it was trained with."
        )


@dataclass(frozen=True)
class StoredModel:
    path: Path
    info: ModelInfo
    shipped: bool  # True for checkpoints in assets/ (read-only)


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")


def list_models(dataset: str | None = None, dirs: tuple[Path, ...] | None = None) -> list[StoredModel]:
    """Checkpoints with metadata in assets/ and the model store, optionally for one data set."""
    found = []
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
