"""Issue 19, items 2, 3 and 8: user text is escaped once, where it becomes HTML (the report), Markdown (the pages)
or a spreadsheet cell (every CSV). Hostile class names, lineage, link parameters and file names go through the
real entry points; random strings go through the same helpers as property tests."""
from __future__ import annotations

import json
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

from hypothesis import given, settings, strategies as st

from unsir_core.escaping import html
from unsir_core.report import render, render_comparison
from tests.test_story import NAMES, chained

ROOT = Path(__file__).resolve().parent.parent
IMG = "<img src=x onerror=alert(document.domain)>"
SCRIPT = "<script>alert(1)</script>"
FORMULA = '=HYPERLINK("evil.example";"click")'
PIXEL = "![x](http://127.0.0.1:9/pixel.png)"
LINK = "[Click here to re-run](http://127.0.0.1:9/phish)"
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
    res = subprocess.run([sys.executable, "-m", "unsir_core", "report", str(run), "--out", str(out)], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
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


REPORT_TAGS = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "p", "i", "b", "table", "tr", "th", "td",
               "div", "img", "svg", "text", "rect", "line", "polyline", "circle", "ul", "li", "a", "code"}
