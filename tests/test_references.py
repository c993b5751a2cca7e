"""The reference (retrained) model store: a reference is trained once then reused by compare, the plan and the
CLI, shipped references match the default model, an under-trained one is flagged, and the gold standard keeps
the original's training."""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path

import pytest
import torch
from test_methods import FORGET

from unsir_core.algorithm.pipeline import run_unsir
from unsir_core.checkpoints import references
from unsir_core.common.config import NoiseConfig, TrainConfig, UnsirConfig
from unsir_core.experiments.compare import MetricSettings, compare
from unsir_core.experiments.compare_plan import plan
from unsir_core.methods import get_method

ONE_EPOCH = TrainConfig(epochs=1, batch_size=64)


def test_a_reference_is_trained_once_then_reused(shipped_model, tiny_shapes):
    first = references.obtain(shipped_model, tiny_shapes, FORGET, ONE_EPOCH, "cpu")
    assert not first.reused and first.path.parent == references.store_dir()
    again = references.obtain(shipped_model, tiny_shapes, FORGET, ONE_EPOCH, "cpu")
    assert again.reused and again.path == first.path
    assert all(
        torch.equal(a, b) for a, b in zip(first.model.net.state_dict().values(), again.model.net.state_dict().values())
    )
    other_seed = references.ReferenceKey.for_original(shipped_model.info, FORGET, replace(ONE_EPOCH, seed=1))
    assert references.find(other_seed) is None  # a different training setting is a different reference


def test_compare_reuses_the_stored_reference(shipped_model, tiny_shapes):
    ms = MetricSettings(relearn=False, mia_samples=100, probe=False)
    settings = {"retrain": {"epochs": 1, "batch_size": 64}}
    first = compare(shipped_model, tiny_shapes, FORGET, ["retrain"], settings, "cpu", metrics=ms)
    assert not first.row("retrain").details.get("reused")
    second = compare(shipped_model, tiny_shapes, FORGET, ["retrain"], settings, "cpu", metrics=ms)
    row = second.row("retrain")
    assert row.details["reused"] and "reference store" in second.reference
    assert row.wall_s == first.row("retrain").details["train_s"]  # its recorded training time, not ~0 s
    assert row.retain_acc == first.row("retrain").retain_acc
    # one epoch on 400 images is far from the original's A_Dr: flagged
    assert second.reference_warning and second.reference_warning in second.notes
    assert "Under-trained reference" in second.to_markdown()


SHIPPED = sorted(references.SHIPPED_DIR.glob("*.safetensors"))
# (data set, its shipped original, the data, a class to forget in Compare): the fixtures of conftest.py
SHIPPED_SETS = [
    ("shapes10", "shipped_model", "shapes", "star"),
    ("fashionmnist", "fashion_model", "fashion_mnist", "Trouser"),
]


@pytest.mark.skipif(not SHIPPED, reason="no shipped references yet: add them with tools/ship_references.py")
@pytest.mark.slow
@pytest.mark.parametrize("dataset, model_fixture, data_fixture, forget", SHIPPED_SETS)
def test_shipped_references_match_the_default_model_at_full_strength(
    request, dataset, model_fixture, data_fixture, forget
):
    from unsir_core.metrics.evaluate import evaluate

    data = request.getfixturevalue(data_fixture)
    original_model = request.getfixturevalue(model_fixture)
    shipped = [p for p in SHIPPED if references.read_info(p).dataset == dataset]
    assert len(shipped) == data.num_classes  # one per class
    cfg = get_method("retrain").settings().train_config(original_model.info)  # the default Retrain settings
    for path in shipped:
        info = references.read_info(path)
        key = references.ReferenceKey.of(info)
        assert key == references.ReferenceKey.for_original(original_model.info, info.forgotten, cfg)
        assert references.find(key) == path and path.name == key.file_name(data.class_names)
        original = evaluate(original_model, data, info.forgotten).retain_acc
        assert not references.under_trained(info.test_acc, original), path.name


