"""Metadata is description, never instruction (issue 19): forged details, headers and pickles through the real
entry points (the command line, uploads, the store behind every page), and property tests of the reader.

- the true original of an unlearned checkpoint is found by the digest of its weights, only among the stored
  and shipped models: a path or name in the metadata is never opened, so the answer is the same whether or
  not the named file exists;
- every `details` field a page or run reads passes one schema (`unsir_core.models.info_schema`) on read;
- a header of the wrong type, or nested 100,000 deep, is a clean CheckpointError everywhere;
- a pickle flood is refused with bounded work and memory.
"""

from __future__ import annotations

import json
import re
import struct
import subprocess
import sys
import tempfile
from dataclasses import fields
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from streamlit.testing.v1 import AppTest

from studio import imports, nav
from studio.setup import Setup
from tests.helpers import FAST, run_cli
from unsir_core.checkpoints.catalog import weights_sha256
from unsir_core.checkpoints.store import META_KEY, list_models, load_model, read_info
from unsir_core.common.config import TrainConfig
from unsir_core.common.errors import CheckpointError
from unsir_core.common.paths import ASSETS_DIR, model_store
from unsir_core.models.info_schema import RULES

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
SHIPPED = ASSETS_DIR / "shapes10-smallcnn.safetensors"
SHORT = {"retain_per_class": "40", "noise.steps": "5", "repair.epochs": "1"}
LONG_S = 600


def metadata(path: Path) -> dict:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return json.loads(f.metadata()[META_KEY])


def rewrite(source: Path, target: Path, **changes) -> Path:
    """A copy of `source` (same weights) whose metadata has `changes`; a `details` change replaces details."""
    from safetensors.torch import load_file, save_file

    save_file(load_file(str(source)), str(target), metadata={META_KEY: json.dumps({**metadata(source), **changes})})
    return target


def with_details(target: Path, **details) -> Path:
    """The shipped model with `details` added to its own."""
    return rewrite(SHIPPED, target, details={**metadata(SHIPPED)["details"], **details})


def raw_safetensors(path: Path, header: bytes, data: bytes = b"") -> Path:
    """A file in the safetensors layout with this exact header text."""
    path.write_bytes(struct.pack("<Q", len(header)) + header + data)
    return path


def deep(n: int) -> str:
    return "[" * n + "]" * n


# --- 1. the true original is found by its weights, never by a name or path in the metadata -------------------


@pytest.fixture(scope="module")
def unlearned(tmp_path_factory) -> Path:
    """`unlearn --forget triangle --save-model` on the shipped model: an unlearned checkpoint with its lineage."""
    out = tmp_path_factory.mktemp("unlearned") / "unl-triangle.safetensors"
    res = subprocess.run(
        [sys.executable, "-m", "unsir_core", "unlearn", "--forget", "triangle", "--save-model", str(out), *FAST],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=LONG_S,
    )
    assert res.returncode == 0, res.stderr
    return out


@pytest.mark.slow
def test_an_unlearned_checkpoint_records_its_original_by_digest_not_path(unlearned):
    details = read_info(unlearned).details
    assert details["root_sha256"] == weights_sha256(SHIPPED)
    assert details["root"] == SHIPPED.name and "root_path" not in details


def chained_run(capsys, checkpoint: Path) -> tuple[int, dict, str]:
    code, out, err = run_cli(capsys, "unlearn", "--checkpoint", str(checkpoint), "--forget", "star", *FAST)
    return code, json.loads(out) if code == 0 else {}, err


@pytest.mark.slow
def test_the_original_is_found_in_the_shipped_models_by_its_weights(unlearned, tmp_path, capsys):
    moved = rewrite(
        unlearned,
        tmp_path / "renamed.safetensors",
        details={**read_info(unlearned).details, "root": "no-such-file.safetensors"},
    )
    code, report, err = chained_run(capsys, moved)
    assert code == 0, err
    assert list(report["metrics"])[:2] == ["original", "start"] and "warning" not in err
    original = run_cli(capsys, "evaluate", "--checkpoint", str(SHIPPED), "--forget", "star")[1]
    assert report["metrics"]["original"]["per_class_acc"] == json.loads(original)["metrics"]["per_class_acc"]


