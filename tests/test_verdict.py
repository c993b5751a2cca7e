"""The verdict: how close to the retrained model, question by question (ToW, JS, over-forgetting), in the
summary, on Results and on Compare, and one rounding for every figure."""

from __future__ import annotations

import math

import pytest
import torch

from tests.helpers import report
from unsir_core.common.numbers import fixed, pct, pp
from unsir_core.metrics.closeness import tow
from unsir_core.metrics.privacy import js_divergence
from unsir_core.metrics.verdict import Evidence, Measure, standing, verdict
from unsir_core.report.summary import summarize

PROBE_LIKE_ORIGINAL = {
    "probe": {"original": {"forget_acc": 94.0}, "repair": {"forget_acc": 93.0}, "retrain": {"forget_acc": 72.0}}
}


def test_tow_is_one_for_the_retrained_accuracies_and_falls_with_either_direction():
    assert tow([0.0, 93.0, 84.0], [0.0, 93.0, 84.0]) == 1.0
    assert tow([0.0, 83.0, 84.0], [0.0, 93.0, 84.0]) == pytest.approx(0.9)
    assert tow([20.0, 93.0, 84.0], [10.0, 93.0, 84.0]) == tow([0.0, 93.0, 84.0], [10.0, 93.0, 84.0])  # both ways
    assert tow([96.0, 94.0, 94.0], [0.0, 93.0, 84.0]) == pytest.approx(0.04 * 0.99 * 0.9)
    with pytest.raises(ValueError, match="same sets"):
        tow([1.0], [1.0, 2.0])


def test_js_divergence_is_zero_for_the_same_outputs_and_at_most_ln2():
    logits = torch.randn(50, 4)
    assert js_divergence(logits, logits) == pytest.approx(0.0, abs=1e-12)
    apart = torch.tensor([[50.0, 0.0], [0.0, 50.0]])
    assert js_divergence(apart, apart.flip(1)) == pytest.approx(math.log(2), abs=1e-9)


@pytest.mark.parametrize(
    ("unlearned", "original", "retrained", "expected"),
    [
        (2.0, 94.0, 0.0, "retrained"),  # within the tolerance of the retrained model
        (50.0, 94.0, 0.0, "closer"),
        (93.0, 94.0, 72.0, "original"),  # the probe case: where the original was
        (100.0, 94.0, 72.0, "original"),  # moved the wrong way
        (40.0, 94.0, 93.0, "over"),  # past the retrained model, further from it than the original
        (88.0, 94.0, 93.0, "retrained"),
        (50.0, 94.0, None, "unknown"),
    ],
)
def test_standing_names_over_forgetting(unlearned, original, retrained, expected):
    assert standing(Measure(unlearned, original, retrained)) == expected


def test_relearning_past_the_cap_and_over_forgetting_are_named():
    both_capped = Measure(10.0, 0.0, 10.0, "epochs", frozenset({"unlearned", "retrained"}))
    assert standing(both_capped) == "retrained"
    slow = Measure(10.0, 0.0, 3.0, "epochs", frozenset({"unlearned"}))
    assert standing(slow) == "over"
    found = verdict(Evidence("triangles", Measure(0.0, 94.0, 0.0), Measure(93.0, 94.0, 93.0), relearning=slow)).clause(
        "relearning"
    )
    assert found.text.startswith("Over-forgotten against relearning: >10 epochs") and "over-forgetting" in found.text


def test_the_verdict_says_not_measured_for_every_audit_not_computed():
    found = verdict(
        Evidence("triangles", Measure(0.0, 94.0, 0.0), Measure(93.0, 94.0, 93.0), Measure(84.0, 94.0, 84.0))
    )
    assert found.tow == 1.0 and "ToW 1.000" in found.closeness()
    assert [c.key for c in found.clauses if c.measured] == ["decision", "cost"]
    assert found.not_measured() == (
        "Not measured: in the features (the feature probe), against relearning (relearn time), for privacy "
        "(the privacy score or membership inference)."
    )
    assert found.js is None and "JS" not in found.closeness()


def test_summary_of_a_run_whose_probe_reads_the_class_like_the_original_says_so_first():
    text = summarize(report(), audits=PROBE_LIKE_ORIGINAL)
    first_two = " ".join(text.split(". ")[:2])
    assert "Forgotten in the decision: A_Df 0% on triangles" in first_two
    assert "Still in the features: a linear probe on its features recognises 93.0% of triangles" in first_two
    assert "like the original" in first_two and "not the features" in first_two
    assert "Not measured: against relearning (relearn time), for privacy" in text
    assert "in the features (the feature probe)" not in text


def test_summary_reads_the_audits_a_runs_json_carries():
    saved = {**report(), "audits": PROBE_LIKE_ORIGINAL}
    assert summarize(saved) == summarize(report(), audits=PROBE_LIKE_ORIGINAL)


def test_privacy_clause_explains_why_the_original_can_score_high():
    audits = {"privacy": {"original": {"score": 0.821}, "repair": {"score": 0.838}}}
    text = summarize(report(), audits=audits)
    assert "privacy score 0.838 (original 0.821; 1 = indistinguishable from the retrained model)" in text
    assert "reads only how confident a model is on the forget images, not which class it names" in text


def test_one_rounding_half_up_from_the_stored_value():
    assert fixed(93.75, 1) == "93.8" and fixed(93.25, 1) == "93.3"  # Python's format gives 93.2 for the second
    assert fixed(93.7456, 1) == "93.7"  # rounded once, not via 93.75
    assert pct(0.04) == "0%" and pct(None) == "—" and pp(-0.04) == "+0.0 pp" and pp(-1.25) == "-1.3 pp"
