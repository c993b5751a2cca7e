"""Without training: the summary's wording, share links, the chain in the URL, the timeline, the
report's contents and size, and the comparison report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from studio.setup import Setup
from tests.helpers import NAMES, chained, report
from unsir_core.checkpoints.lineage import chain, timeline
from unsir_core.report.html import render
from unsir_core.report.share import decode_result, decode_step, encode_step, headline, link, run_query
from unsir_core.report.summary import summarize

ROOT = Path(__file__).resolve().parent.parent


def test_summary_states_the_outcome_against_the_retrained_model():
    text = summarize(report())
    assert text.startswith("Forgotten in the decision: A_Df 0% on triangles (original 93.5%, retrained model 0%).")
    assert "It now calls triangles star (65%) and square (35%)" in text
    assert "the model retrained without them calls them star (55%) and square (40%)" in text
    assert "A_Dr 90.0% (original 95.0%, retrained model 94.0%), 95% of the original's kept" in text
    assert "ToW 0.922 (original 0.064" in text  # (1-0)(1-.04)(1-.04) and (1-.935)(1-.01)(1-.01)
    assert text.endswith("Unlearning took 3.4 s on CPU (2 threads); retraining took 5 min.")
    estimated = report(retrain=False)
    estimated["extras"]["retrain_estimate_s"] = 290.0
    assert summarize(estimated).endswith("Unlearning took 3.4 s on CPU (2 threads), against about 5 min to retrain.")


def test_summary_wording_adapts_to_the_numbers():
    no_reference = summarize(report(retrain=False))
    assert "retrained" in no_reference and "no retrained model" in no_reference
    fell = summarize(report(repair_retain=60.0))
    assert "Over-forgotten on the rest: A_Dr 60.0%" in fell and "63% of the original's kept" in fell
    kept = summarize(report(repair_forget=40.0))
    assert kept.startswith("Partly forgotten in the decision: A_Df 40.0% on triangles")
    flagged = summarize(report(), degraded="Repair collapsed to one class.")
    assert flagged.startswith("Warning: this run was flagged as degraded (Repair collapsed to one class)")


def test_summary_of_a_chained_request_names_what_was_forgotten_before():
    text = summarize(chained())
    assert "This request started from a model that had already forgotten triangle." in text
    assert text.startswith("Forgotten in the decision: A_Df 0% on stars (original 95.0%)")  # this request's class only
    assert "A_Dr 88.0% (original 95.0%)" in text


def test_the_timeline_follows_every_forgotten_class_across_the_chain():
    points = timeline(chain(chained()), NAMES)
    assert [p["label"] for p in points] == ["Original", "1: forget triangle", "2: forget star"]
    assert [p["forget"]["triangle"] for p in points] == [93.5, 0.0, 0.0]
    assert [p["forget"]["star"] for p in points] == [95, 88, 0.0]
    assert [p["time_s"] for p in points] == [0.0, 3.4, 6.8]


def test_a_link_carries_the_chain_the_seed_and_the_headline_numbers():
    query = run_query(chained())
    assert query["forget"] == "star" and query["seed"] == "3" and query["chain"] == "triangle|seed=3"
    assert decode_result(query["result"]) == headline(chained())
    setup, problems = Setup.from_query(query)
    assert not problems
    assert setup.forget == ("star",) and setup.forgotten_before == ("triangle",)
    assert dict(setup.chain[0].overrides)["seed"] == 3 and setup.config.seed == 3
    assert setup.chain[0].preset == setup.preset == "shapes10"
    assert "chain=triangle%7Cseed%3D3" in link(chained(), "http://host:8501/")


def test_the_chain_survives_the_url_with_its_own_settings():
    base = Setup.fresh().with_value("forget", ["triangle"]).with_value("impair.lr", 0.03)
    second = base.then_forget_more().with_value("forget", ["star"]).with_value("impair.lr", 0.005)
    assert second.chain[0].overrides == (("impair.lr", 0.03),)
    again, problems = Setup.from_query(second.to_query())
    assert not problems and again == second
    assert again.config.impair.lr == 0.005
    assert second.with_value("model", "other.safetensors").chain == ()  # a new starting checkpoint ends the chain
    text = encode_step(("a", "b"), "shapes10", {"seed": 4, "impair.lr": 0.02, "retain_per_class": 100})
    assert decode_step(text) == (("a", "b"), "shapes10", {"seed": 4, "impair.lr": 0.02, "retain_per_class": 100})


def test_a_damaged_chain_in_a_link_is_ignored_with_a_message():
    setup, problems = Setup.from_query({"forget": "star", "chain": "triangle|impair.nonsense=3"})
    assert setup.chain == () and any("impair.nonsense" in p for p in problems)
    setup, problems = Setup.from_query({"forget": "star", "chain": "triangle|preset=nope"})
    assert setup.chain == () and any("nope" in p for p in problems)
    assert decode_result("df=1,dr=x") is None


def test_the_report_holds_summary_numbers_gallery_titled_charts_and_link():
    html = render(chained(), "http://host:8501/")
    assert len(html.encode()) < 2_000_000 and "<script" not in html  # offline, no plotly.js
    for text in (
        "Unlearning report: forget star",
        "already forgotten triangle",
        "Key numbers",
        "Starting model",
        "Before and after",
        "Forget and retain accuracy of each model",
        "Where the forget-class test images go",
        "Test accuracy per class",
        "The chain of requests: accuracy after each one",
        "Environment",
        "@media print",
        "http://host:8501/?data=shapes10",
    ):
        assert text in html, text
    assert html.count("<img src='data:image/png;base64,") == 2
    assert "<svg" in html and "Original" in html
    checked = chained()
    checked.update(
        recipe={"name": "auto", "choices": ["Retain subset: 248 images per retain class."]},
        repair_check={"message": "Repair is back to 100% of the original's accuracy."},
    )
    html = render(checked)
    assert "Recipe: <b>auto</b>" in html and "<li>Retain subset: 248 images per retain class.</li>" in html
    assert "Repair check: Repair is back to 100%" in html


@pytest.mark.slow
def test_report_command_writes_the_file_and_refuses_bad_input(tmp_path):
    run = tmp_path / "run.json"
    run.write_text(json.dumps(report()))
    out = tmp_path / "r.html"
    res = subprocess.run(
        [sys.executable, "-m", "unsir_core", "report", str(run), "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    assert "Forgotten in the decision: A_Df 0% on triangles" in out.read_text()
    (tmp_path / "bad.json").write_text("{}")
    bad = subprocess.run(
        [sys.executable, "-m", "unsir_core", "report", str(tmp_path / "bad.json")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 2 and "holds no UNSIR run" in bad.stderr


def test_the_comparison_report_puts_two_runs_side_by_side():
    from unsir_core.report.html import render_comparison

    a, b = report(), report(repair_retain=80.0)
    b["config"]["impair"]["lr"] = 0.02
    html = render_comparison(a, b, ("Run 1 · forget triangle", "Run 2 · forget triangle"), ["impair lr 0.01 → 0.02"])
    assert "Comparison: Run 1 · forget triangle vs Run 2 · forget triangle" in html
    assert "<li>impair lr 0.01 → 0.02</li>" in html and "-10.0 pp" in html
    assert "<td>impair.lr</td><td class=num>0.01</td><td class=num>0.02</td>" in html
    assert html.count("class='summary'") == 2 and html.count("<svg") == 2 and len(html) < 2_000_000
