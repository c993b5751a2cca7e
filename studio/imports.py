"""Bringing a checkpoint in: an upload, a local path or a URL, checked and copied into the model store.

Whatever the source, the bytes go through one path: written to a temporary file, loaded by the
engine (safetensors, or `.pt`/`.pth` with `weights_only=True`, which refuses pickled code), checked
against the setup's data set and architecture, evaluated, and saved as a `.safetensors` with
metadata. Nothing is selected unless every step succeeded.
"""
from __future__ import annotations

import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import replace
from pathlib import Path

from unsir_core.classifier import Classifier, ModelInfo
from unsir_core.errors import CheckpointError
from unsir_core.metrics.evaluate import evaluate
from unsir_core.models import get_spec
from unsir_core.paths import model_store
from unsir_core.store import SUFFIXES, load_model, read_info, save_model, slug

from . import loaders
from .setup import Setup

MAX_BYTES = 2 * 1024**3  # refuse downloads larger than this
TIMEOUT_S = 30


def from_bytes(name: str, payload: bytes, setup: Setup) -> str:
    """Check a checkpoint given as bytes against the setup and store it; returns its file name in the store."""
    suffix = Path(name).suffix.lower()
    if suffix not in SUFFIXES:
        raise CheckpointError(f"{name} is not a checkpoint: use a .safetensors, .pt or .pth file.")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"checkpoint{suffix}"
        path.write_bytes(payload)
        model = _load_checked(path, name, setup)
    target = unique_path(model_store() / slug(f"{Path(name).stem}.safetensors"))
    save_model(model, target)
    return target.name


def _load_checked(path: Path, name: str, setup: Setup) -> Classifier:
    data = loaders.data(setup.dataset)
    try:
        info = read_info(path) if path.suffix == ".safetensors" else None
    except CheckpointError:
        info = None  # a safetensors file without our metadata: read it as the chosen architecture
    try:
        model = load_model(path, info or ModelInfo.for_data(setup.arch, data, origin="imported"))
    except CheckpointError as err:
        raise CheckpointError(str(err).replace(path.name, name)) from err
    if model.info.arch != setup.arch:
        raise CheckpointError(f"{name} is a {get_spec(model.info.arch).title} checkpoint: choose that architecture "
                              f"first (now {get_spec(setup.arch).title}).")
    if model.info.dataset != data.name:
        raise CheckpointError(f"{name} was trained on {model.info.dataset}, not {data.name}: choose that data set "
                              "first, or a checkpoint trained on this one.")
    model.info.check_fits(data)
    if model.info.test_acc is None:
        model = Classifier(model.net, replace(model.info, test_acc=round(evaluate(model, data, ()).overall_acc, 2)))
    return model


def unique_path(path: Path) -> Path:
    """`path`, or `stem-2.safetensors`, `stem-3…` when taken."""
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate


def from_source(source: str, setup: Setup) -> str:
    """A checkpoint from a local path or an http(s) URL; returns its file name in the store."""
    source = source.strip()
    if urllib.parse.urlparse(source).scheme in ("http", "https"):
        return from_bytes(Path(urllib.parse.urlparse(source).path).name or "download.safetensors",
                          download(source), setup)
    path = Path(source).expanduser()
    if not path.is_file():
        raise CheckpointError(f"No file at {path}: give the full path of a .safetensors, .pt or .pth checkpoint.")
    return from_bytes(path.name, path.read_bytes(), setup)


def download(url: str) -> bytes:
    """The bytes at `url`; CheckpointError saying what to do when offline or the server refuses."""
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            payload = response.read(MAX_BYTES + 1)
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise CheckpointError(f"Could not download {url} ({reason}). This machine may be offline: copy the file "
                              "here and give its path instead, or upload it.") from err
    if len(payload) > MAX_BYTES:
        raise CheckpointError(f"{url} is larger than {MAX_BYTES // 1024**3} GB; download it yourself and give its "
                              "path.")
    return payload
