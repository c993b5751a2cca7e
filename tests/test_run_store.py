"""The session's run history on disk (studio/run_store.py): a finished run read back after a restart is the run
that was saved, a damaged file is set aside with a message, and one bad run does not lose the others."""

from __future__ import annotations

import json

import pytest

from studio import run_store
from studio.runs import RunRecord
from studio.setup import Setup
from unsir_core.algorithm.pipeline import run_unsir
from unsir_core.common.config import NoiseConfig, UnsirConfig
from unsir_core.data import load_dataset

OWNER = "0123456789abcdef0123456789abcdef:feedfacecafebeef"


@pytest.fixture(scope="module")
def record(shipped_model):
    """A real (one noise step, ten retain images a class) run's record, as the Impair page keeps it: report, live
    chart, a JSON audit and an object one. Shared by the tests, which only read it."""
    cfg = UnsirConfig(noise=NoiseConfig(batch_size=8, steps=1), noise_copies=1, retain_per_class=10)
    run = run_unsir(shipped_model, load_dataset("shapes10"), ["triangle"], cfg, "cpu")
    setup = Setup.fresh().with_value("forget", ("triangle",)).with_value("impair.lr", 0.02)
    live = [{"phase": "impair", "step": 1, "total": 2, "loss": 1.5, "forget_acc": 50.0, "retain_acc": 90.0}]
    rec = RunRecord(3, setup.with_base(cfg), "m.safetensors", "12:00:00", run.to_json(), live, run)
    rec.audits = {"mia": {"original": {"accuracy": 0.5}}, "held": object()}
    return rec


def test_a_saved_run_reads_back_as_it_was_measured_without_its_models(record):
    path = run_store.path_for(OWNER)
    run_store.save(path, [record.to_row()])
    (back,), problems = run_store.load(path, RunRecord.from_row)
    assert problems == []
    assert (back.id, back.setup, back.model_name, back.created) == (3, record.setup, "m.safetensors", "12:00:00")
    assert back.setup.config == record.setup.config  # the base settings too, not only the user's changes
    assert back.report == json.loads(json.dumps(record.report))
    assert back.live == record.live
    assert back.audits == {"mia": {"original": {"accuracy": 0.5}}}  # the object audit is not kept
    assert back.unsir is None and back.models() == {}
    assert back.title == record.title


def test_each_session_has_its_own_file_and_the_token_is_not_in_its_name():
    mine, theirs = run_store.path_for(OWNER), run_store.path_for(OWNER.replace("feed", "beef"))
    assert mine != theirs and mine.parent == theirs.parent == run_store.folder()
    assert OWNER.split(":")[0] not in mine.name


def test_no_file_is_no_run_and_no_message():
    assert run_store.load(run_store.path_for(OWNER), RunRecord.from_row) == ([], [])


@pytest.mark.parametrize("text", ["{not json", '{"version": 0, "runs": []}', "[1, 2]", '{"version": 1}'])
def test_an_unreadable_history_is_set_aside_with_a_message_and_never_overwritten(record, text):
    path = run_store.path_for(OWNER)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    runs, (message,) = run_store.load(path, RunRecord.from_row)
    aside = path.with_name(path.name + ".unreadable")
    assert runs == [] and not path.exists() and aside.read_text() == text
    assert str(aside) in message and "saved afresh" in message
    run_store.save(path, [record.to_row()])  # the next run saves a new history beside the old file
    assert len(run_store.load(path, RunRecord.from_row)[0]) == 1 and aside.read_text() == text


def test_one_unreadable_run_is_skipped_and_named_the_others_load(record):
    path = run_store.path_for(OWNER)
    broken = {k: v for k, v in record.to_row().items() if k != "report"}
    run_store.save(path, [record.to_row(), broken, {**record.to_row(), "id": 4}])
    runs, (message,) = run_store.load(path, RunRecord.from_row)
    assert [r.id for r in runs] == [3, 4]
    assert message.startswith("Saved run 2 of this session could not be read") and "report" in message


def test_a_save_replaces_the_whole_history_and_leaves_no_temporary_file(record):
    path = run_store.path_for(OWNER)
    run_store.save(path, [record.to_row(), {**record.to_row(), "id": 4}])
    run_store.save(path, [record.to_row()])
    assert [r.id for r in run_store.load(path, RunRecord.from_row)[0]] == [3]
    assert [p.name for p in path.parent.iterdir()] == [path.name]
