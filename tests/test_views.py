"""Where the forgotten class went: the shared embedding and its sentence, layer-wise CKA, the report's figures
and the CLI's `evaluate --embedding`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from unsir_core.common.errors import ConfigError
from unsir_core.metrics import views
from unsir_core.metrics.cka import CKA_BATCH, cka
from unsir_core.metrics.embedding import (
    APART,
    Embedding,
    EmbeddingSettings,
    clusters,
    sentence,
    shared_features,
    stratified_sample,
    whereabouts,
)

ROOT = Path(__file__).resolve().parent.parent
NAMES = ["circle", "square", "star"]


def test_the_sample_is_stratified_fixed_and_ascending():
    labels = torch.tensor([0] * 50 + [1] * 30 + [2] * 5)
    a = stratified_sample(labels, 3, 30, seed=3)
    assert a.tolist() == stratified_sample(labels, 3, 30, seed=3).tolist() == sorted(a.tolist())
    assert np.bincount(labels[a].numpy()).tolist() == [10, 10, 5]  # a small class gives all it has
    assert a.tolist() != stratified_sample(labels, 3, 30, seed=4).tolist()


def test_a_rotated_copy_of_the_features_lands_on_the_same_points():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(60, 8))
    rotation, _ = np.linalg.qr(rng.normal(size=(8, 8)))
    retain = np.arange(60) < 40
    shared = shared_features({"original": base, "retrain": 3 * base @ rotation}, retain, "original")
    assert np.allclose(shared["original"], shared["retrain"], atol=1e-8)
    with pytest.raises(ConfigError, match="differ in size"):
        shared_features({"original": base, "retrain": base[:, :4]}, retain, "original")


def test_cluster_membership_and_the_sentence_name_the_forget_class():
    rng = np.random.default_rng(1)
    labels = np.repeat([0, 1, 2], 40)
    centres = {0: (0.0, 0.0), 1: (10.0, 0.0)}
    original = np.concatenate([rng.normal(centres[0], 1, (40, 2)), rng.normal(centres[1], 1, (40, 2))])
    apart = np.concatenate([original, rng.normal((5.0, 20.0), 1, (40, 2))])  # the forget class: its own cluster
    moved = np.concatenate([original, rng.normal(centres[1], 0.5, (40, 2))])  # inside the square cluster
    split = np.concatenate([original, rng.normal(centres[0], 0.5, (20, 2)), rng.normal(centres[1], 0.5, (20, 2))])
    assert (clusters(apart, labels, [2], 90.0)[80:] == APART).all()
    points = {"original": apart, "repair": moved, "retrain": split}
    where = whereabouts(points, labels, [2], 90.0)
    assert where == {"original": [[APART, 100.0]], "repair": [[1, 100.0]], "retrain": [[0, 50.0], [1, 50.0]]}
    emb = Embedding(
        list(range(120)),
        labels.tolist(),
        {s: p.tolist() for s, p in points.items()},
        {s: labels.tolist() for s in points},
        where,
    )
    text = sentence(
        emb, [2], NAMES, {"original": "original model", "repair": "unlearned model", "retrain": "retrained"}
    )
    assert text.startswith("In the original model 100% of star images sit apart from every retain-class cluster")
    assert "unlearned model 100% of star images sit inside the square cluster" in text
    assert "retrained star images spread: 50% inside the circle cluster, 50% inside the square cluster" in text


def test_the_embedding_of_the_shipped_model_is_shared_and_round_trips(shapes, shipped_model):
    star = shapes.class_names.index("star")
    models = {"original": shipped_model, "repair": shipped_model.copy()}
    emb = views.embedding_of(models, shapes, [star], EmbeddingSettings(points=200))
    assert len(emb.index) == 200 and np.bincount(emb.labels).tolist() == [20] * 10
    assert np.allclose(emb.coords["original"], emb.coords["repair"], atol=1e-4)  # the same model: the same points
    assert (
        emb.predictions["original"]
        == shipped_model.net(shipped_model.prepare(shapes.test_x[emb.index])).argmax(1).tolist()
    )
    again = Embedding.from_dict(json.loads(json.dumps(emb.to_dict())))
    assert again.index == emb.index and again.settings == emb.settings and again.where == emb.where
    assert "PCA" in emb.settings.describe() and "UMAP" in EmbeddingSettings(method="umap").describe()
    with pytest.raises(ConfigError, match="Unknown projection"):
        EmbeddingSettings(method="tsne")


def test_one_pass_gives_the_features_of_the_sample_in_order_and_the_cka_batch_first(shapes, shipped_model):
    from unsir_core.metrics.probe import penultimate_and_logits

    chosen = views.sample(shapes, EmbeddingSettings(points=500, seed=3))
    first = chosen.index[chosen.order[: chosen.cka_size]]
    assert chosen.cka_size == CKA_BATCH and sorted(chosen.order.tolist()) == list(range(500))
    assert np.bincount(shapes.test_y[first].numpy()).tolist() == [CKA_BATCH // 10] * 10  # stratified, in the sample
    done = views.model_pass(shipped_model, shapes, chosen)
    features, logits = penultimate_and_logits(shipped_model, shapes.test_x[chosen.index])
    assert np.allclose(done.features, features.numpy(), atol=1e-4)  # back in the sample's order
    assert done.predictions == logits.argmax(1).tolist()
    assert all(g.shape == (CKA_BATCH, CKA_BATCH) for g in done.grams.values()) and "fc" in done.grams


def test_views_are_computed_once_per_models_and_the_originals_pass_is_reused(shapes, shipped_model, monkeypatch):
    from unsir_core.metrics.privacy import random_model

    views._passes.clear()
    views._views.clear()
    passes = []
    real = views._pass
    monkeypatch.setattr(views, "_pass", lambda model, x, n: passes.append(model) or real(model, x, n))
    star = shapes.class_names.index("star")
    first = {"original": shipped_model, "repair": random_model(shipped_model, 1)}
    a = views.run_views(first, shapes, [star], seed=0)
    assert len(passes) == 2 and set(a["cka"]) == {"original"}
    assert views.run_views(first, shapes, [star], seed=0) == a and len(passes) == 2  # a second look: no pass
    second = {"original": shipped_model.copy(), "repair": random_model(shipped_model, 2)}  # the same original
    b = views.run_views(second, shapes, [star], seed=0)
    assert len(passes) == 3 and b["embedding"]["coords"]["repair"] != a["embedding"]["coords"]["repair"]
    views.run_views(second, shapes, [star], seed=1)  # another sample: new passes
    assert len(passes) == 5


def test_linear_cka_is_one_for_the_same_model_and_lower_for_another(shapes, shipped_model):
    from unsir_core.metrics.privacy import random_model

    models = {"repair": shipped_model, "original": shipped_model.copy(), "retrain": random_model(shipped_model, 0)}
    result = views.layer_cka(models, shapes)
    same, other = result["original"], result["retrain"]
    assert [d["name"] for d in same][:2] == ["features.0.0", "features.0.1"] and same[-1]["name"] == "fc"
    assert all(abs(d["cka"] - 1) < 1e-6 for d in same)
    assert np.mean([d["cka"] for d in other]) < 0.95
    x = torch.randn(20, 5, dtype=torch.float64)
    x = x - x.mean(0)
    rotation, _ = torch.linalg.qr(torch.randn(5, 5, dtype=torch.float64))
    y = 2 * x @ rotation
    assert abs(cka(x @ x.T, y @ y.T) - 1) < 1e-9  # invariant to rotation and scale


def test_a_run_asked_for_views_carries_them_and_the_report_draws_them_under_2_mb(shapes, shipped_model):
    from dataclasses import replace

    from unsir_core.algorithm.request import UnlearningRequest, run_request
    from unsir_core.report.html import render
    from unsir_core.training.train import gold_standard_config

    request = UnlearningRequest(
        shipped_model,
        shapes,
        ("star",),
        overrides={"noise.steps": 3, "retain_per_class": 30},
        retrain=gold_standard_config(shipped_model.info, 0),  # the shipped reference: loaded, not trained
    )
    assert "views" not in run_request(request, "cpu").to_json()["extras"]  # a run alone pays nothing for them
    record = run_request(replace(request, views=True), "cpu").to_json()
    carried = record["extras"]["views"]
    assert set(carried["embedding"]["coords"]) == {"original", "repair", "retrain"}
    assert len(carried["embedding"]["index"]) == 2000 and set(carried["cka"]) == {"original", "retrain"}
    html = render(json.loads(json.dumps(record)))
    assert "<h2>Where the forgotten class went</h2><p class='summary'>In the original model" in html
    assert html.count("star images") >= 3  # the sentence names the forget class for each model
    assert "Layer-wise linear CKA of the unlearned model" in html and "features.0.0" in html
    assert html.count("<circle") > 6000 and len(html.encode()) < 2_000_000


@pytest.mark.slow
def test_evaluate_writes_the_embedding_of_an_unlearned_checkpoint(tmp_path):
    run = [sys.executable, "-m", "unsir_core"]
    model = tmp_path / "u.safetensors"
    flags = ["--noise-steps", "3", "--retain-per-class", "30", "--quiet"]
    done = subprocess.run([*run, "unlearn", "--forget", "star", "--save-model", str(model), *flags], cwd=ROOT)
    assert done.returncode == 0
    out = tmp_path / "where.svg"
    result = subprocess.run(
        [*run, "evaluate", "--checkpoint", str(model), "--embedding", str(out), "--quiet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert "star images sit" in report["embedding"]["sentence"]
    assert set(report["embedding"]["models"]) == {"original", "repair", "retrain"}
    svg = out.read_text()
    assert svg.startswith("<svg") and svg.count("<circle") > 6000 and "Retrained" in svg


def test_the_inspectors_membership_score_uses_the_audits_attack(tiny_shapes, shipped_model):
    from unsir_core.metrics.privacy import fit_attack, member_score, membership_inference

    attack, score_x, score_y, _, n_fit = fit_attack(shipped_model, tiny_shapes, [4], n=60, seed=2)
    x, y = tiny_shapes.test_x[:5], tiny_shapes.test_y[:5]
    p = member_score(attack, shipped_model, x, y, "entropy")
    assert p.shape == (5,) and ((p >= 0) & (p <= 1)).all()
    again, *_ = fit_attack(shipped_model, tiny_shapes, [4], n=60, seed=2)
    assert np.allclose(p, member_score(again, shipped_model, x, y, "entropy"))  # the same data and seed
    audit = membership_inference(shipped_model, tiny_shapes, [4], n=60, seed=2)
    assert audit.n_train == n_fit and audit.attack_acc == round(
        float((attack.predict(score_x) == score_y).mean() * 100), 2
    )


def _compare_page_section():
    """An AppTest script: Compare's section on a comparison of the shipped model with itself as 'unsir'."""
    from types import SimpleNamespace

    from studio import embedding_views
    from unsir_core import default_checkpoint, load_dataset, load_model

    data, model = load_dataset("shapes10"), load_model(default_checkpoint("shapes10", "smallcnn"))
    rows = [SimpleNamespace(method=m, title=t) for m, t in (("original", "Original"), ("unsir", "UNSIR"))]
    result = SimpleNamespace(rows=rows, models={"original": model, "unsir": model.copy()}, forget=(4,))
    embedding_views.compare_section(result, data, 0)


