"""Issue 19, items 2, 3 and 8: user text is escaped once, where it becomes HTML (the report), Markdown (the pages)
or a spreadsheet cell (every CSV). Hostile class names, lineage, link parameters and file names go through the
real entry points; random strings go through the same helpers as property tests."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from dataclasses import replace
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers import NAMES, chained, report
from unsir_core.common.escaping import WORD_JOINER, csv_text, html, md
from unsir_core.report.html import render, render_comparison

ROOT = Path(__file__).resolve().parent.parent
IMG = "<img src=x onerror=alert(document.domain)>"
SCRIPT = "<script>alert(1)</script>"
FORMULA = '=HYPERLINK("evil.example";"click")'
PIXEL = "![x](http://127.0.0.1:9/pixel.png)"
LINK = "[Click here to re-run](http://127.0.0.1:9/phish)"
LINK_TAG = '<a href="http://127.0.0.1:9/">click</a>'  # Plotly's markup for a link
HOSTILE = {"circle": IMG, "square": FORMULA, "triangle": SCRIPT, "star": PIXEL}  # NAMES -> hostile class names


def renamed(run, names: dict[str, str]):
    """`run` with its class names replaced wherever they occur, keys too (a folder data set with these folders)."""
    if isinstance(run, dict):
        return {names.get(k, k): renamed(v, names) for k, v in run.items()}
    if isinstance(run, list):
        return [renamed(v, names) for v in run]
    return names.get(run, run) if isinstance(run, str) else run


def hostile_run() -> dict:
    """The chained run with hostile class names, and script in every free-text field a run JSON carries."""
    run = renamed(chained(), HOSTILE)
    run["extras"]["lineage"][0]["seed"] = SCRIPT
    run["extras"]["lineage"][0]["parent"] = IMG
    run["extras"]["parent"] = SCRIPT
    run["extras"]["environment"] = {IMG: SCRIPT, "torch": IMG}
    run["extras"]["gallery"]["images"][0]["group"] = "forget' onmouseover='alert(1)"
    run["extras"]["gallery"]["images"][1]["png"] = "http://127.0.0.1:9/pixel.png"
    run["preset"] = SCRIPT
    run["device"] = IMG
    run["dataset"] = f"folder:{IMG}"
    run["repair_check"] = {"message": SCRIPT}
    run["recipe"] = {"name": IMG, "choices": [SCRIPT]}
    return run


class Tags(HTMLParser):
    """Every tag and attribute of a page, as a browser's parser sees them."""

    def __init__(self, page: str):
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def assert_inert(page: str, base_url: str) -> None:
    """No script, no event handler, no image from elsewhere and no link but the reproduce link."""
    tags = Tags(page).tags
    assert not [t for t, _ in tags if t == "script"]
    assert not [(t, a) for t, a in tags for name in a if name.startswith("on")]
    assert all(a.get("src", "").startswith("data:image/png;base64,") for t, a in tags if t == "img")
    assert all(a["href"].startswith(base_url.rstrip("/") + "/?") for t, a in tags if t == "a")


def test_hostile_text_in_a_run_is_shown_as_text_in_the_report():
    page = render(hostile_run(), "http://host:8501/")
    assert_inert(page, "http://host:8501/")
    assert "<script" not in page and "<img src=x" not in page and "onerror=alert" not in page.replace(html(IMG), "")
    for text in (IMG, SCRIPT, FORMULA, PIXEL):
        assert html(text) in page  # shown, as text
    assert "<td class=num>1</td><td>" + html(SCRIPT) + "</td><td>&lt;script&gt;" in page  # the chain's seed cell
    assert page.count("<img ") == 1  # the gallery image with an outside address is left out


def test_hostile_text_in_two_runs_is_shown_as_text_in_the_comparison():
    a, b = hostile_run(), hostile_run()
    b["config"]["impair"]["lr"] = 0.02
    page = render_comparison(a, b, (IMG, SCRIPT), [f"forget {PIXEL} → {IMG}"], "http://host:8501/")
    assert_inert(page, "http://host:8501/")
    assert html(IMG) in page and html(SCRIPT) in page


