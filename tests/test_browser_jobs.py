"""Real-browser tests of issue 23: a sweep, a live run and a comparison keep going while their user visits other
pages or closes the tab, and a second session sees its place in the device queue with an ETA.

Uses the server and helpers of test_browser.py (same skip rules). Short UNSIR settings keep it quick.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.test_browser import browser_page, chromium, fill_in, free_port, idle, server, serving, shot  # noqa: F401 (fixture)
from unsir_core.methods import METHODS

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(1200)]  # as in test_browser.py

SHORT = "retain_per_class=40&noise.steps=5&repair.epochs=1"
LONG = 600_000  # ms: a job among several on a busy 2-core CPU (a sweep cell took over 2 min at load 13)


def visit(page, title: str) -> None:
    """Open a page from the sidebar. Not `go`: while a job runs its progress is polled, so the page is never idle."""
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title).click()
    expect(page.get_by_role("heading", name=title).first).to_be_visible(timeout=LONG)


def away_and_back(page, title: str, job: str, done: re.Pattern) -> None:
    """Visit two other pages, then come back to the job's page. Each other page shows the job's progress in its
    sidebar or, once it has ended, its `done` notice (a short job may end before the first visit)."""
    for other in ("Model and data", "Runs"):
        visit(page, other)
        running = page.get_by_test_id("stSidebar").get_by_text(job)
        expect(running.or_(page.get_by_test_id("stMain").get_by_text(done)).first).to_be_visible(timeout=LONG)
    visit(page, title)


def test_a_sweep_survives_two_other_pages(server):  # noqa: F811 - the fixture
    with chromium() as browser:
        page = browser_page(browser, f"{server}/what-if?forget=triangle&{SHORT}")
        idle(page)
        main = page.get_by_test_id("stMain")
        fill_in(page, main, (("Values", "0.01, 0.1"), ("Seeds", "0")))
        page.get_by_role("button", name="Run the sweep").click()
        expect(main.get_by_text(re.compile(r"\d of 2 runs done"))).to_be_visible(timeout=LONG)
        away_and_back(page, "What-if sweeps", "What-if sweep: 2 runs", re.compile("Sweep finished: 2 runs"))
        running = main.get_by_text(re.compile(r"\d of 2 runs done"))
        finished = main.get_by_role("heading", name=re.compile("2 runs on"))  # the sweep's result, with all its runs
        expect(running.or_(finished).first).to_be_visible(timeout=LONG)
        expect(finished).to_be_visible(timeout=LONG)
        shot(page, "jobs-sweep-back")


def test_a_live_run_survives_other_pages_and_a_closed_tab(server):  # noqa: F811 - the fixture
    with chromium() as browser:
        page = browser_page(browser, f"{server}/impair-and-repair?forget=star&{SHORT}&repair.epochs=4")
        idle(page)
        page.get_by_role("button", name="Run UNSIR", exact=True).click()
        main = page.get_by_test_id("stMain")
        expect(main.get_by_text("UNSIR: forget star").first).to_be_visible(timeout=LONG)
        away_and_back(page, "Impair and repair", "UNSIR: forget star", re.compile("Run 1 finished"))
        link = page.url
        context = page.context
        page.close()  # the tab closed; the same browser opens the link again
        page = context.new_page()
        page.set_default_timeout(90_000)
        page.goto(link)
        idle(page)
        last = page.get_by_role("heading", name=re.compile("Last run: Run 1 · forget star"))  # running, or done
        expect(last).to_be_visible(timeout=LONG)
        shot(page, "jobs-run-reopened")


def choose_methods(page, titles: list[str]) -> None:
    """Empty the method picker (one Backspace per registered method), then pick exactly `titles`."""
    field = page.get_by_test_id("stMultiSelect").first.locator("input")
    field.click()
    for _ in METHODS:
        field.press("Backspace")
    for title in titles:
        field.fill(title)
        page.get_by_role("option", name=re.compile(f"^{re.escape(title)}( \\(zero-glance\\))?$")).click()
    field.press("Escape")
    idle(page)


def measure_only_the_quick(page) -> None:
    """Untick the relearn time and the feature probe: the comparison's slowest measurements."""
    page.get_by_text("Measurement settings").click()
    for label in ("Measure relearn time", "Feature probe"):
        page.get_by_test_id("stCheckbox").filter(has_text=label).click()  # its label: the text shows twice
        idle(page)


def test_a_comparison_survives_other_pages(server):  # noqa: F811 - the fixture
    """UNSIR and the fine-tune at UNSIR's repair budget (the literature's 10-epoch fine-tune, the relearn time
    and the probe would take minutes here): the stored reference, two short methods and their measures."""
    with chromium() as browser:
        page = browser_page(browser, f"{server}/compare?forget=circle&{SHORT}")
        idle(page)
        choose_methods(page, ["UNSIR", "Fine-tune, UNSIR's repair"])
        measure_only_the_quick(page)
        page.get_by_role("button", name="Run the comparison").click()
        main = page.get_by_test_id("stMain")
        expect(main.get_by_text(re.compile("Compare 2 methods")).first).to_be_visible(timeout=LONG)
        away_and_back(page, "Compare methods", "Compare 2 methods", re.compile(r"Compared \d+ methods"))
        expect(main.get_by_role("heading", name="Results: forgetting circle")).to_be_visible(timeout=LONG)
        expect(main).to_contain_text("Fine-tune, UNSIR's repair")
        shot(page, "jobs-compare-back")


def test_a_second_session_sees_its_place_in_line(server):  # noqa: F811 - the fixture
    with chromium() as browser:
        first = browser_page(browser, f"{server}/impair-and-repair?forget=star&{SHORT}&repair.epochs=12")
        second = browser_page(browser, f"{server}/impair-and-repair?forget=circle&{SHORT}")
        idle(first)
        idle(second)
        first.get_by_role("button", name="Run UNSIR", exact=True).click()
        expect(first.get_by_text(re.compile("step \\d+ of")).first).to_be_visible(timeout=LONG)
        second.get_by_role("button", name="Run UNSIR", exact=True).click()
        waiting = second.get_by_text(
            re.compile(r"Waiting: 1 ahead · running now: UNSIR: forget star · starts in about")
        )
        expect(waiting.first).to_be_visible(timeout=60_000)
        shot(second, "jobs-waiting")
        expect(second.get_by_text(re.compile(r"Run \d+ finished")).first).to_be_visible(timeout=LONG)


def test_finished_runs_survive_a_server_restart(tmp_path):
    """A run finished, the server stopped and started again on the same state folder: the same link in the same
    browser shows the run (its setup, numbers and live chart read back from $UNSIR_HOME/sessions)."""
    home, port = tmp_path / "home", free_port()
    with chromium() as browser:
        with serving(home, port) as url:
            page = browser_page(browser, f"{url}/impair-and-repair?forget=star&{SHORT}")
            idle(page)
            page.get_by_role("button", name="Run UNSIR", exact=True).click()
            expect(page.get_by_text("Run 1 finished").first).to_be_visible(timeout=LONG)
            link = page.url
        with serving(home, port):
            page.goto(link)
            idle(page)
            last = page.get_by_role("heading", name=re.compile("Last run: Run 1 · forget star"))
            expect(last).to_be_visible(timeout=LONG)  # the new server loads the data set and the model first
            shot(page, "jobs-after-restart")
