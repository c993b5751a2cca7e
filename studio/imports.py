"""Bringing a checkpoint in: an upload, a local path or a URL, checked and copied into the model store.

Whatever the source, the file goes through one path: loaded by the engine (safetensors, or
`.pt`/`.pth` with `weights_only=True`, which refuses pickled code; metadata and weight shapes
checked before any network is built), checked against the setup's data set and architecture and for
NaN weights, evaluated, and saved as a `.safetensors` with metadata under a name of its own. Nothing
is selected unless every step succeeded. Paths are limited to `unsir_core.checkpoints.roots`, URLs to the
policy of `unsir_core.checkpoints.fetch`; both check the size before reading.
"""

from __future__ import annotations

import re
import tempfile
import urllib.parse
from dataclasses import replace
from pathlib import Path

from unsir_core.checkpoints import fetch, roots
from unsir_core.checkpoints.store import check_suffix, load_model, non_finite_tensors, read_info, save_model, slug
from unsir_core.common.errors import CheckpointError
from unsir_core.common.paths import ASSETS_DIR, model_store
from unsir_core.metrics.evaluate import evaluate
from unsir_core.models import get_spec
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
    stem = slug(Path(name).stem).strip(".-") or "imported"  # no dot file, nothing empty
    target = unique_path(model_store() / f"{stem}.safetensors")
    save_model(model, target)
    return target.name


def _load_checked(path: Path, name: str, setup: Setup) -> Classifier:
    data = loaders.data(setup.dataset)
    try:
        # A safetensors file without our metadata is read as the chosen architecture; invalid metadata is refused.
        info = read_info(path, missing_ok=True) if path.suffix == ".safetensors" else None
        model = load_model(path, info or ModelInfo.for_data(setup.arch, data, origin="imported"))
    except CheckpointError as err:
        raise CheckpointError(str(err).replace(path.name, name)) from err
    if model.info.arch != setup.arch:
        raise CheckpointError(
            f"{name} is a {get_spec(model.info.arch).title} checkpoint: choose that architecture "
            f"first (now {get_spec(setup.arch).title})."
        )
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
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", source):
        name = Path(urllib.parse.unquote(urllib.parse.urlsplit(source).path)).name or "download.safetensors"
        check_suffix(Path(name))  # before any byte is fetched
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"download{Path(name).suffix.lower()}"
            fetch.download(source, path)
            return from_file(path, name, setup)
    path = roots.checkpoint_file(source)
    return from_file(path, path.name, setup)
