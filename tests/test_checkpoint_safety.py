"""Checkpoints cannot hurt the app: forged metadata is refused before anything is built (and costs no memory),
uploads with odd names, NaN weights, huge sizes or wrong suffixes are refused, and damaged files or pickled code
are called what they are."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from studio import imports
from studio.setup import Setup
from tests.helpers import ROOT, SHIPPED, pt_bytes
from unsir_core.checkpoints import roots
from unsir_core.checkpoints.store import META_KEY, list_models, load_model, read_info
from unsir_core.common.errors import CheckpointError
from unsir_core.common.paths import model_store

POISONS = {
    "width-100": {"width": 100},
    "width-1000": {"width": 1000},
    "input-size-100000": {"input_size": 100_000},
    "test-acc-text": {"test_acc": "notanumber"},
}


def forged(path: Path, **changes) -> Path:
    """A copy of the shipped model with `changes` written into its metadata (the weights stay as they are)."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    with safe_open(str(SHIPPED), framework="pt") as f:
        meta = json.loads(f.metadata()[META_KEY])
    save_file(load_file(str(SHIPPED)), str(path), metadata={META_KEY: json.dumps({**meta, **changes})})
    return path


# --- forged checkpoint metadata ---------------------------------------------------------------------------


@pytest.mark.parametrize("changes", POISONS.values(), ids=POISONS.keys())
def test_forged_metadata_is_refused_and_never_listed(tmp_path, changes):
    path = forged(tmp_path / "forged.safetensors", **changes)
    field = next(iter(changes))
    with pytest.raises(CheckpointError, match=f"metadata of forged.safetensors is invalid: {field}"):
        read_info(path)
    with pytest.raises(CheckpointError, match="invalid"):
        load_model(path)
    assert list_models(dirs=(tmp_path,)) == []


def test_forged_metadata_costs_no_memory():
    """Every forged file is refused in one fresh process whose peak memory stays within 500 MB of its start
    (building the width-100 network alone took 11.3 GB before the shapes were compared first)."""
    script = """
import json, resource, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from tests.test_checkpoint_safety import POISONS, forged
from unsir_core.common.errors import CheckpointError
from unsir_core.checkpoints.store import load_model
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
seconds = {}
with tempfile.TemporaryDirectory() as tmp:
    for name, changes in POISONS.items():
        path = forged(Path(tmp) / f"{name}.safetensors", **changes)
        start = time.perf_counter()
        try:
            load_model(path)
        except CheckpointError:
            seconds[name] = time.perf_counter() - start
print(json.dumps({"extra_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024,
                  "refused_s": seconds}))
"""
    res = subprocess.run(
        [sys.executable, "-c", script, str(ROOT)], capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout.strip().splitlines()[-1])
    assert set(report["refused_s"]) == set(POISONS)
    assert report["extra_mb"] < 500, report


def test_weights_that_do_not_fit_the_metadata_are_refused_before_building(tmp_path, monkeypatch):
    import unsir_core.models.classifier as classifier

    path = forged(tmp_path / "wide.safetensors", width=4)  # valid metadata, but the weights are width 0.5
    monkeypatch.setattr(classifier.Classifier, "create", lambda info: pytest.fail("the network was built"))
    with pytest.raises(CheckpointError, match="does not fit Small CNN"):
        load_model(path)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"arch": "gpt"}, "unknown architecture"),
        ({"class_names": ["a"]}, "class_names"),
        ({"class_names": "abcdefghij"}, "class_names must be a list"),
        ({"in_channels": True}, "in_channels"),
        ({"mean": [0.5, "x", 0.5]}, "mean"),
        ({"std": [0.0, 0.2, 0.2]}, "std must be positive"),
        ({"forgotten": [12]}, "forgotten"),
        ({"test_acc": float("nan")}, "test_acc"),
        ({"test_acc": 250}, "test_acc"),
        ({"width": -1}, "width"),
    ],
)
def test_every_metadata_field_is_checked(tmp_path, changes, message):
    with pytest.raises(CheckpointError, match=message):
        read_info(forged(tmp_path / "m.safetensors", **changes))


def test_a_forged_file_in_the_store_breaks_no_page():
    """The reported crash: a stored checkpoint with test_acc "notanumber", selected by a link."""
    from streamlit.testing.v1 import AppTest

    from studio import nav

    model_store().mkdir(parents=True)
    forged(model_store() / "forged.safetensors", test_acc="notanumber")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    at.query_params = {"model": "forged.safetensors", "data": "folder:/etc"}
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Ignored data 'folder:/etc'" in w.value for w in at.warning)
    assert any("forged.safetensors" in w.value and "default model" in w.value for w in at.warning)
    for page in (nav.NOISE, nav.MODEL):
        at.switch_page(page.path).run()
        assert not at.exception, [e.value for e in at.exception]
    sidebar = " ".join(m.value for m in at.sidebar.markdown)
    assert "shapes10-smallcnn" in sidebar and at.session_state["setup"].model == ""  # a usable model, never none
    assert "forged.safetensors (missing or invalid)" in at.selectbox(key="setup:model").format_func(
        "forged.safetensors"
    )
    at.selectbox(key="setup:model").set_value("").run()  # the store still works: back to the shipped model
    assert not at.exception and at.subheader[0].value.startswith("Selected model: shapes10-smallcnn")