@pytest.mark.slow
def test_metadata_naming_a_file_gets_one_answer_whether_or_not_it_exists(unlearned, tmp_path, capsys):
    """The reported leak: root_path naming a .safetensors outside every root was loaded as the original, /etc/passwd
    gave another error and a missing path passed. Now none is opened and all three read as "not found"."""
    outside = tmp_path / "outside"
    outside.mkdir()
    elsewhere = rewrite(ASSETS_DIR / "shapes10-allcnn.safetensors", outside / "other.safetensors")
    details = {**read_info(unlearned).details, "root_sha256": "0" * 64}  # the digest of no stored model
    answers = []
    for i, named in enumerate([str(elsewhere), "/etc/passwd", str(outside / "missing.safetensors")]):
        forged = rewrite(
            unlearned,
            tmp_path / f"forged{i}.safetensors",
            details={**details, "root_path": named, "root": named.rsplit("/", 1)[-1]},
        )
        code, report, err = chained_run(capsys, forged)
        assert code == 0, err
        answers.append((list(report["metrics"]), err.replace(forged.name, "FORGED")))
    assert answers[0] == answers[1] == answers[2]
    assert "start" not in answers[0][0] and "its original was not found" in answers[0][1]


# --- 5. a run from a stored unlearned model (was: IndexError on Results) ------------------------------------


@pytest.mark.slow
def test_a_stored_unlearned_model_runs_and_shows_its_results(unlearned):
    model_store().mkdir(parents=True, exist_ok=True)
    (model_store() / unlearned.name).write_bytes(unlearned.read_bytes())
    at = AppTest.from_file(APP, default_timeout=90)
    at.query_params = {"model": unlearned.name, "forget": "star", **SHORT}
    at.run()
    at.switch_page(nav.UNLEARN.path).run()
    at.button(key="run-unsir").click().run(timeout=LONG_S)
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
    at.switch_page(nav.RESULTS.path).run()
    assert not at.exception, [e.value for e in at.exception]
    record = at.session_state["runs"][-1]
    assert list(record.metrics)[:2] == ["original", "start"]  # the true original found by its weights
    assert "A_Df · Starting model, already forgot triangle" in [m.label for m in at.metric]
    caption = " ".join(c.value for c in at.caption)
    assert "**Starting model** (already forgot triangle): unl-triangle.safetensors" in caption
    assert "found among the stored and shipped models by the digest of its weights" in caption


# --- 2. one schema for every details field that is read -----------------------------------------------------

BAD_DETAILS = {
    "epochs-text": ({"train_config": {"epochs": "x"}}, "details.train_config.epochs must be a whole number"),
    "batch-0": ({"train_config": {"batch_size": 0}}, "details.train_config.batch_size = 0 is out of range"),
    "batch-text": ({"train_config": {"batch_size": "64"}}, "details.train_config.batch_size"),
    "lr-negative": ({"train_config": {"lr": -1}}, "details.train_config.lr = -1 is out of range"),
    "train-config-list": ({"train_config": [1]}, "details.train_config must be a JSON object"),
    "train-s-text": ({"train_s": "soon"}, "details.train_s must be a number"),
    "root-digest": ({"root_sha256": "../../etc/passwd"}, "details.root_sha256 must be 64 hex digits"),
    "root-long": ({"root": "x" * 1000}, "details.root must be a non-empty text"),
    "deep": ({"notes": json.loads(deep(20))}, "nested more than 8 levels deep"),
    "huge-list": ({"notes": list(range(20_000))}, "has more than 10,000 items"),
    "long-text": ({"notes": "x" * 5000}, "details.notes is longer than 2,000 characters"),
    "lineage-not-list": ({"lineage": {"a": 1}}, "details.lineage must list at most 100 requests"),
}


def lineage_entry(**changes) -> dict:
    stage = {"forget_acc": 0.0, "retain_acc": 90.0, "overall_acc": 80.0, "per_class_acc": [90.0] * 10}
    return {
        "forget": ["triangle"],
        "forgotten_total": ["triangle"],
        "config": {},
        "seed": 0,
        "preset": "auto",
        "overrides": {},
        "metrics": {"original": stage, "repair": stage},
        "unlearn_s": 1.5,
        "parent": "m",
        **changes,
    }


