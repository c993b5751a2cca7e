"""Bringing things in: a checkpoint (an upload, a local path or a URL) into the model store, or a zip of an
image folder into the upload folder.

Whatever the source, a checkpoint goes through one path: loaded by the engine (safetensors, or
`.pt`/`.pth` with `weights_only=True`, which refuses pickled code; metadata and weight shapes
checked before any network is built), checked against the setup's data set and for NaN weights, evaluated,
and saved as a `.safetensors` with metadata under a name of its own. Its architecture is the one its metadata
names, or for a bare state dict the first whose shapes it fits (the chosen one first): `selected` switches the
setup to it. Nothing is selected unless every step succeeded. Paths are limited to
`unsir_core.checkpoints.roots`, URLs to the policy of `unsir_core.checkpoints.fetch`; both check the size
before reading. An image zip is checked and unpacked by `unsir_core.data.archive`.
"""

from __future__ import annotations

import io
import re
import tempfile
import urllib.parse
from dataclasses import replace
from pathlib import Path

from unsir_core.checkpoints import fetch, roots
from unsir_core.checkpoints.store import check_suffix, load_model, non_finite_tensors, read_info, save_model, slug
from unsir_core.common.errors import CheckpointError, DataError
from unsir_core.common.paths import ASSETS_DIR, data_root, model_store
from unsir_core.data import ImageData
from unsir_core.data.archive import Unpacked, unpack_image_zip
from unsir_core.metrics.evaluate import evaluate
from unsir_core.models import MODELS, get_spec
from unsir_core.models.classifier import Classifier, ModelInfo

from . import loaders
from .setup import Setup

MAX_UPLOAD_BYTES = fetch.MAX_BYTES  # as .streamlit/config.toml's server.maxUploadSize


def from_bytes(name: str, payload: bytes, setup: Setup) -> str:
    """Check a checkpoint given as bytes (an upload) against the setup and store it; returns its name in the store."""
    check_suffix(Path(name))
    if len(payload) > MAX_UPLOAD_BYTES:
        raise CheckpointError(
            f"{name} is larger than {MAX_UPLOAD_BYTES // 1024**2} MB, more than a checkpoint here needs."
        )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"checkpoint{Path(name).suffix.lower()}"
        path.write_bytes(payload)
        return from_file(path, name, setup)


def from_file(path: Path, name: str, setup: Setup) -> str:
    """Check the checkpoint at `path` (shown as `name`) and save a copy in the store; returns the copy's name."""
    model = _load_checked(path, name, setup)
    target = unique_path(model_store() / f"{stored_stem(name)}.safetensors")
    save_model(model, target)
    return target.name


def stored_stem(name: str) -> str:
    """The file stem an imported `name` asks for in the store (before `unique_path`)."""
    return slug(Path(name).stem).strip(".-") or "imported"  # no dot file, nothing empty


def _load_checked(path: Path, name: str, setup: Setup) -> Classifier:
    data = loaders.data(setup.dataset)
    try:
        # A safetensors file without our metadata is read as a bare state dict; invalid metadata is refused.
        info = read_info(path, missing_ok=True) if path.suffix == ".safetensors" else None
        model = load_model(path, info) if info else _load_state_dict(path, setup.arch, data)
    except CheckpointError as err:
        raise CheckpointError(str(err).replace(path.name, name)) from err
    if model.info.dataset != data.name:
        raise CheckpointError(
            f"{name} was trained on {model.info.dataset}, not {data.name}: choose that data set "
            "first, or a checkpoint trained on this one."
        )
    model.info.check_fits(data)
    broken = non_finite_tensors(model)
    if broken:
        raise CheckpointError(
            f"{name} has NaN or infinite weights ({len(broken)} tensors, e.g. {broken[0]}): it "
            "cannot classify anything. Use a checkpoint saved before the training diverged."
        )
    if model.info.test_acc is None:
        model = Classifier(model.net, replace(model.info, test_acc=round(evaluate(model, data, ()).overall_acc, 2)))
    return model


