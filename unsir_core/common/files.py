"""Writing files safely: atomic replacement, stale temporary files swept, output paths checked up front.

At the bottom of the import graph (standard library and `errors` only), so the store, the data
cache and the command line all share it without import circles.

A temporary file is named `.<target>.unsir-XXXXXXXX.tmp` beside its target: a dot file with a
`.tmp` suffix, so the model store (which lists `*.safetensors`) never offers it, and a name distinct
enough that the sweep removes only our own leftovers (from a crash or `kill -9` mid-save).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from unsir_core.common.errors import ConfigError

TMP_MARK = ".unsir-"  # between the target's name and mkstemp's random part
TMP_SUFFIX = ".tmp"
STALE_AFTER_S = 15 * 60  # a save takes seconds; a temporary file this old was left by a killed process


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call `write(tmp)` on a temporary file beside `path`, then rename it over `path` in one step."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale_temps(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}{TMP_MARK}", suffix=TMP_SUFFIX)
    os.close(fd)
    try:
        write(Path(tmp))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a checkpoint is an ordinary file
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def sweep_stale_temps(folder: Path, older_than_s: float = STALE_AFTER_S) -> list[Path]:
    """Remove this project's temporary files in `folder` older than `older_than_s`; returns what was removed.

    A fresh one may belong to a save in progress in another process, so it is left alone.
    """
    removed = []
    cutoff = time.time() - older_than_s
    for tmp in Path(folder).glob(f".*{TMP_MARK}*{TMP_SUFFIX}"):
        try:
            if tmp.is_file() and tmp.stat().st_mtime < cutoff:
                tmp.unlink()
                removed.append(tmp)
        except OSError:  # gone already, or not ours to remove: never fail a listing over it
            continue
    return removed


def check_output(path: str | Path, suffixes: tuple[str, ...], force: bool, option: str) -> Path:
    """Check, before any work, that `path` can be written: the right suffix, an existing writable folder,
    and no existing file unless `force`. Raises ConfigError saying what to change."""
    path = Path(path).expanduser()
    if path.suffix.lower() not in suffixes:
        raise ConfigError(f"{option} {path} should end in {' or '.join(suffixes)}.")
    parent = path.parent
    if not parent.is_dir():
        what = "is a file" if parent.exists() else "does not exist"
        raise ConfigError(f"{option} {path}: the folder {parent} {what}; create the folder or choose another path.")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"{option} {path}: the folder {parent} is not writable; choose another path.")
    if path.is_dir():
        raise ConfigError(f"{option} {path} is a folder; give a file name.")
    if path.exists() and not force:
        raise ConfigError(f"{path} already exists; choose another {option} or add --force to replace it.")
    return path
