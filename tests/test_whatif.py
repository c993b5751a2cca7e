"""The What-if page through AppTest: a small sweep on the shipped default (short settings from the URL), its chart
and table, the cache on a second run, a bad value, and opening one run on the Results page."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from studio import nav
from studio.sweep_charts import heatmap, trend

APP = str(Path(__file__).resolve().parent.parent / "app.py")
# short runs: 20 retain images per class, 16 noise images, one repair epoch (the preset keeps the rest)
FAST = {
    "forget": "triangle",
    "retain_per_class": "20",
    "noise.batch_size": "16",
    "noise.steps": "5",
    "noise_copies": "2",
    "repair.epochs": "1",
}
LONG_S = 600


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    """One $UNSIR_HOME (so one cell cache) for the module's session; each test sets it again (see conftest)."""
    return tmp_path_factory.mktemp("whatif-home")


@pytest.fixture(autouse=True)
def same_home(home, monkeypatch):
    monkeypatch.setenv("UNSIR_HOME", str(home))


@pytest.fixture(scope="module")
def swept(home, tmp_path_factory) -> AppTest:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("UNSIR_HOME", str(home))
        mp.setenv("UNSIR_DATA_ROOT", str(tmp_path_factory.getbasetemp() / "data"))
        at = AppTest.from_file(APP, default_timeout=90)
        at.query_params = FAST
        at.run()
        at.switch_page(nav.WHATIF.path).run()
        assert at.text_input(key="whatif-x-values").value == "0.001, 0.01, 0.02, 0.1, 1"  # paper Table 5
        at.text_input(key="whatif-x-values").set_value("0.001, 0.1").run()
        at.text_input(key="whatif-seeds").set_value("0").run()
        at.button(key="run-sweep").click().run(timeout=LONG_S)
        assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
        yield at


def test_a_sweep_fills_the_chart_and_the_paper_table(swept):
    assert "2 runs (2 run now, 0 from the cache)" in swept.success[0].value
    table = swept.dataframe[0].value
    assert table.iloc[:, 0].tolist() == [0.001, 0.1] and table["seeds"].tolist() == [1, 1]
    assert any("The paper:" in c.value and "Tables 5-6" in c.value for c in swept.caption)
    labels = {b.label for b in swept.get("download_button")}
    assert {"Table (CSV)", "Table (JSON)", "Every run's report (JSON)"} <= labels


def test_the_same_sweep_again_comes_from_the_cache(swept):
    swept.button(key="run-sweep").click().run(timeout=LONG_S)
    assert "(0 run now, 2 from the cache)" in swept.success[0].value


def test_a_bad_value_is_explained_and_nothing_runs(swept):
    swept.text_input(key="whatif-x-values").set_value("0.001, fast").run()
    assert any("impair.lr takes a number, not 'fast'" in e.value for e in swept.error)
    assert swept.button(key="run-sweep").disabled
    swept.text_input(key="whatif-x-values").set_value("0.001, 0.1").run()
    assert not swept.error and not swept.button(key="run-sweep").disabled


def test_a_sweep_too_large_is_refused_at_once_on_every_rerun(swept, monkeypatch):
    import time

    hundred = ", ".join(str(v) for v in range(1, 101))
    swept.selectbox(key="whatif-x").set_value("noise.steps").run()
    swept.text_input(key="whatif-x-values").set_value(hundred).run()
    swept.selectbox(key="whatif-y").set_value("noise_copies").run()
    swept.text_input(key="whatif-y-values").set_value(hundred).run()
    start = time.perf_counter()
    swept.text_input(key="whatif-seeds").set_value(", ".join(str(s) for s in range(100))).run()
    assert time.perf_counter() - start < 30  # was 67 s and 500 MB on every rerun: the grid is not made
    assert not swept.exception
    assert any("This sweep has 1,000,000 runs" in e.value and "at most 1,000" in e.value for e in swept.error)
    assert swept.button(key="run-sweep").disabled
    monkeypatch.setattr(
        "unsir_core.experiments.sweep_grid.MAX_SECONDS", 10
    )  # 100 short runs take longer than that anywhere
    swept.text_input(key="whatif-seeds").set_value(", ".join(str(s) for s in range(10))).run()
    swept.text_input(key="whatif-x-values").set_value("1, 2").run()
    swept.text_input(key="whatif-y-values").set_value("1, 2, 3, 4, 5").run()
    assert any(
        "This sweep of 100 runs would take about" in e.value
        and "s per run, estimated); one sweep runs at most" in e.value
        for e in swept.error
    ), [e.value for e in swept.error]
    assert swept.button(key="run-sweep").disabled
    monkeypatch.undo()
    swept.selectbox(key="whatif-y").set_value("").run()  # back to the fixture's sweep for the tests after this one
    swept.selectbox(key="whatif-x").set_value("impair.lr").run()
    swept.text_input(key="whatif-x-values").set_value("0.001, 0.1").run()
    swept.text_input(key="whatif-seeds").set_value("0").run()
    assert not swept.error and not swept.button(key="run-sweep").disabled


def test_a_cell_opens_on_the_results_page(swept):
    swept.selectbox(key="whatif-cell").set_value(1).run()
    swept.button(key="whatif-open").click().run()
    assert not swept.exception
    assert swept.title[0].value == nav.RESULTS.title
    record = swept.session_state["runs"][-1]
    assert record.setup.config.impair.lr == 0.1 and record.unsir is None
    assert [m.label for m in swept.metric][:3] == ["A_Df · Original", "A_Df · After impair", "A_Df · Unlearned"]
    for page in (nav.UNLEARN, nav.RUNS, nav.GRADCAM):  # a run without models or live samples breaks no page
        swept.switch_page(page.path).run()
        assert not swept.exception, [e.value for e in swept.exception]


def test_the_charts_carry_each_run_to_open():
    frame = pd.DataFrame(
        {
            "cell": [0, 1, 2, 3],
            "impair.lr": [0.01, 0.01, 0.1, 0.1],
            "repair.lr": [1e-3, 1e-2] * 2,
            "seed": [0, 0, 0, 0],
            "status": ["ok"] * 4,
            "forget_acc_impair": [50.0, 40, 0, 0],
            "retain_acc_impair": [80.0, 70, 10, 5],
            "forget_acc_repair": [5.0, 4, 0, 0],
            "retain_acc_repair": [90.0, 88, 30, 20],
        }
    )
    lines = trend(frame, "impair.lr", [0.01, 0.1], "impair lr")
    points = [t for t in lines.data if t.mode == "markers" and t.customdata is not None]
    assert len(points) == 4 and all(list(t.customdata) == [0, 1, 2, 3] for t in points)
    heat = heatmap(frame, "impair.lr", [0.01, 0.1], "repair.lr", [1e-3, 1e-2], "retain_acc_repair", "impair", "repair")
    assert [list(row) for row in heat.data[0].z] == [[90.0, 30.0], [88.0, 20.0]]
    assert sorted(heat.data[1].customdata) == [0, 1, 2, 3]
