"""Real-browser test of issue 14: chain two requests from Results (triangle, then star), check the labels and
the timeline, open the address bar's link in a new browser context and re-run it, and open the report.

Uses the server and helpers of test_browser.py (same skip rules). Short UNSIR settings keep it quick; the
figures are not what is tested. The report screenshot goes to $UNSIR_SCREENSHOTS with the others.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import expect

from tests.test_browser import LONG, SHOTS, browser_page, chromium, go, idle, server, shot  # noqa: F401 (fixture)
from unsir_core.report.share import decode_result

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(1200)]  # as in test_browser.py

SHORT = "retain_per_class=40&noise.steps=5&repair.epochs=1"


def run_unsir(page, number: int) -> None:
    """Run UNSIR from its page and wait until run `number` has finished (the job runs in the background)."""
    go(page, "Impair and repair")
    page.get_by_role("button", name="Run UNSIR", exact=True).click()
    idle(page)
    expect(page.get_by_text(f"Last run: Run {number}").first).to_be_visible(timeout=LONG)


def result_of(url: str) -> dict[str, float]:
    return decode_result(parse_qs(urlparse(url).query)["result"][0])


def test_chain_link_and_report_in_a_real_browser(server, tmp_path):  # noqa: F811 - the fixture
    with chromium() as browser:
        page = browser_page(browser, f"{server}/?forget=triangle&{SHORT}")
        idle(page)
        expect(page.get_by_role("heading", name="Overview")).to_be_visible(timeout=LONG)
        run_unsir(page, 1)

        # Request 2 from the Results page: triangle is shown as forgotten and cannot be chosen again.
        go(page, "Results")
        page.get_by_role("button", name="Forget more from this model").click()
        idle(page)
        main = page.get_by_test_id("stMain")
        expect(page.get_by_role("heading", name="Forget classes and noise")).to_be_visible()
        expect(main).to_contain_text("already forgot triangle")
        select = page.get_by_test_id("stMultiSelect").filter(has_text="Forget classes")
        select.locator("input").click()
        page.keyboard.type("triangle")
        expect(page.get_by_role("option", name="triangle")).to_have_count(0)
        page.keyboard.press("Control+A")
        page.keyboard.type("star")
        page.keyboard.press("Enter")
        page.keyboard.press("Escape")
        idle(page)
        expect(page.get_by_test_id("stSidebar")).to_contain_text("after triangle (already forgotten)")
        run_unsir(page, 2)

        go(page, "Results")
        expect(main).to_contain_text("A_Df · Starting model, already forgot triangle")
        expect(main).to_contain_text("A_Df · Original")
        expect(main).to_contain_text("already forgotten triangle")
        expect(main.locator(".gtitle", has_text="The chain of requests")).to_be_visible()
        for name in ("A_Df triangle", "A_Df star", "A_Dr (classes retained)"):
            expect(main.locator(".legendtext", has_text=name).first).to_be_attached()
        shot(page, "8-chain-results")
        link = page.url
        assert "chain=triangle" in link and "forget=star" in link and "result=" in link
        shared = result_of(link)

        # The report of the chained run: downloaded from Runs, opened in the browser.
        go(page, "Runs")
        with page.expect_download() as download:
            page.get_by_role("button", name="Report (HTML)", exact=True).click()
        report = tmp_path / "report.html"
        download.value.save_as(report)
        assert report.stat().st_size < 2_000_000
        viewer = page.context.new_page()
        viewer.goto(report.as_uri())
        expect(viewer.get_by_role("heading", name="Summary")).to_be_visible()
        expect(viewer.locator(".summary").first).to_contain_text("on stars")
        expect(viewer.locator(".gallery img")).to_have_count(12)
        assert viewer.evaluate("() => [...document.images].every(i => i.complete && i.naturalWidth > 0)")
        for title in (
            "Forget and retain accuracy of each model",
            "Where the forget-class test images go",
            "Test accuracy per class",
            "The chain of requests: accuracy after each one",
        ):
            expect(viewer.locator("svg.chart", has_text=title)).to_have_count(1)
        viewer.screenshot(path=str(SHOTS / "9-report.png"), full_page=True)
        viewer.close()

        # The link in a new browser context (another person): it offers a re-run and reproduces the chain.
        visitor = browser_page(browser, link)
        idle(visitor)
        expect(visitor.get_by_text("This link shares a result").first).to_be_visible(timeout=LONG)
        visitor.get_by_role("button", name="Re-run this").click()
        idle(visitor)
        expect(visitor.get_by_text("in the link").first).to_be_attached(timeout=LONG)
        again = result_of(visitor.url)
        # Same settings and seed on the same device: the same accuracies (the time differs).
        assert {k: again[k] for k in ("df", "dr", "odf", "odr")} == {k: shared[k] for k in ("df", "dr", "odf", "odr")}
        go(visitor, "Results")
        expect(visitor.get_by_test_id("stMain")).to_contain_text("A_Df · Starting model, already forgot triangle")
        shot(visitor, "10-link-reproduced")
