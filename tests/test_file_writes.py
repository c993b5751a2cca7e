"""Files the app writes: stale temporary files are swept and never listed, a killed save leaves nothing,
output paths are checked before any work, and JSON never holds a bare NaN."""

from __future__ import annotations

import json
import os
import time

import pytest

from unsir_core.checkpoints.store import list_models
from unsir_core.common import strict_json
from unsir_core.common.errors import ConfigError
from unsir_core.common.files import TMP_MARK, atomic_write, check_output, sweep_stale_temps
from unsir_core.common.paths import model_store

# --- files ------------------------------------------------------------------------------------------------


def test_stale_temporary_files_are_swept_and_never_listed(tmp_path):
    model_store().mkdir(parents=True)
    stale = model_store() / f".m.safetensors{TMP_MARK}abcd1234.tmp"
    fresh = model_store() / f".n.safetensors{TMP_MARK}efgh5678.tmp"
    foreign = model_store() / ".someone-else.tmp"
    for path in (stale, fresh, foreign):
        path.write_bytes(b"\0" * 10)
    old = time.time() - 3600
    os.utime(stale, (old, old))
    os.utime(foreign, (old, old))
    assert all(m.path.parent != model_store() for m in list_models())
    assert not stale.exists() and fresh.exists() and foreign.exists()
    assert sweep_stale_temps(model_store(), older_than_s=0) == [fresh]


def test_a_killed_save_leaves_nothing_the_next_write_keeps(tmp_path):
    target = tmp_path / "r.json"
    leftover = tmp_path / f".r.json{TMP_MARK}zzzz9999.tmp"
    leftover.write_bytes(b"")
    os.utime(leftover, (0, 0))
    atomic_write(target, lambda tmp: tmp.write_text("{}"))
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_output_paths_are_checked_for_suffix_folder_and_overwrite(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("x")
    (tmp_path / "old.json").write_text("keep")
    cases = [
        (tmp_path / "r.txt", "should end in .json"),
        (tmp_path / "file" / "r.json", "is a file"),
        (tmp_path / "no" / "r.json", "does not exist"),
        (tmp_path / "old.json", "add --force"),
    ]
    for path, message in cases:
        with pytest.raises(ConfigError, match=message):
            check_output(path, (".json",), False, "--out")
    assert check_output(tmp_path / "old.json", (".json",), True, "--out") == tmp_path / "old.json"
    monkeypatch.setattr(os, "access", lambda path, mode: False)  # a read-only folder (root may write anywhere)
    with pytest.raises(ConfigError, match="is not writable"):
        check_output(tmp_path / "new.json", (".json",), False, "--out")


def test_strict_json_writes_null_and_says_where():
    text = strict_json.dumps({"a": float("nan"), "b": [1.0, float("inf")], "c": {"d": -float("inf")}})
    data = json.loads(text, parse_constant=lambda c: pytest.fail(f"bare {c} in the JSON"))
    assert data["a"] is None and data["b"] == [1.0, None] and data["c"]["d"] is None
    assert data[strict_json.NON_FINITE] == ["$.a", "$.b[1]", "$.c.d"]
