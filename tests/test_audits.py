"""Audits a stakeholder can trust: MIA with its own accuracy, the privacy score against the retrained model,
the feature probe, the relearn crossing, honest charts and true help texts, and the results and compare pages
that show them (an under-trained reference, "not computed" rather than 0)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest
from test_methods import FORGET

from unsir_core.algorithm.pipeline import run_unsir
from unsir_core.checkpoints import references
from unsir_core.common.config import NoiseConfig, PhaseConfig, UnsirConfig
from unsir_core.experiments.compare import compare
from unsir_core.methods import METHODS, UnsirSettings
from unsir_core.metrics.audits import MetricSettings
from unsir_core.metrics.privacy import membership_inference, wilson_interval
from unsir_core.metrics.probe import feature_probe
from unsir_core.metrics.relearn import crossing, relearn_target
from unsir_core.metrics.retrain_privacy import privacy_from_logits

ROOT = Path(__file__).resolve().parent.parent


# ------------------------------------------------------------------ privacy


def test_mia_reports_its_own_accuracy_and_says_when_it_is_at_chance(shipped_model, tiny_shapes):
    result = membership_inference(shipped_model, tiny_shapes, FORGET, n=100, seed=0)
    assert result.n_score == 100 and 0 <= result.attack_auc <= 1
    assert result.acc_low <= result.attack_acc <= result.acc_high
    assert result.at_chance == (result.acc_low <= 50 <= result.acc_high) and "at_chance" in result.to_dict()
    assert wilson_interval(250, 500)[0] < 50 < wilson_interval(250, 500)[1]
    assert wilson_interval(400, 500)[0] > 50


@pytest.mark.slow
def test_results_and_compare_run_the_same_attack(shipped_model, tiny_shapes):
    """Same n and seed -> the same attack data -> the same figures for the same model."""
    ms = MetricSettings(relearn=False, mia_samples=100, probe=False, seed=3)
    result = compare(
        shipped_model,
        tiny_shapes,
        FORGET,
        ["neggrad"],
        {"neggrad": {"forget_samples": 40}},
        "cpu",
        metrics=ms,
        train_reference=False,
    )
    direct = membership_inference(shipped_model, tiny_shapes, FORGET, variant="entropy", n=100, seed=3)
    assert result.row("original").mia_entropy == direct.forget_member_rate
    assert result.row("original").mia_entropy_acc == direct.attack_acc


def test_privacy_score_against_retrain():
    logits = torch.randn(200, 10)
    same = privacy_from_logits(logits, logits.clone())
    assert same.score == 1.0 and same.attack_score == 0.0
    confident = torch.zeros(200, 10)
    confident[:, 0] = 20  # one model certain, the other uniform: any entropy threshold separates them
    apart = privacy_from_logits(confident, torch.zeros(200, 10))
    assert apart.score < 0.01 and apart.fpr == 0 and apart.fnr == 0


def test_feature_probe_reads_the_penultimate_features(shipped_model, tiny_shapes):
    result = feature_probe(shipped_model, tiny_shapes, FORGET, per_class=20)
    assert result.dim == shipped_model.net.fc.in_features and result.n_fit == 200
    assert 0 <= result.forget_acc <= 100 and result.chance == 10.0
    assert result.forget_acc > 3 * result.chance  # the original recognises the class in its features


# ------------------------------------------------------------------ relearn, charts, help


def test_relearn_headline_is_the_curve_crossing():
    target = relearn_target(93.5)
    assert target == pytest.approx(84.15)
    assert crossing([0, 1, 13, 20], [0.0, 40.0, 88.0, 90.0], target) == 13
    assert crossing([0, 1], [0.0, 40.0], target) is None


def test_weight_axis_has_readable_ticks_and_marks_frozen_layers():
    from studio import charts

    layers = [
        {"name": f"l{i}", "l2": v, "normalized": v, "n_params": 10} for i, v in enumerate([0.0, 0.0, 3e-4, 0.02, 1.7])
    ]
    fig = charts.weight_distance({"repair": layers, "retrain": layers}, normalized=True)
    ticks = fig.layout.yaxis.tickvals
    assert 2 <= len(ticks) <= charts.MAX_LOG_TICKS and min(ticks) >= 1e-4
    frozen = [t for t in fig.data if t.text is not None and "0 (frozen)" in t.text]
    assert len(frozen) == 2 and all(list(t.x) == ["l0", "l1"] for t in frozen)
    assert all(y is None or y > 0 for t in fig.data if t.text is None for y in t.y)  # no 1e-12 bars
    assert len(charts.log_ticks([1e-12, 2])) <= charts.MAX_LOG_TICKS


def test_every_setting_has_help_from_its_metadata():
    for name, method in METHODS.items():
        for f in method.fields():
            assert f.help, f"{name}.{f.name} has no metadata help"


def test_unsir_settings_run_the_session_config():
    cfg = UnsirConfig(
        noise=NoiseConfig(batch_size=32, steps=7),
        retain_per_class=123,
        noise_copies=3,
        impair=PhaseConfig(lr=0.004),
        repair=PhaseConfig(lr=0.003, epochs=2),
        seed=5,
    )
    s = UnsirSettings.from_config("paper-cifar10", cfg)
    assert s.apply(UnsirConfig()) == cfg  # every setting a session can change is carried over


# ------------------------------------------------------------------ the pages


@pytest.fixture(scope="module")
def record(shipped_model):
    """A small real run (frozen stem, like the shipped preset) with audits filled in as the jobs would."""
    from studio.runs import RunRecord
    from studio.setup import Setup
    from unsir_core.data import load_dataset
    from unsir_core.metrics.weights import layer_distances

    data = load_dataset("shapes10")
    phase = PhaseConfig(lr=0.01, batch_size=64, frozen=("features.0",))
    cfg = UnsirConfig(
        noise=NoiseConfig(batch_size=16, steps=5),
        noise_copies=2,
        retain_per_class=20,
        impair=phase,
        repair=replace(phase, lr=0.002),
    )
    run = run_unsir(shipped_model, data, ["triangle"], cfg, "cpu")
    report = run.to_json()
    report["extras"] = {
        "weights": {"repair": [d.to_dict() for d in layer_distances(run.result.model, shipped_model)]},
        "monitor_every": 5,
        "reference": {
            "path": "/x/shapes10-smallcnn-without-triangle-1.safetensors",
            "reused": True,
            "shipped": False,
            "train_s": 9.0,
            "strength": 0.3,
            "warning": references.warning(28.0, 94.0),
        },
    }
    rec = RunRecord(1, Setup.fresh().with_value("forget", ("triangle",)), "m.safetensors", "12:00:00", report, [], run)
    curve = {
        "epochs": None,
        "capped": True,
        "history": [0.0, 30.0, 60.0, 88.0, 89.0],
        "history_epochs": [0, 1, 5, 13, 20],
        "target_acc": 84.15,
        "samples_per_epoch": 500,
    }
    rec.audits = {
        "relearn": {"target": 84.15, "original": 93.5, "repair": curve},
        "mia": {"original": membership_inference(shipped_model, data, [2], n=500).to_dict()},
    }
    return rec


def _results(record) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    at.query_params = {"forget": "triangle"}
    at.run()
    at.session_state["runs"] = [record]
    at.switch_page("app_pages/results.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.mark.slow
def test_results_page_tells_the_truth(record):
    at = _results(record)
    card = next(m for m in at.metric if m.label == "Relearn epochs · Unlearned")
    assert card.value == "13"  # the curve's crossing of 90% of 93.5%, not "> 20"
    assert any("Under-trained reference" in w.value for w in at.warning)
    mia = record.audits["mia"]["original"]
    if mia["at_chance"]:
        assert any("At chance on Original" in i.value and "carries no information" in i.value for i in at.info)
    charts_ = at.get("plotly_chart")
    weights = next(c for c in charts_ if "w_original" in c.proto.spec)
    assert "0 (frozen)" in weights.proto.spec and "1e-12" not in weights.proto.spec
    from studio import charts as chart_module

    ticks = json.loads(weights.proto.spec)["layout"]["yaxis"]["tickvals"]
    assert 2 <= len(ticks) <= chart_module.MAX_LOG_TICKS  # was about 40 overlapping labels from 1e-12 to 2
    assert any("Privacy against the retrained model" in m.value for m in at.markdown)
    assert any("Unlearning Comparator" in c.value for c in at.caption)


def test_compare_page_starts_from_the_session_and_shows_the_plan():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    at.query_params = {"forget": "star", "retain_per_class": "123", "seed": "3"}
    at.run()
    at.switch_page("app_pages/compare.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.number_input(key="cmp:unsir:retain_per_class").value == 123
    assert at.number_input(key="cmp:finetune:seed").value == 3
    assert "Runs with: 123." in at.number_input(key="cmp:unsir:retain_per_class").help
    assert "Runs with: 40." in at.number_input(key="cmp:retrain:epochs").help  # the original's epochs
    plan_table = next(d.value for d in at.dataframe if "Estimated time" in d.value.columns)
    assert list(plan_table["Method"])[0] == "Retrain" and len(plan_table) == len(METHODS)
    assert any(m.value.startswith("**Plan:") for m in at.markdown)


def test_compare_page_draws_no_zero_for_what_was_not_computed(shipped_model, tiny_shapes):
    """A comparison without a reference, relearn time or probe: those charts say "not computed", never 0."""
    from studio import compare_job

    ms = MetricSettings(relearn=False, mia_samples=100, probe=False)
    result = compare(
        shipped_model,
        tiny_shapes,
        FORGET,
        ["finetune"],
        {"finetune": {"epochs": 1}},
        "cpu",
        metrics=ms,
        train_reference=False,
    )
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    at.query_params = {"forget": "star"}
    at.run()
    at.session_state[compare_job.RESULT] = result
    at.switch_page("app_pages/compare.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Relearn time: not computed" in c.value for c in at.caption)
    specs = {c.proto.id: json.loads(c.proto.spec) for c in at.get("plotly_chart")}
    uncomputed = [s for s in specs.values() if any("not computed" in str(x) for t in s["data"] for x in t.get("x", []))]
    assert len(uncomputed) >= 3  # distance to retrain, privacy vs retrain, feature probe
    for spec in uncomputed:
        for trace in spec["data"]:
            for x, y in zip(trace["x"], trace["y"]):
                assert "not computed" not in x or y is None, (x, y)
    assert not any("star" in str(t.get("marker", {}).get("symbol")) for s in specs.values() for t in s["data"])
    table = next(d.value for d in at.dataframe if "Method" in d.value.columns and "ToW" in d.value.columns)
    assert table.filter(like="Probe").isna().all().all()  # empty, not 0
