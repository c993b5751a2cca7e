"""Which files and folders a dashboard user may name: checkpoints by path, image folders by `folder:PATH`.

A served dashboard takes paths from anyone who can open it, so a path is honoured only inside the
configured roots (after symlinks are resolved):

- checkpoints: the model store, the shipped models (assets/) and the import folder;
- image folders: the data root ($UNSIR_DATA_ROOT) and the import folder.

The import folder is `$UNSIR_IMPORT_DIR` (unset: none), where the person running the dashboard puts
files to share. A path outside the roots gets the same message whether or not it exists, so the
dashboard tells nothing about the rest of the disk. The command line is not limited: its user owns
the machine.
"""

from __future__ import annotations

import os
from pathlib import Path

from unsir_core.common.errors import CheckpointError, DataError
from unsir_core.common.paths import ASSETS_DIR, data_root, model_store

IMPORT_ENV = "UNSIR_IMPORT_DIR"
MAX_FILE_BYTES = 400 * 1024**2  # a checkpoint read by path: ViT-B/16 (the largest model here) is 343 MB


def import_dir() -> Path | None:
    """The folder named by $UNSIR_IMPORT_DIR, or None when it is not set."""
    value = os.environ.get(IMPORT_ENV, "").strip()
    return Path(value).expanduser() if value else None


def checkpoint_roots() -> tuple[Path, ...]:
    return tuple(p for p in (model_store(), ASSETS_DIR, import_dir()) if p is not None)


def data_roots() -> tuple[Path, ...]:
    return tuple(p for p in (data_root(), import_dir()) if p is not None)


def within(path: str | Path, roots: tuple[Path, ...]) -> Path | None:
    """`path` resolved (symlinks followed), when it lies inside one of `roots`; else None."""
    try:
        resolved = Path(path).expanduser().resolve()
    except (OSError, RuntimeError, ValueError):  # a symlink loop, a NUL byte
        return None
    for root in roots:
        try:
            if resolved.is_relative_to(root.expanduser().resolve()):
                return resolved
        except (OSError, RuntimeError):
            continue
    return None


def _roots_text(roots: tuple[Path, ...]) -> str:
    where = ", ".join(str(r) for r in roots)
    hint = "" if import_dir() else f" (set {IMPORT_ENV} to a folder before starting the dashboard to add one)"
    return f"{where}{hint}"


def checkpoint_file(text: str) -> Path:
    """A checkpoint path a dashboard user typed, checked: inside the roots, an existing file, not too large."""
    roots = checkpoint_roots()
    path = within(text, roots)
    if path is None:
        raise CheckpointError(
            f"Checkpoints can be loaded by path only from {_roots_text(roots)}. Copy the file there, or upload it."
        )
    if not path.is_file():
        raise CheckpointError(f"No file at {path}: give the full path of a .safetensors, .pt or .pth checkpoint.")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise CheckpointError(
            f"{path.name} is {size / 1024**2:,.0f} MB, more than any checkpoint here needs "
            f"({MAX_FILE_BYTES // 1024**2} MB); it was not read."
        )
    return path


def data_folder(text: str) -> Path:
    """An image folder a dashboard user named (`folder:PATH`), checked to lie inside the data roots."""
    roots = data_roots()
    path = within(text, roots)
    if path is None:
        raise DataError(f"Image folders can be used only from {_roots_text(roots)}. Copy the folder there.")
    return path