@pytest.mark.parametrize("changes", POISONS.values(), ids=POISONS.keys())
def test_a_forged_upload_is_refused_and_not_stored(tmp_path, changes):
    payload = forged(tmp_path / "forged.safetensors", **changes).read_bytes()
    with pytest.raises(CheckpointError, match="metadata of upload.safetensors is invalid"):
        imports.from_bytes("upload.safetensors", payload, Setup())
    assert not model_store().exists() or not list(model_store().iterdir())


def test_a_refused_upload_is_checked_once_not_on_every_rerun(monkeypatch):
    from streamlit.testing.v1 import AppTest

    from studio import nav

    checked = []
    real = imports.from_bytes
    monkeypatch.setattr(imports, "from_bytes", lambda name, *a: checked.append(name) or real(name, *a))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90).run()
    at.switch_page(nav.MODEL.path).run()
    at.file_uploader(key="upload").set_value(("zeros.pt", b"\0" * 64, "application/octet-stream")).run()
    at.run()  # any later interaction reruns the page with the file still in the uploader
    assert checked == ["zeros.pt"]
    assert "zeros.pt is damaged" in " ".join(e.value for e in at.error)  # the refusal stays visible


# --- imports: names, NaN weights, size, suffix -----------------------------------------------------------


def test_upload_names_stay_usable_and_never_shadow_a_shipped_model(shipped_model, monkeypatch, tmp_path):
    setup = Setup()
    assert imports.from_bytes("模型.pt", pt_bytes(shipped_model), setup) == "模型.safetensors"
    assert imports.from_bytes("!!!.pt", pt_bytes(shipped_model), setup) == "imported.safetensors"
    monkeypatch.setenv(roots.IMPORT_ENV, str(tmp_path))
    (tmp_path / SHIPPED.name).write_bytes(SHIPPED.read_bytes())
    name = imports.from_source(str(tmp_path / SHIPPED.name), setup)
    assert name == "shapes10-smallcnn-2.safetensors"  # not the shipped file's name, which would win
    assert (model_store() / name).exists()


def test_an_upload_with_nan_weights_is_refused(shipped_model):
    broken = shipped_model.copy()
    with torch.no_grad():
        broken.net.fc.weight[0, 0] = float("nan")
    with pytest.raises(CheckpointError, match="NaN or infinite weights"):
        imports.from_bytes("nan.pt", pt_bytes(broken), Setup())
    assert not model_store().exists() or not list(model_store().iterdir())


def test_a_huge_file_is_refused_by_its_size_without_being_read(tmp_path, monkeypatch):
    monkeypatch.setenv(roots.IMPORT_ENV, str(tmp_path))
    huge = tmp_path / "huge.pt"
    with open(huge, "wb") as f:  # sparse: no disk used
        f.truncate(roots.MAX_FILE_BYTES + 1)
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail("the file was read"))
    with pytest.raises(CheckpointError, match="it was not read"):
        imports.from_source(str(huge), Setup())


def test_a_wrong_suffix_is_refused_before_reading(tmp_path, monkeypatch):
    monkeypatch.setenv(roots.IMPORT_ENV, str(tmp_path))
    (tmp_path / "notes.bin").write_bytes(b"x" * 100)
    with pytest.raises(CheckpointError, match="Unsupported checkpoint type '.bin'"):
        imports.from_source(str(tmp_path / "notes.bin"), Setup())


# --- damaged files -------------------------------------------------------------------------------------------


class Exploit:
    def __reduce__(self):
        return (os.system, ("true",))


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("empty.pt", b"", r"is empty \(0 bytes\)"),
        ("zeros.pt", b"\x00" * 64, "is damaged"),
        ("random.pt", bytes(range(7, 256)) * 4, "is damaged"),
        ("text.pth", b"not a checkpoint at all", "is damaged"),
        ("empty.safetensors", b"", r"is empty \(0 bytes\)"),
        ("random.safetensors", bytes(range(256)) * 4, "is damaged"),
        ("evil.pt", pickle.dumps({"fc.weight": Exploit()}), "would run code"),
        ("evil-zip.pt", None, "would run code"),
    ],
)
def test_damaged_files_are_called_damaged_and_code_is_called_code(tmp_path, shipped_model, name, content, message):
    path = tmp_path / name
    if content is None:
        torch.save({"fc.weight": Exploit()}, path)  # torch's own zip format
    else:
        path.write_bytes(content)
    with pytest.raises(CheckpointError, match=message) as err:
        load_model(path, shipped_model.info)
    assert "()." not in str(err.value)  # was: "not a readable PyTorch checkpoint ()."
