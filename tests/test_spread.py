"""The retrained model's own spread: bands over references of several training seeds, and the sentence that says
whether the unlearned model is within what retraining itself varies."""

from __future__ import annotations

import json

import pytest

from unsir_core.common.errors import ConfigError
from unsir_core.metrics.embedding import APART, EmbeddingSettings
from unsir_core.metrics.spread import Band, ModelSummary, RetrainSpread, band, retrain_spread, summary, within

NAMES = ["circle", "square", "star"]


def _spread() -> RetrainSpread:
    seeds = [
        ModelSummary(0.0, 92.0, [40.0, 60.0, 0.0], {0: 30.0, 1: 70.0}),
        ModelSummary(1.0, 93.0, [70.0, 30.0, 0.0], {0: 60.0, 1: 40.0}),
        ModelSummary(0.0, 94.0, [50.0, 50.0, 0.0], {1: 100.0}),
    ]
    return RetrainSpread(
        [0, 1, 2],
        band([s.forget_acc for s in seeds]),
        band([s.retain_acc for s in seeds]),
        [band([s.distribution[c] for s in seeds]) for c in range(3)],
        {c: band([s.where.get(c, 0.0) for s in seeds]) for c in (0, 1)},
        seeds,
    )


def test_the_bands_are_min_to_max_and_round_trip_through_json():
    spread = _spread()
    assert spread.retain_acc == Band(92.0, 94.0) and spread.where[0] == Band(0.0, 60.0)
    assert spread.distribution[0].holds(55.0) and not spread.distribution[0].holds(71.0)
    assert RetrainSpread.from_dict(json.loads(json.dumps(spread.to_dict()))) == spread


def test_the_sentence_says_what_is_within_and_by_how_much_what_is_not():
    inside = ModelSummary(0.0, 93.5, [45.0, 55.0, 0.0], {1: 80.0, APART: 20.0})
    text = within(_spread(), inside, NAMES)
    assert text.startswith("Retrained with 3 seeds (0, 1, 2), A_Df spans 0.0-1.0% and A_Dr 92.0-94.0%.")
    assert "A_Df 0.0% is within what retraining itself varies; its A_Dr 93.5% is within" in text
    assert "within the retrained band for 3 of 3 classes" in text
    assert "80% of its forget-class images sit inside the square cluster (retrained: 40.0-100.0%)" in text
    outside = ModelSummary(0.0, 95.0, [90.0, 0.0, 10.0], {APART: 100.0})
    text = within(_spread(), outside, NAMES)
    assert "its A_Dr 95.0% is 1.0 points above it" in text and "for 0 of 3 classes" in text
    assert (
        "0% of its forget-class images sit inside the square cluster (retrained: 40.0-100.0%): 40.0 points below it"
        in text
    )


def test_a_summary_reads_a_run_records_evaluation():
    found = summary(
        {"forget_acc": 2.0, "retain_acc": 90.0, "prediction_distribution": [1, 3, 0]}, [[1, 75.0], [-1, 25.0]]
    )
    assert found == ModelSummary(2.0, 90.0, [25.0, 75.0, 0.0], {1: 75.0, APART: 25.0})


def test_the_spread_of_stored_models_measures_each_one(shapes, shipped_model):
    from unsir_core.checkpoints.references import ReferenceKey, find
    from unsir_core.checkpoints.store import load_model
    from unsir_core.metrics.evaluate import evaluate
    from unsir_core.training.train import gold_standard_config

    star = shapes.class_names.index("star")
    with pytest.raises(ConfigError, match="at least two seeds"):
        retrain_spread({0: shipped_model}, shapes, [star], EmbeddingSettings())
    reference = load_model(
        find(ReferenceKey.for_original(shipped_model.info, (star,), gold_standard_config(shipped_model.info, 0)))
    )
    spread = retrain_spread({0: reference, 7: shipped_model}, shapes, [star], EmbeddingSettings(points=500))
    own = [evaluate(m, shapes, [star]) for m in (reference, shipped_model)]
    assert spread.seeds == [0, 7] and spread.forget_acc == Band(own[0].forget_acc, own[1].forget_acc)
    where = spread.per_seed[1].where  # the original keeps star in a cluster of its own
    assert spread.per_seed[0].distribution[star] == 0.0 and max(where, key=where.get) == APART


def test_the_reports_views_draw_the_band_and_its_sentence_with_class_names_escaped():
    from unsir_core.metrics.embedding import Embedding
    from unsir_core.report.views import views_html

    names = ["circle", "<b>square</b>", "star"]
    where = {"original": [[APART, 100.0]], "repair": [[1, 80.0], [APART, 20.0]], "retrain": [[1, 70.0], [0, 30.0]]}
    points = {s: [[float(i), float(i % 3)] for i in range(9)] for s in where}
    embedding = Embedding(list(range(9)), [0, 1, 2] * 3, points, {s: [0, 1, 2] * 3 for s in where}, where)
    report = {
        "forgotten_total": ["star"],
        "metrics": {"repair": {"forget_acc": 0.0, "retain_acc": 93.5, "prediction_distribution": [9, 11, 0]}},
        "extras": {"views": {"embedding": embedding.to_dict(), "cka": {}, "spread": _spread().to_dict()}},
    }
    page = views_html(report, names)
    assert "Retrained with 3 seeds (0, 1, 2), A_Df spans 0.0-1.0%" in page
    assert "The unlearned model within what retraining itself varies" in page and "seeds 0, 1, 2: min-max" in page
    assert "<b>square</b>" not in page and "&lt;b&gt;square&lt;/b&gt;" in page
    del report["extras"]["views"]["spread"]  # a run JSON without references of several seeds: no band
    assert "retraining itself varies" not in views_html(report, names)