@pytest.mark.skipif(not SHIPPED, reason="no shipped references yet: add them with tools/ship_references.py")
@pytest.mark.slow
@pytest.mark.parametrize("dataset, model_fixture, data_fixture, forget", SHIPPED_SETS)
def test_compare_on_one_class_uses_the_shipped_reference_without_training(
    request, monkeypatch, dataset, model_fixture, data_fixture, forget
):
    data = request.getfixturevalue(data_fixture)
    original_model = request.getfixturevalue(model_fixture)
    monkeypatch.setattr(references, "fit", lambda *a, **k: pytest.fail("a shipped reference was trained again"))
    ms = MetricSettings(relearn=False, mia_samples=100, probe=False)
    result = compare(original_model, data, [forget], ["finetune"], {"finetune": {"epochs": 1}}, "cpu", metrics=ms)
    row = result.row("retrain")
    assert row.details["reused"] and row.details["reference"]["shipped"]
    assert Path(row.details["reference"]["path"]).parent == references.SHIPPED_DIR
    assert row.retain_acc >= references.UNDER_TRAINED_BELOW * result.row("original").retain_acc
    assert result.reference_warning is None and row.forget_acc == 0.0
    assert row.wall_s == references.read_info(row.details["reference"]["path"]).details["train_s"]


def test_under_trained_below_95_percent_of_the_original():
    assert references.under_trained(70.3, 94.0) and references.warning(70.3, 94.0).startswith("Under-trained")
    assert not references.under_trained(90.0, 94.0) and references.warning(90.0, 94.0) is None


def test_cli_train_exclude_lands_in_the_reference_store(tiny_shapes, monkeypatch, capsys):
    from unsir_core.cli import main as cli

    monkeypatch.setattr("unsir_core.data.load_dataset", lambda *a, **k: tiny_shapes)
    assert cli.main(["train", "--exclude", "star", "--epochs", "1", "--quiet"]) == 0
    stored = list(references.store_dir().glob("*.safetensors"))
    assert len(stored) == 1 and stored[0].name.startswith("shapes10-smallcnn-without-star-")


def test_the_plan_knows_a_stored_reference_costs_nothing(shipped_model, tiny_shapes):
    ms = MetricSettings(relearn=False, probe=False)
    before = plan(
        shipped_model,
        tiny_shapes,
        FORGET,
        ["retrain", "unsir"],
        {"retrain": asdict(get_method("retrain").settings({"epochs": 1, "batch_size": 64}))},
        ms,
        1000.0,
    )
    assert before[0].images > 0 and before[1].images > 0
    references.obtain(shipped_model, tiny_shapes, FORGET, replace(ONE_EPOCH, seed=0), "cpu")
    after = plan(
        shipped_model, tiny_shapes, FORGET, ["retrain"], {"retrain": {"epochs": 1, "batch_size": 64}}, ms, 1000.0
    )
    assert after[0].images == 0 and "stored reference" in after[0].note


@pytest.mark.skipif(not SHIPPED, reason="no shipped references yet: add them with tools/ship_references.py")
def test_a_reused_reference_is_not_reported_as_a_fast_retrain(shipped_model, shapes):
    from unsir_core.report.summary import summarize
    from unsir_core.training.train import gold_standard_config

    cfg = UnsirConfig(noise=NoiseConfig(batch_size=16, steps=3), noise_copies=1, retain_per_class=20)
    run = run_unsir(shipped_model, shapes, ["heart"], cfg, "cpu", retrain=gold_standard_config(shipped_model.info, 0))
    report = run.to_json()
    assert "retrain" not in report["timings_s"] and report["timings_s"]["reference"] < 30
    made = report["extras"]["reference"]["train_s"]
    assert report["extras"]["reference"]["shipped"] and made > 60  # a 40-epoch retrain, recorded when it was made
    assert "when the stored reference was made" in summarize(report)


def test_an_unlearned_model_keeps_the_originals_training_for_its_gold_standard(shipped_model, tiny_shapes):
    """A chained request's reference is retrained like the original (40 epochs), not with bare defaults."""
    from unsir_core.training.train import gold_standard_config

    cfg = UnsirConfig(noise=NoiseConfig(batch_size=8, steps=2), noise_copies=1, retain_per_class=10)
    unlearned = run_unsir(shipped_model, tiny_shapes, ["star"], cfg, "cpu").result.model
    assert unlearned.info.details["train_config"] == shipped_model.info.details["train_config"]
    assert gold_standard_config(unlearned.info, 3) == gold_standard_config(shipped_model.info, 3)
    assert gold_standard_config(unlearned.info, 3).epochs == 40


def test_a_setting_left_at_none_keeps_a_references_name_and_a_set_one_changes_it():
    shipped = next(p for p in references.SHIPPED_DIR.glob("shapes10-*.safetensors"))  # named before input_size
    info = references.read_info(shipped)
    key = references.ReferenceKey.of(info)
    assert key.train.input_size is None and key.file_name(info.class_names) == shipped.name
    sized = replace(key, train=replace(key.train, input_size=28))
    assert sized.file_name(info.class_names) != shipped.name