def test_the_report_command_escapes_hostile_class_names(tmp_path):
    run = tmp_path / "run.json"
    run.write_text(json.dumps(renamed(chained(), HOSTILE)))
    out = tmp_path / "report.html"
    res = subprocess.run(
        [sys.executable, "-m", "unsir_core", "report", str(run), "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    page = out.read_text()
    assert_inert(page, "http://localhost:8501/")
    assert "<script" not in page and html(IMG) in page


PROPERTY = settings(max_examples=100, deadline=None)  # random strings through each helper


@PROPERTY
@given(st.lists(st.text(min_size=1, max_size=30), min_size=4, max_size=4, unique=True))
def test_any_class_names_make_an_inert_report(names):
    run = renamed(chained(), dict(zip(NAMES, names)))
    page = render(run, "http://host:8501/")
    assert_inert(page, "http://host:8501/")
    assert {t for t, _ in Tags(page).tags} <= REPORT_TAGS
    for name in names:
        assert html(name) in page


REPORT_TAGS = {
    "html",
    "head",
    "meta",
    "title",
    "style",
    "body",
    "h1",
    "h2",
    "p",
    "i",
    "b",
    "table",
    "tr",
    "th",
    "td",
    "div",
    "img",
    "svg",
    "text",
    "rect",
    "line",
    "polyline",
    "circle",
    "ul",
    "li",
    "a",
    "code",
}


# --- CSV and spreadsheet cells -----------------------------------------------------------------------------


def cells(text: str) -> list[str]:
    return [c for row in csv.reader(io.StringIO(text, newline="")) for c in row]


def assert_no_formula(text: str, shown: str) -> None:
    assert not [c for c in cells(text) if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert "'" + shown in cells(text) or any(c.startswith("'" + shown) for c in cells(text))


def test_a_sweep_of_a_formula_class_writes_it_as_text(tiny_shapes, shipped_model, fast_config, tmp_path):
    """A folder data set whose class folder is named like a formula: the sweep CSV (CLI and What-if download)."""
    from studio.setup import Setup
    from studio.whatif import SweepRun, downloads
    from unsir_core.experiments.sweep import run_sweep
    from unsir_core.experiments.sweep_backends import InProcess
    from unsir_core.experiments.sweep_grid import Axis, SweepSpec

    names = list(tiny_shapes.class_names)
    names[names.index("triangle")] = FORMULA
    data = replace(tiny_shapes, class_names=tuple(names))
    spec = SweepSpec((Axis.of("impair.lr", (0.01,), fast_config),), ((FORMULA,),), (0,), fast_config)
    result = run_sweep(spec, shipped_model, data, InProcess(), "cpu", use_cache=False)
    assert result.frame()["forget"].tolist() == [FORMULA]  # the table itself keeps the name
    written = result.write(tmp_path / "sweep.csv").read_text()
    assert_no_formula(written, FORMULA)
    download = downloads(SweepRun(result, Setup(), "m.safetensors", "custom"))["Table (CSV)"][0].decode()
    assert download == written


def test_the_runs_csv_writes_a_formula_class_as_text():
    from studio.export import runs_csv
    from studio.runs import RunRecord
    from studio.setup import Setup

    run = renamed(report(), {"triangle": FORMULA})
    record = RunRecord(1, Setup().with_value("forget", [FORMULA]), "@SUM(A1).safetensors", "12:00:00", run, [], None)
    text = runs_csv([record]).decode()
    assert_no_formula(text, FORMULA)
    assert "'@SUM(A1).safetensors" in cells(text) and "1" in cells(text)  # numbers stay numbers


def test_the_compare_csv_writes_a_formula_method_name_as_text(shipped_model, tiny_shapes, tmp_path):
    """`compare --methods` with a method named like a formula: its failed row in the CSV."""
    from unsir_core.experiments.compare import compare
    from unsir_core.metrics.audits import MetricSettings

    result = compare(
        shipped_model,
        tiny_shapes,
        ["triangle"],
        [FORMULA],
        device="cpu",
        train_reference=False,
        metrics=MetricSettings(relearn=False, mia_samples=100, probe=False),
    )
    assert result.rows[-1].method == FORMULA and result.rows[-1].status.startswith("failed")
    assert_no_formula(result.to_csv(), FORMULA)


@PROPERTY
@given(st.lists(st.one_of(st.text(), st.integers(), st.floats(allow_nan=False)), min_size=1, max_size=5))
def test_no_csv_cell_starts_a_formula(values):
    import pandas as pd

    text = csv_text(pd.DataFrame({"name": [str(v) for v in values], "value": values}))
    assert not [c for c in cells(text) if c[:1] in ("=", "+", "-", "@", "\t", "\r") and not is_number(c)]


def is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


# --- Markdown on the pages ---------------------------------------------------------------------------------


def shown(markdown: str) -> str:
    """The text a browser shows for escaped Markdown, less the invisible word joiners."""
    return unescape(markdown).replace(WORD_JOINER, "")


def page_texts(at) -> list[str]:
    """The Markdown source of every text element AppTest sees (main area and sidebar)."""
    kinds = ("markdown", "caption", "info", "warning", "error", "success", "subheader", "title")
    return [e.value for kind in kinds for e in getattr(at, kind)] + [e.value for e in at.sidebar.markdown]


def assert_no_live_markdown(texts: list[str]) -> None:
    for text in texts:
        assert "](" not in text and "![" not in text and "<img" not in text, text


def test_a_shared_link_cannot_put_an_image_or_a_link_on_the_page():
    """Item 3: the forget list of a link, in the shared-result box, the sidebar and the Forget page's warning."""
    from streamlit.testing.v1 import AppTest

    from studio import nav

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    at.query_params = {"forget": f"{PIXEL},{LINK}", "result": "df=0,dr=1,odf=2,odr=3,t=4"}
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    box = next(m.value for m in at.markdown if "This link shares a result" in m.value)
    assert md(PIXEL) in box and md(LINK) in box and f"forget {PIXEL}, {LINK}," in shown(box)
    assert md(PIXEL) in " ".join(m.value for m in at.sidebar.markdown)
    assert_no_live_markdown(page_texts(at))
    at.switch_page(nav.NOISE.path).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(f"has no class {PIXEL}, {LINK}" in shown(w.value) for w in at.warning)
    assert_no_live_markdown(page_texts(at))


@PROPERTY
@given(st.text())
def test_markdown_escaping_leaves_no_syntax_and_keeps_the_text(text):
    out = md(text)
    assert not set(out) & set("[]<>*`$|~\\\n\r")  # ( ) ! open nothing without [ ]
    assert shown(out) == text.replace("\r\n", " ").replace("\r", " ").replace("\n", " ").replace(WORD_JOINER, "")
    assert not re.search(r"(?i)https?://|www\.|\w@\w", unescape(out))  # no autolink in what the browser parses


def test_class_names_in_charts_are_text_not_plotly_markup():
    """Plotly reads <a href>, <b> and <br> in axis categories and trace names: a class folder named like a link must
    show as text in the per-class bars and the chain's timeline, not become a link in every visitor's chart."""
    from studio.charts import class_panels

    names = [LINK_TAG, "circle", "b&w"]
    spec = class_panels({"Unlearned": [1.0, 2.0, 3.0]}, names, [0], "%").to_json()
    assert "<a " not in spec and "&lt;a href" in spec and "b&amp;w" in spec
