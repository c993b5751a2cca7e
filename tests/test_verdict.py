"""The verdict: how close to the retrained model, question by question (ToW, JS, over-forgetting), in the
summary, on Results and on Compare, and one rounding for every figure."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from tests.helpers import report
from unsir_core.common.numbers import fixed, pct, pp
from unsir_core.metrics.closeness import tow
from unsir_core.metrics.privacy import js_divergence
from unsir_core.metrics.verdict import Evidence, Measure, standing, verdict
from unsir_core.report.summary import summarize

ROOT = Path(__file__).resolve().parent.parent


def probe(forget_acc: float) -> dict:
    """A feature-probe result as `ProbeResult.to_dict` writes it."""
    return {"forget_acc": forget_acc, "retain_acc": 95.0, "chance": 25.0, "dim": 64, "n_forget": 100, "n_fit": 800}


PROBE_LIKE_ORIGINAL = {"probe": {"original": probe(94.0), "repair": probe(93.0), "retrain": probe(72.0)}}


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


# ------------------------------------------------------------------ Compare


def _row(method, title, df, dr, test, probe, relearn, capped, privacy, js):
    from unsir_core.experiments.compare_table import MethodRow

    return MethodRow(
        method,
        title,
        "ok",
        method not in ("unsir", "finetune", "original", "retrain"),
        df,
        dr,
        test,
        1.0,
        relearn,
        capped,
        40.0,
        10.0,
        50.0,
        50.0,
        privacy,
        probe,
        0.5,
        js,
        prediction_distribution=(10, 0, 90),
        per_class_acc=(90.0, dr, df),
        details={"mia": {"entropy": {"at_chance": True}}},
    )


def comparison():
    """Forget star (the figures of docs/results.md, shortened): UNSIR is closest by ToW; Fine-tune keeps A_Dr nearest
    the retrained model's and NegGrad's probe is nearest; NegGrad over-forgets the rest."""
    from unsir_core.experiments.compare_table import Comparison
    from unsir_core.metrics.audits import MetricSettings

    rows = (
        _row("original", "Original", 96.2, 94.0, 94.2, 94.5, 0, False, 0.445, 0.619),
        _row("retrain", "Retrain", 0.0, 93.1, 84.2, 75.5, None, True, 1.0, 0.0),
        _row("finetune", "Fine-tune", 85.7, 93.5, 92.8, 96.2, 2, False, 0.758, 0.508),
        _row("neggrad", "NegGrad", 1.3, 44.0, 39.9, 83.5, 2, False, 0.855, 0.593),
        _row("unsir", "UNSIR", 0.0, 93.7, 84.8, 94.5, 7, False, 0.869, 0.099),
    )
    names = ("circle", "square", "star")
    return Comparison("shapes10", "smallcnn", names, (2,), "CPU", rows, "retrained", MetricSettings(), 9.0)


def test_compare_verdict_names_the_method_closest_by_tow_and_per_question():
    result = comparison()
    tows = {r.method: result.tow(r) for r in result.candidates()}
    best = max(tows, key=tows.get)
    assert best == "unsir"
    sentences = result.verdict()
    assert sentences[0].startswith(f"Closest to the retrained model overall: {result.row(best).title} (ToW ")
    assert "In the features: NegGrad (probe 83.5%; the retrained model 75.5%)." in sentences
    assert "In the decision: UNSIR (A_Df 0%; the retrained model 0%)." in sentences
    assert "At what cost to the rest: Fine-tune (A_Dr 93.5%; the retrained model 93.1%)." in sentences
    assert "Against relearning: UNSIR (epochs to relearn 7; the retrained model >10)." in sentences
    assert any(s.startswith("Over-forgetting") and "NegGrad (at what cost to the rest)" in s for s in sentences)
    assert result.to_json()["verdict"] == sentences and "**Verdict**" in result.to_markdown()
    assert "Still in the features" in result.row_verdict(result.row("unsir")) and not result.row_verdict(
        result.row("original")
    )


def test_compare_verdict_names_every_method_that_ties_as_shown():
    from dataclasses import replace

    result = comparison()
    rows = tuple(replace(r, forget_acc=0.04) if r.method == "neggrad" else r for r in result.rows)  # shows as 0%
    sentences = replace(result, rows=rows).verdict()
    assert "In the decision: NegGrad and UNSIR (A_Df 0%; the retrained model 0%)." in sentences


def test_compare_verdict_explains_a_high_privacy_score_of_the_original():
    from dataclasses import replace

    result = comparison()
    rows = tuple(replace(r, privacy_score=0.9) if r.method == "original" else r for r in result.rows)
    sentence = next(s for s in replace(result, rows=rows).verdict() if s.startswith("For privacy"))
    assert "The original scores 0.900, as high as" in sentence and "not which class it names" in sentence


@pytest.mark.slow
def test_compare_page_states_the_verdict_with_a_compact_table():
    from streamlit.testing.v1 import AppTest

    from studio import compare_job
    from unsir_core.experiments.compare_table import COLUMNS, COMPACT

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    at.query_params = {"forget": "star"}
    at.run()
    at.session_state[compare_job.RESULT] = comparison()
    at.switch_page("app_pages/compare.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Closest to the retrained model overall: UNSIR" in m.value for m in at.markdown)
    table = next(d.value for d in at.dataframe if "Method" in d.value.columns and "ToW" in d.value.columns)
    assert len(table.columns) == len(COMPACT)
    at.toggle(key="cmp:all-columns").set_value(True).run()
    table = next(d.value for d in at.dataframe if "Method" in d.value.columns and "ToW" in d.value.columns)
    assert len(table.columns) == len(COLUMNS)


# ------------------------------------------------------------------ Results


def _record(audits):
    """A finished run (4 classes, triangle forgotten, with the retrained model) whose models were released."""
    from studio.runs import RunRecord
    from studio.setup import Setup

    run = report()
    run["degraded"] = False
    run["extras"]["weights"] = {"repair": [{"name": "fc", "l2": 0.5, "normalized": 0.1, "n_params": 40}]}
    setup = Setup.fresh().with_value("forget", ("triangle",))
    return RunRecord(1, setup, "m.safetensors", "12:00:00", run, [], None, audits=audits)


def _verdict_lines(audits) -> list[str]:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    at.query_params = {"forget": "triangle"}
    at.run()
    at.session_state["runs"] = [_record(audits)]
    at.switch_page("app_pages/results.py").run()
    assert not at.exception, [e.value for e in at.exception]
    panel = next(m.value for m in at.markdown if m.value.startswith("- **Forgotten in the decision**"))
    summary = next(i.value for i in at.info if "Forgotten in the decision" in i.value)
    return panel.splitlines() + [summary]


def test_results_verdict_follows_the_computed_audits_and_says_not_measured_for_the_rest():
    bare = _verdict_lines({})
    assert bare[0].startswith("- **Forgotten in the decision**: A_Df 0% on triangles")
    for question in ("In the features", "Against relearning", "For privacy"):
        assert any(line.startswith(f"- **{question}**: not measured") for line in bare), question
    assert "Not measured: in the features (the feature probe), against relearning" in bare[-1]

    relearn = {"target": 84.15, "original": 93.5, "repair": {"history": [0.0, 90.0], "history_epochs": [0, 3]}}
    probed = _verdict_lines({**PROBE_LIKE_ORIGINAL, "relearn": relearn})
    features = next(line for line in probed if line.startswith("- **Still in the features**"))
    assert "93.0%" in features and "like the original" in features
    assert any(
        line.startswith("- **Against relearning**: 3 epochs to relearn triangles (original 0)") for line in probed
    )
    assert any(line.startswith("- **For privacy**: not measured") for line in probed)
    assert "Still in the features" in " ".join(probed[-1].split(". ")[:2])  # the summary's first two sentences
    assert "Not measured: for privacy" in probed[-1]


def test_the_runs_csv_and_the_report_carry_the_verdict():
    import csv
    import io

    from studio.export import runs_csv
    from unsir_core.report.html import render

    record = _record(PROBE_LIKE_ORIGINAL)
    row = next(csv.DictReader(io.StringIO(runs_csv([record]).decode())))
    assert row["verdict in the features"].startswith("Still in the features: a linear probe")
    assert row["verdict against relearning"] == "not measured"
    assert row["ToW"] == "0.922" and row["JS to retrained"] == ""
    page = render(record.report, audits=record.audits)
    assert "Verdict: how close to the retrained model" in page and "Still in the features" in page
    assert "not measured (relearn time was not computed)" in page