@pytest.mark.slow
def test_compare_shows_the_chosen_methods_embedding_and_cka():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_compare_page_section, default_timeout=600).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="cmp-views-shown").options == ["UNSIR"]
    assert any("star images" in i.value for i in at.info)  # the sentence names the forget class
    assert len(at.get("plotly_chart")) == 2  # CKA and the panels; the inspector opens on request
    at.toggle(key="cmp-views-inspect").set_value(True).run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.get("plotly_chart")) == 3 and any(c.value.startswith("Membership score") for c in at.caption)


@pytest.mark.slow
def test_umap_is_seeded_and_runs_on_exact_neighbours():
    from unsir_core.metrics.embedding import project

    rng = np.random.default_rng(0)
    features = {s: rng.normal(size=(150, 8)) + np.repeat(np.eye(8)[:3] * 6, 50, 0) for s in ("original", "repair")}
    settings = EmbeddingSettings(method="umap", neighbors=10, epochs=50)
    a, b = project(features, settings), project(features, settings)
    assert a["original"].shape == (150, 2) and np.allclose(a["original"], b["original"])  # seeded: the same picture


def _results_section_of_a_run_without_views():
    """An AppTest script: the Results page's views section for a run made without views (as the dashboard's are)."""
    import streamlit as st

    from studio import embedding_views, handout
    from studio.runs import RunRecord
    from studio.setup import Setup
    from unsir_core import default_checkpoint, load_dataset, load_model
    from unsir_core.algorithm.request import UnlearningRequest, run_request
    from unsir_core.training.train import gold_standard_config

    if "record" not in st.session_state:
        model = load_model(default_checkpoint("shapes10", "smallcnn"))
        overrides = {"noise.steps": 3, "retain_per_class": 30}
        request = UnlearningRequest(
            model, load_dataset("shapes10"), ("star",), overrides=overrides, retrain=gold_standard_config(model.info, 0)
        )
        run = run_request(request, "cpu")
        setup = Setup.fresh().with_value("forget", ("star",))
        st.session_state.record = RunRecord(1, setup, "m", "12:00:00", run.to_json(), [], run)
        st.session_state.carried = "views" in run.to_json()["extras"]
    record = st.session_state.record
    embedding_views.results_section(record)
    st.session_state.report = handout.report_html(record, "http://localhost:8501/")