BAD_LINEAGE = {
    "seed-script": ({"seed": "<script>alert(1)</script>"}, r"details.lineage\[0\].seed must be a whole number"),
    "unknown-class": ({"forget": ["<img src=x onerror=alert(1)>"]}, "must list different class names of the model"),
    "short-per-class": ({"metrics": {"original": {}, "repair": {}}}, "lacks forget_acc"),
    "no-repair": ({"metrics": {"original": lineage_entry()["metrics"]["original"]}}, "stages original and repair"),
    "config-typo": ({"config": {"impair": {"lrr": 1}}}, "is not an UNSIR configuration"),
    "override-range": ({"overrides": {"impair.lr": 50}}, "impair.lr = 50 is out of range"),
    "override-unknown": ({"overrides": {"noise": {"steps": 1}}}, "must map UNSIR setting names"),
    "time-nan": ({"unlearn_s": float("nan")}, "unlearn_s must be a number"),
}


@pytest.mark.parametrize("details, message", BAD_DETAILS.values(), ids=BAD_DETAILS.keys())
def test_a_bad_details_field_is_refused_on_read_and_never_listed(tmp_path, details, message):
    path = with_details(tmp_path / "forged.safetensors", **details)
    with pytest.raises(CheckpointError, match=re.escape(message) if "\\" not in message else message):
        read_info(path)
    assert list_models(dirs=(tmp_path,)) == []


@pytest.mark.parametrize("changes, message", BAD_LINEAGE.values(), ids=BAD_LINEAGE.keys())
def test_a_bad_lineage_entry_is_refused_on_read(tmp_path, changes, message):
    path = with_details(tmp_path / "forged.safetensors", lineage=[lineage_entry(**changes)])
    with pytest.raises(CheckpointError, match=message if "\\" in message else re.escape(message)):
        read_info(path)


def test_a_good_lineage_entry_and_description_are_kept(tmp_path):
    path = with_details(tmp_path / "ok.safetensors", lineage=[lineage_entry()], notes={"free": ["text", 1, None]})
    details = read_info(path).details
    assert details["lineage"][0]["forget"] == ["triangle"] and details["notes"] == {"free": ["text", 1, None]}


def test_bad_details_give_a_clean_cli_error(tmp_path, capsys):
    path = with_details(tmp_path / "forged.safetensors", train_config={"epochs": "x"})
    code, out, err = run_cli(capsys, "evaluate", "--checkpoint", str(path))
    assert code == 2 and out == "" and "Traceback" not in err
    assert "error: The metadata of forged.safetensors is invalid: details.train_config.epochs" in err


def test_every_details_key_the_code_reads_has_a_rule():
    """A new field cannot skip the schema: each `info.details` key read in the engine or the dashboard is in RULES,
    (TrainConfig checks its own fields' ranges)."""
    read = set()
    for source in [*ROOT.glob("unsir_core/**/*.py"), *ROOT.glob("studio/*.py"), *ROOT.glob("app_pages/*.py")]:
        read |= set(re.findall(r"info\.details(?:\.get\(|\[)\"(\w+)\"", source.read_text()))
    assert read and read <= set(RULES), read - set(RULES)


POISONED_DETAILS = {"train_config": {"epochs": "x", "batch_size": 0}}


def test_poisoned_details_in_the_store_break_no_page():
    """The reported crashes: epochs "x" on Model and data, batch_size 0 on Impair and repair."""
    model_store().mkdir(parents=True)
    with_details(model_store() / "poisoned.safetensors", **POISONED_DETAILS)
    at = AppTest.from_file(APP, default_timeout=90)
    at.query_params = {"model": "poisoned.safetensors"}
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    for page in (nav.NOISE, nav.UNLEARN, nav.MODEL):
        at.switch_page(page.path).run()
        assert not at.exception, [e.value for e in at.exception]
    assert "poisoned.safetensors (missing or invalid)" in at.selectbox(key="setup:model").format_func(
        "poisoned.safetensors"
    )