def _load_state_dict(path: Path, arch: str, data: ImageData) -> Classifier:
    """A checkpoint without metadata, as the first architecture whose shapes it fits (`arch` first); when none
    fits, the refusal for `arch` (naming the layers that differ), saying that no other one fits either."""
    refusal = None
    for candidate in dict.fromkeys([arch, *MODELS]):
        try:
            return load_model(path, ModelInfo.for_data(candidate, data, origin="imported"))
        except CheckpointError as err:
            refusal = refusal or err
    raise CheckpointError(f"{refusal} None of the other architectures here fits it either.")


def selected(setup: Setup, name: str) -> Setup:
    """The setup with the stored checkpoint `name` selected, on its own architecture (switched when it differs)."""
    arch = read_info(model_store() / name).arch
    return (setup if arch == setup.arch else setup.with_value("arch", arch)).with_value("model", name)


def imported_message(source: str, name: str, before: Setup) -> str:
    """What happened to an imported checkpoint: where it went, an architecture switch, a name already taken."""
    after = selected(before, name)
    text = f"Imported {source} into the model store as {name}; it is now selected."
    if after.arch != before.arch:
        text += (
            f" It is {article(get_spec(after.arch).title)} checkpoint, so the architecture switched from "
            f"{get_spec(before.arch).title} to {get_spec(after.arch).title}."
        )
    wanted = f"{stored_stem(file_name(source))}.safetensors"
    if name != wanted:
        owner = "a shipped checkpoint" if (ASSETS_DIR / wanted).exists() else "a checkpoint already in the store"
        text += f" The name {wanted} is taken by {owner}, so this one is {name}."
    return text


def article(title: str) -> str:
    """'a Small CNN', 'an All-CNN'."""
    return f"{'an' if title[:1].upper() in 'AEIOU' else 'a'} {title}"


def unique_path(path: Path) -> Path:
    """`path`, or `stem-2.safetensors`, `stem-3…` when taken in the store or by a shipped model (which the
    dashboard would pick first)."""
    candidate, n = path, 1
    while candidate.exists() or (ASSETS_DIR / candidate.name).exists():
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate


def from_source(source: str, setup: Setup) -> str:
    """A checkpoint from a path inside the configured roots or an http(s) URL; returns its name in the store."""
    source = source.strip()
    if is_url(source):
        name = file_name(source)
        check_suffix(Path(name))  # before any byte is fetched
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"download{Path(name).suffix.lower()}"
            fetch.download(source, path)
            return from_file(path, name, setup)
    path = roots.checkpoint_file(source)
    return from_file(path, path.name, setup)


def is_url(source: str) -> bool:
    return re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", source) is not None


def file_name(source: str) -> str:
    """The file name of an upload's name, a path or a URL (its path's last part, unquoted)."""
    if is_url(source):
        return Path(urllib.parse.unquote(urllib.parse.urlsplit(source).path)).name or "download.safetensors"
    return Path(source).name


def upload_dir() -> Path:
    """Where uploaded image folders go: the import folder ($UNSIR_IMPORT_DIR) when set, else
    $UNSIR_DATA_ROOT/uploads; both are data roots, so `folder:PATH` accepts what lands there."""
    return roots.import_dir() or data_root() / "uploads"


def from_image_zip(name: str, payload: bytes) -> Unpacked:
    """Check and unpack an uploaded zip of an image folder into a new folder of `upload_dir()` named after it."""
    if Path(name).suffix.lower() != ".zip":
        raise DataError(f"{name} is not a .zip file: zip the image folder (one subfolder per class) and upload that.")
    stem = slug(Path(name).stem).strip(".-") or "images"  # no dot folder (hidden from the loader), nothing empty
    return unpack_image_zip(io.BytesIO(payload), unique_path(upload_dir() / stem))


def unpacked_message(source: str, found: Unpacked) -> str:
    """What an unpacked image zip holds, and the next step (class names are raw: notices are escaped when shown)."""
    classes = ", ".join(f"{name} ({train} + {test})" for name, (train, test) in found.classes.items())
    skipped = f" Skipped {len(found.skipped)} file(s) that are not images." if found.skipped else ""
    return (
        f"Unpacked {source} into {found.path}: {len(found.classes)} classes (training + test images): {classes}."
        f"{skipped} It is now the selected data set: train a model on it with Train now."
    )
