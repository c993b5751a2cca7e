"""Real-browser test of issue 21's ablation switch on the Impair and repair page: run UNSIR, pick "without noise",
run it beside the run, and see both on the same live chart with the words computed from the two runs.

Uses the server and helpers of test_browser.py (same skip rules). Short settings keep it quick; the screenshot goes
to $UNSIR_SCREENSHOTS with the others.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.test_browser import LONG, browser_page, chromium, go, idle, server, shot  # noqa: F401 (fixture)
from tests.test_browser_chain_and_link import SHORT

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(1200)]  # as in test_browser.py


def test_the_ablation_switch_draws_the_run_without_noise_on_the_same_chart(server):  # noqa: F811 - the fixture
    with chromium() as browser:
        page = browser_page(browser, f"{server}/?forget=triangle&{SHORT}")
        idle(page)
        expect(page.get_by_role("heading", name="Overview")).to_be_visible(timeout=LONG)
        go(page, "Impair and repair")
        # The page computes the recipe first.
        page.get_by_role("button", name="Run UNSIR", exact=True).click(timeout=LONG)
        idle(page)
        expect(page.get_by_text("Last run:").first).to_be_visible(timeout=LONG)
        main = page.get_by_test_id("stMain")
        expect(main).to_contain_text("Impair")  # the stage words, computed from the run's numbers
        expect(main.get_by_text("Repair ", exact=False).first).to_be_visible()

        page.get_by_test_id("stRadio").get_by_text("without noise", exact=True).click(timeout=LONG)
        idle(page)
        page.get_by_role("button", name="Run UNSIR without noise beside run 1").click(timeout=LONG)
        idle(page)
        expect(page.get_by_text("Last run: Run 2").first).to_be_visible(timeout=LONG)  # the job has finished
        expect(main).to_contain_text("UNSIR without noise")  # the new run's title
        expect(main).to_contain_text("A_Df after impair:", timeout=LONG)  # the two runs' numbers side by side
        chart = main.locator(".js-plotly-plot").first
        expect(chart).to_contain_text("Forget classes (A_Df) without noise")  # the twin's dashed lines
        expect(chart).to_contain_text("Retain classes (A_Dr) without noise")
        expect(page.get_by_role("button", name="Run UNSIR without noise beside run 1")).to_have_count(0)
        shot(page, "4b-impair-ablation")

        # Another switch position has no twin yet: the button offers it, the chart is the run's own.
        page.get_by_test_id("stRadio").get_by_text("without repair", exact=True).click(timeout=LONG)
        idle(page)
        expect(page.get_by_role("button", name="Run UNSIR without repair beside run 1")).to_be_visible()
        expect(main.locator(".js-plotly-plot").first).not_to_contain_text("without noise")
