"""Issue 19 in a real browser: the report of a run with hostile class names and lineage runs no script, and a
link whose forget list is Markdown puts no outside image or link on the page.

Uses the server and helpers of test_browser.py (same skip rules).
"""

from __future__ import annotations

from html import unescape
from urllib.parse import urlencode

import pytest
from playwright.sync_api import expect

from tests.test_browser import LONG, ROOT, browser_page, chromium, idle, server  # noqa: F401 (fixture)
from tests.test_escaping import IMG, LINK, PIXEL, SCRIPT, hostile_run
from unsir_core.common.escaping import md
from unsir_core.report.html import render

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(1200)]  # as in test_browser.py

OUTSIDE = "http://127.0.0.1:9"  # the addresses PIXEL and LINK point at (nothing listens there)


def test_the_report_of_a_hostile_run_runs_no_script(tmp_path):
    """The renderer itself, on a run JSON the `report` command would refuse (script in the lineage's seed): the
    escaping must hold even for input that got past every check."""
    out = tmp_path / "report.html"
    out.write_text(render(hostile_run()), encoding="utf-8")
    with chromium() as browser:
        page = browser.new_page()
        dialogs = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(out.as_uri())
        page.mouse.move(200, 600)  # over the gallery: an injected onmouseover would fire now
        page.wait_for_timeout(1000)
        assert dialogs == []
        assert page.evaluate("() => document.scripts.length") == 0
        expect(page.locator("h1")).to_contain_text("Unlearning report")
        expect(page.locator("body")).to_contain_text(IMG)  # shown as text
        expect(page.locator("body")).to_contain_text(SCRIPT)


def test_a_link_with_markdown_in_the_forget_list_shows_it_as_text(server):  # noqa: F811 - the fixture
    query = urlencode({"forget": f"{PIXEL},{LINK}", "result": "df=0,dr=1,odf=2,odr=3,t=4"})
    with chromium() as browser:
        page = browser_page(browser, f"{server}/?{query}")
        requested = []
        page.on("request", lambda r: requested.append(r.url) if r.url.startswith(OUTSIDE) else None)
        idle(page)
        main = page.get_by_test_id("stMain")
        expect(main).to_contain_text("This link shares a result", timeout=LONG)
        expect(main).to_contain_text(unescape(md(f"forget {PIXEL}, {LINK}")))  # literally, brackets and all
        expect(page.get_by_test_id("stSidebar")).to_contain_text(unescape(md(PIXEL)))
        assert page.locator(f"img[src^='{OUTSIDE}']").count() == 0
        assert page.locator(f"a[href^='{OUTSIDE}']").count() == 0
        assert requested == []