# --- 3. headers of the wrong type or depth --------------------------------------------------------------------


def bad_headers(tmp: Path) -> dict[str, Path]:
    inner = json.dumps({**metadata(SHIPPED), "details": json.loads(deep(100))})
    return {
        "metadata-5": raw_safetensors(tmp / "meta5.safetensors", b'{"__metadata__": 5}'),
        "metadata-list": raw_safetensors(tmp / "metalist.safetensors", b'{"__metadata__": ["a"]}'),
        "metadata-value-int": raw_safetensors(tmp / "metaint.safetensors", b'{"__metadata__": {"unsir_studio": 5}}'),
        "header-deep": raw_safetensors(tmp / "deep.safetensors", deep(100_000).encode()),
        "metadata-deep": raw_safetensors(
            tmp / "metadeep.safetensors", json.dumps({"__metadata__": {META_KEY: deep(100_000)}}).encode()
        ),
        "details-deep": raw_safetensors(
            tmp / "detailsdeep.safetensors", json.dumps({"__metadata__": {META_KEY: inner}}).encode()
        ),
        "entry-int": raw_safetensors(tmp / "entry.safetensors", b'{"w": 5}'),
        "offsets-text": raw_safetensors(
            tmp / "offsets.safetensors", b'{"w": {"dtype": "F32", "shape": [1], "data_offsets": ["0", "4"]}}', b"abcd"
        ),
    }


CASES = [
    "metadata-5",
    "metadata-list",
    "metadata-value-int",
    "header-deep",
    "metadata-deep",
    "details-deep",
    "entry-int",
    "offsets-text",
]


@pytest.mark.parametrize("case", CASES)
def test_a_bad_header_is_a_clean_cli_error(tmp_path, capsys, case):
    path = bad_headers(tmp_path)[case]
    code, out, err = run_cli(capsys, "evaluate", "--checkpoint", str(path), "--arch", "smallcnn")
    assert code == 2 and out == "" and "Traceback" not in err, err
    assert re.search(r"error: .*(is damaged|is invalid)", err), err


@pytest.mark.parametrize("case", CASES)
def test_a_bad_header_upload_is_refused_and_not_stored(tmp_path, case):
    path = bad_headers(tmp_path)[case]
    with pytest.raises(CheckpointError, match="is damaged|is invalid"):
        imports.from_bytes("upload.safetensors", path.read_bytes(), Setup())
    assert not model_store().exists() or not list(model_store().glob("*.safetensors"))


def test_bad_headers_in_the_store_are_skipped_and_break_no_page():
    model_store().mkdir(parents=True)
    made = bad_headers(model_store())
    assert [m.path.name for m in list_models()] == [p.name for p in sorted(ASSETS_DIR.glob("*.safetensors"))]
    at = AppTest.from_file(APP, default_timeout=90)
    at.query_params = {"model": made["metadata-5"].name}
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    for page in (nav.MODEL, nav.NOISE, nav.UNLEARN):
        at.switch_page(page.path).run()
        assert not at.exception, [e.value for e in at.exception]


# --- 7. a .safetensors without metadata, with --arch -----------------------------------------------------------


def test_a_safetensors_without_metadata_loads_with_arch(tmp_path, capsys):
    from safetensors.torch import load_file, save_file

    plain = tmp_path / "plain.safetensors"
    save_file(load_file(str(SHIPPED)), str(plain))
    code, out, err = run_cli(capsys, "evaluate", "--checkpoint", str(plain))
    assert code == 2 and "add --arch" in err and "Traceback" not in err
    code, out, err = run_cli(capsys, "evaluate", "--checkpoint", str(plain), "--arch", "smallcnn")
    assert code == 0, err
    report = json.loads(out)
    shipped = json.loads(run_cli(capsys, "evaluate", "--checkpoint", str(SHIPPED))[1])
    assert report["arch"] == "smallcnn" and report["metrics"]["overall_acc"] == shipped["metrics"]["overall_acc"]
    code, out, err = run_cli(capsys, "evaluate", "--checkpoint", str(plain), "--arch", "allcnn")
    assert code == 2 and "does not fit" in err  # the wrong architecture is named, not loaded


