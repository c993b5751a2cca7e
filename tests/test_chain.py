"""Sequential unlearning end to end: in the dashboard (AppTest: forget triangle, then "Forget more" and star)
and on the command line (`unlearn --checkpoint` of an unlearned checkpoint, lineage in its metadata)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from studio import nav
from tests.helpers import FAST
from unsir_core.checkpoints.catalog import weights_sha256
from unsir_core.checkpoints.store import read_info
from unsir_core.common.paths import ASSETS_DIR

SHIPPED = ASSETS_DIR / "shapes10-smallcnn.safetensors"

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
SHORT = {"retain_per_class": "40", "noise.steps": "5", "repair.epochs": "1"}  # a quick run, not the tuned preset
LONG_S = 600


def visit(at: AppTest, page: nav.PageDef) -> AppTest:
    at.switch_page(page.path).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def keys(at: AppTest) -> list[str]:
    """The keys of the buttons on the page and in the sidebar."""
    return [b.key for b in at.button]


def labels(at: AppTest) -> list[str]:
    return [m.label for m in at.metric]


@pytest.mark.slow
def test_forget_more_chains_a_second_request_from_the_results_page():
    at = AppTest.from_file(APP, default_timeout=90)
    at.query_params = {"forget": "triangle", **SHORT}
    visit(at.run(), nav.UNLEARN).button(key="run-unsir").click().run(timeout=LONG_S)
    assert not at.exception and not at.error
    visit(at, nav.RESULTS).button(key="results-forget-more").click().run()
    assert at.title[0].value == nav.NOISE.title  # the next request starts on the Forget classes page
    select = at.multiselect(key="setup:forget")
    assert "triangle" not in select.options and "star" in select.options  # already forgotten: not choosable
    select.set_value(["star"]).run()
    assert at.session_state["setup"].forgotten_before == ("triangle",)
    assert at.query_params["chain"].startswith("triangle|seed=0|")  # the chain is in the URL, with its settings
    visit(at, nav.UNLEARN).button(key="run-unsir").click().run(timeout=LONG_S)
    assert not at.exception and not at.error
    first, second = at.session_state["runs"]
    assert second.parent == first.id and second.setup.forgotten_before == ("triangle",)
    visit(at, nav.RESULTS)
    assert "A_Df · Starting model, already forgot triangle" in labels(at)
    # The true original stays "Original": the same numbers as in the first request.
    assert second.metrics["original"]["retain_acc"] != first.metrics["original"]["retain_acc"]  # other retain set
    assert second.metrics["original"]["per_class_acc"] == first.metrics["original"]["per_class_acc"]
    assert second.metrics["start"]["per_class_acc"] == first.metrics["repair"]["per_class_acc"]
    assert any(s.value == "The chain of requests" for s in at.subheader)
    timeline = [c for c in at.get("plotly_chart") if "The chain of requests" in c.proto.spec]
    assert timeline and "A_Df triangle" in timeline[0].proto.spec and "A_Df star" in timeline[0].proto.spec
    summary = " ".join(i.value for i in at.info)
    assert (
        "already forgotten triangle" in summary and "A_Df" in summary and "on stars" in summary
    )  # short settings: any outcome
    for page in nav.PAGES:  # every page takes a chained run (GradCAM shows the starting model too)
        visit(at, page)
    assert visit(at, nav.RUNS).button(key="runs-back-to-original").label == "Back to the original"
    visit(at, nav.RESULTS).button(key="results-back-to-original").click().run()
    assert at.session_state["setup"].chain == () and at.session_state["setup"].model == ""
    assert "results-back-to-original" not in keys(at)


def cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "unsir_core", *args], cwd=ROOT, capture_output=True, text=True, timeout=LONG_S
    )


@pytest.mark.slow
def test_unlearn_chains_from_an_unlearned_checkpoint_with_its_lineage(tmp_path):
    first, second = tmp_path / "m1.safetensors", tmp_path / "m2.safetensors"
    res = cli("unlearn", "--forget", "triangle", "--save-model", str(first), "--out", str(tmp_path / "r1.json"), *FAST)
    assert res.returncode == 0, res.stderr
    res = cli(
        "unlearn",
        "--checkpoint",
        str(first),
        "--forget",
        "star",
        "--save-model",
        str(second),
        "--out",
        str(tmp_path / "r2.json"),
        *FAST,
    )
    assert res.returncode == 0, res.stderr
    r1, r2 = (json.loads((tmp_path / f"r{i}.json").read_text()) for i in (1, 2))
    assert r2["forgotten_total"] == ["triangle", "star"] and list(r2["metrics"])[:2] == ["original", "start"]
    assert r2["metrics"]["original"]["per_class_acc"] == r1["metrics"]["original"]["per_class_acc"]  # the true one
    assert r2["metrics"]["start"]["per_class_acc"] == r1["metrics"]["repair"]["per_class_acc"]
    info = read_info(second)
    assert [step["forget"] for step in info.details["lineage"]] == [["triangle"], ["star"]]
    assert info.details["lineage"][1]["parent"] == "m1.safetensors" and info.test_acc is not None
    assert info.details["root"] == "shapes10-smallcnn.safetensors" and "root_path" not in info.details
    assert info.details["root_sha256"] == weights_sha256(ASSETS_DIR / "shapes10-smallcnn.safetensors")  # by content
    report = cli("report", str(tmp_path / "r2.json"), "--out", str(tmp_path / "r2.html"))
    assert report.returncode == 0, report.stderr
    html = (tmp_path / "r2.html").read_text()
    assert "The chain of requests" in html and "chain=triangle" in html and len(html.encode()) < 2_000_000


@pytest.mark.slow
def test_a_shared_link_re_runs_the_chain_and_shows_its_numbers_beside_the_new_ones():
    at = AppTest.from_file(APP, default_timeout=90)
    claimed = "df=0,dr=80,odf=95,odr=94,t=3.3"
    at.query_params = {
        "forget": "star",
        "chain": "triangle|seed=0|retain_per_class=40|noise.steps=5|repair.epochs=1",
        "result": claimed,
        **SHORT,
    }
    at.run()
    assert not at.exception
    assert any("This link shares a result" in m.value for m in at.markdown)
    at.button(key="overview-rerun").click().run(timeout=LONG_S)
    assert not at.exception and not at.error
    made = at.session_state["runs"]
    assert [r.setup.forget for r in made] == [("triangle",), ("star",)]  # the earlier request first
    assert made[1].parent == made[0].id
    table = at.dataframe[0].value  # the shared numbers beside the re-run's
    assert list(table["in the link"]) == [0.0, 80.0, 95.0, 94.0, 3.3]
    assert abs(table.iloc[3][f"run {made[1].id}"] - made[1].metrics["original"]["retain_acc"]) < 0.01
    assert at.query_params["result"] != claimed  # the address bar now carries the re-run's numbers


def test_a_stored_model_that_already_forgot_a_class_does_not_offer_it_again(shipped_model):
    from dataclasses import replace

    from unsir_core.checkpoints.store import save_model
    from unsir_core.common.paths import model_store

    unlearned = type(shipped_model)(shipped_model.net, replace(shipped_model.info, forgotten=(2,), origin="unlearned"))
    save_model(unlearned, model_store() / "forgot-triangle.safetensors")
    at = AppTest.from_file(APP, default_timeout=90)
    at.query_params = {"model": "forgot-triangle.safetensors", "forget": "triangle,star"}
    visit(at.run(), nav.NOISE)
    assert any("triangle is already forgotten" in w.value for w in at.warning)
    assert at.session_state["setup"].forget == ("star",)
    assert "triangle" not in at.multiselect(key="setup:forget").options


def test_back_to_the_original_ends_a_chain_in_one_click():
    at = AppTest.from_file(APP, default_timeout=90)
    at.query_params = {"chain": "triangle|seed=0", "forget": "star"}
    visit(at.run(), nav.MODEL)
    assert "runs-back-to-original" not in keys(at)  # the Runs page's button is on the Runs page only
    at.button(key="sidebar-back-to-original").click().run()
    setup = at.session_state["setup"]
    assert setup.chain == () and setup.model == "" and setup.forget == ("star",)
    assert any("Back to the original model shapes10-smallcnn" in s.value for s in at.success)
    assert "sidebar-back-to-original" not in keys(at)  # at the original: nothing to go back to
    assert "chain" not in at.query_params


def saved_unlearned(shipped_model, name: str, root_sha256: str) -> None:
    from dataclasses import replace

    from unsir_core.checkpoints.store import save_model
    from unsir_core.common.paths import model_store

    details = {**shipped_model.info.details, "root_sha256": root_sha256}
    info = replace(shipped_model.info, forgotten=(2,), origin="unlearned", details=details)
    save_model(type(shipped_model)(shipped_model.net, info), model_store() / name)


def test_back_to_the_original_finds_a_stored_unlearned_models_true_original(shipped_model):
    saved_unlearned(shipped_model, "forgot-triangle.safetensors", weights_sha256(SHIPPED))
    at = AppTest.from_file(APP, default_timeout=90)
    at.query_params = {"model": "forgot-triangle.safetensors"}
    at.run()
    at.button(key="sidebar-back-to-original").click().run()
    assert at.session_state["setup"].model == SHIPPED.name
    assert "sidebar-back-to-original" not in keys(at)


def test_back_to_the_original_says_when_the_original_is_not_here(shipped_model):
    saved_unlearned(shipped_model, "orphan.safetensors", "0" * 64)
    at = AppTest.from_file(APP, default_timeout=90)
    at.query_params = {"model": "orphan.safetensors"}
    at.run()
    at.button(key="sidebar-back-to-original").click().run()
    assert at.session_state["setup"].model == "orphan.safetensors"
    assert any("The original of orphan (before it forgot triangle) is neither shipped" in e.value for e in at.error)
