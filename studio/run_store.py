"""The session's run history on disk: finished runs survive a server restart.

One JSON file per browser session under $UNSIR_HOME/sessions, named by a digest of the session's job owner
(`studio.jobs.owner`: the link's token bound to the browser), so the same link opened again in the same browser
finds its runs after a restart and nobody else's. Each save replaces the whole file in one step
(`common.files.atomic_write`), so a crash mid-save leaves the previous history. A file that cannot be read is moved
aside (never overwritten) and said so; a single unreadable run is skipped and named, the others load.

Only what a run measured is kept (its setup, report, live chart and JSON audits); models and noise are not, as for
a run older than the newest `runs.KEEP_MODELS`. No Streamlit in here: the conversion of a run is `runs.RunRecord`'s.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from unsir_core.common.files import atomic_write
from unsir_core.common.paths import home

VERSION = 1  # bump when a run's stored fields change: an older file is then set aside with a message
T = TypeVar("T")


def folder() -> Path:
    """Where the session histories are kept: $UNSIR_HOME/sessions."""
    return home() / "sessions"


def path_for(owner: str) -> Path:
    """The history file of a session owner (a digest: the owner's token never appears on disk)."""
    return folder() / f"{hashlib.sha256(owner.encode()).hexdigest()[:32]}.json"


def save(path: Path, rows: list[dict[str, Any]]) -> None:
    """Replace the history at `path` with `rows` (one JSON object per run), atomically."""
    text = json.dumps({"version": VERSION, "runs": rows})
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def load(path: Path, parse: Callable[[dict[str, Any]], T]) -> tuple[list[T], list[str]]:
    """The runs stored at `path`, each made by `parse(row)`, and a message for each problem met. A file that is not
    a history of this version is renamed to `<name>.unreadable` (kept for inspection, never overwritten by the next
    save); a row that `parse` rejects is skipped and the others load."""
    if not path.exists():
        return [], []
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(stored, dict) or stored.get("version") != VERSION or not isinstance(stored["runs"], list):
            raise ValueError(f"not a run history of version {VERSION}")
    except (OSError, UnicodeDecodeError, ValueError, KeyError) as err:
        aside = path.with_name(path.name + ".unreadable")
        path.replace(aside)
        return [], [
            f"The saved run history of this session could not be read ({err}); it was moved to {aside} and new "
            "runs are saved afresh. Nothing else was affected."
        ]
    runs: list[T] = []
    problems: list[str] = []
    for i, row in enumerate(stored["runs"], start=1):
        try:
            runs.append(parse(row))
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            problems.append(f"Saved run {i} of this session could not be read ({err!r}) and was skipped.")
    return runs, problems


def json_audits(audits: dict[str, Any]) -> dict[str, Any]:
    """The audits that JSON can keep (a sweep cell's numbers); those held as objects (a membership attack, a
    relearn measurement) are not kept: they would be measured again on the run's models, which are not kept either."""
    kept = {}
    for name, value in audits.items():
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            continue
        kept[name] = value
    return kept