# --- 9. the pickle opcode flood -----------------------------------------------------------------------------------


def test_a_pickle_flood_is_refused_quickly_with_little_memory(tmp_path, capsys):
    """The reported cost: 49 MB of NONE opcodes took 39 s and 500 MB before refusal. The scan stops at its operation
    budget; a fresh process measures time and peak memory."""
    flood = tmp_path / "flood.pt"
    flood.write_bytes(b"\x80\x02" + b"N" * 49_000_000 + b".")
    script = """
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from unsir_core.models.classifier import ModelInfo
from unsir_core.common.errors import CheckpointError
from unsir_core.checkpoints.store import load_model
info = ModelInfo("smallcnn", "shapes10", tuple("abcdefghij"), width=0.5)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
try:
    load_model(Path(sys.argv[2]), info)
    message = ""
except CheckpointError as err:
    message = str(err)
print(json.dumps({"s": time.perf_counter() - start, "mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
                  / 1024, "message": message}))
"""
    res = subprocess.run(
        [sys.executable, "-c", script, str(ROOT), str(flood)], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout.strip().splitlines()[-1])
    assert "its pickle runs past 300,000 operations" in report["message"]
    assert report["mb"] < 50 and report["s"] < 5, report  # measured: 0.3 s, 0 MB (2-core CPU)
    code, out, err = run_cli(capsys, "evaluate", "--checkpoint", str(flood), "--arch", "smallcnn")
    assert code == 2 and "error: Refused to load flood.pt" in err


def test_a_pickle_with_one_huge_value_is_refused_unread(tmp_path, capsys):
    import pickle

    path = tmp_path / "huge.pt"
    path.write_bytes(pickle.dumps({"w": b"x" * 5_000_000}, protocol=4))
    code, out, err = run_cli(capsys, "evaluate", "--checkpoint", str(path), "--arch", "smallcnn")
    assert code == 2 and "a single value over 1,048,576 bytes" in err


# --- property tests of the checkpoint reader ------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=30,
)
FIELDS = [
    "arch",
    "dataset",
    "class_names",
    "in_channels",
    "input_size",
    "mean",
    "std",
    "width",
    "forgotten",
    "origin",
    "test_acc",
    "details",
]
DETAIL_KEYS = st.sampled_from([*RULES, "notes", "versions"]) | st.text(max_size=10)
TRAIN = st.dictionaries(st.sampled_from([f.name for f in fields(TrainConfig)]), JSON, max_size=4)
DETAILS = st.dictionaries(
    DETAIL_KEYS, JSON | TRAIN | st.lists(st.dictionaries(st.text(max_size=8), JSON), max_size=3), max_size=6
)


def read_bytes(payload: bytes) -> None:
    """Read `payload` as a checkpoint file the way the store and the CLI do: only CheckpointError may come out."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.safetensors"
        path.write_bytes(payload)
        try:
            load_model(path)
        except CheckpointError:
            pass
        assert [m.path for m in list_models(dirs=(Path(tmp),))] in ([], [path])


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(changes=st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=4), details=DETAILS)
def test_random_metadata_raises_nothing_but_checkpoint_error(changes, details):
    meta = {**metadata(SHIPPED), **changes, "details": details}
    header = json.dumps({"__metadata__": {META_KEY: json.dumps(meta)}}).encode()
    read_bytes(struct.pack("<Q", len(header)) + header)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    header=JSON | st.dictionaries(st.text(max_size=8), JSON, max_size=4),
    data=st.binary(max_size=16),
    declared=st.none() | st.integers(min_value=0, max_value=2**64 - 1),
)
def test_random_headers_raise_nothing_but_checkpoint_error(header, data, declared):
    text = json.dumps(header).encode()
    read_bytes(struct.pack("<Q", len(text) if declared is None else declared) + text + data)


@settings(max_examples=50, deadline=None)
@given(payload=st.binary(max_size=64))
def test_random_bytes_raise_nothing_but_checkpoint_error(payload):
    read_bytes(payload)