def _store_a_second_seed(shipped_model) -> None:
    """Into $UNSIR_HOME's reference store: the shipped star reference, its recorded training seed set to 1 (a
    stand-in for a seed-1 reference: the test is about finding references by seed and drawing their band)."""
    from dataclasses import replace

    from unsir_core.checkpoints.references import ReferenceKey, find, store_dir
    from unsir_core.checkpoints.store import load_model, save_model
    from unsir_core.training.train import gold_standard_config

    key = ReferenceKey.for_original(shipped_model.info, (4,), gold_standard_config(shipped_model.info, 0))
    model = load_model(find(key))
    details = {**model.info.details, "train_config": {**model.info.details["train_config"], "seed": 1}}
    seed_1 = model.copy(details=details)
    save_model(seed_1, store_dir() / replace(key, train=replace(key.train, seed=1)).file_name(model.info.class_names))


@pytest.mark.slow
def test_results_computes_a_runs_views_on_demand_keeps_them_for_its_report_and_draws_the_seed_band(
    shipped_model, tmp_path, monkeypatch
):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("UNSIR_HOME", str(tmp_path))
    _store_a_second_seed(shipped_model)
    at = AppTest.from_function(_results_section_of_a_run_without_views, default_timeout=600).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state.carried is False  # the run itself computed none
    assert set(at.session_state.record.report["extras"]["views"]) == {"embedding", "cka", "spread"}
    assert [h.value for h in at.subheader] == [
        "How far did the representations move?",
        "Where did the forget class go in feature space?",
        "Within what retraining itself varies?",
    ]
    assert any(i.value.startswith("Retrained with") and "seeds (0, 1" in i.value for i in at.info)
    assert len(at.get("plotly_chart")) == 3  # CKA, the panels, the seed band
    report = at.session_state.report.decode()
    assert "<h2>Where the forgotten class went</h2>" in report and "what retraining itself varies" in report
