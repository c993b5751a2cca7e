"""Benchmark of issue 23's "warm once": the first live run of a fresh browser session against the second.

Starts the served dashboard (tools/first_page.py's server: 127.0.0.1, a throw-away UNSIR_HOME), opens the Overview as
the lecturer would, waits until the server's warm-up job has left the sidebar's queue, then opens a fresh
session on the Impair page and times two runs of the default request (click to the run's success notice, in
chromium). Prints both times and their ratio (target <= 1.5). --cold turns the warm-up off, for comparison.

    PYTHONPATH=. python tools/first_run.py [--cold] [--forget star]
"""

from __future__ import annotations

import argparse
import os
import re
import tempfile
import time

from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect, sync_playwright

from tools.first_page import CHROMIUM, cold_server

TIMEOUT_MS = 900_000  # a run on a loaded 2-core CPU
WARM_UP_SHOWN_MS = 20_000  # the sidebar lists a queued warm-up within two of its 2-s polls; longer on a loaded CPU


def idle(page) -> None:
    page.wait_for_timeout(300)
    page.get_by_test_id("stStatusWidget").wait_for(state="detached", timeout=TIMEOUT_MS)


def wait_for_warm_up(page) -> float:
    """Seconds until the server's warm-up job, listed in the page's sidebar, has come and gone (it appears with
    the sidebar's first poll, not always by the time the page is idle)."""
    start = time.perf_counter()
    warming = page.get_by_test_id("stSidebar").get_by_text("Warming up")
    try:
        warming.first.wait_for(timeout=WARM_UP_SHOWN_MS)
    except PlaywrightTimeout:  # nothing to warm (a warmed model and reference)
        return time.perf_counter() - start
    expect(warming).to_have_count(0, timeout=TIMEOUT_MS)
    return time.perf_counter() - start


def timed_run(page, n: int) -> dict[str, float]:
    """Click Run UNSIR; the seconds to the first progress step, to the run's notice, and the engine's own unlearning
    time that the notice reports (what is left is the page: drawing, collecting, the rerun)."""
    start = time.perf_counter()
    page.get_by_role("button", name="Run UNSIR", exact=True).click()
    page.get_by_text(re.compile(r"step \d+ of")).first.wait_for(timeout=TIMEOUT_MS)
    stepping = time.perf_counter() - start
    notice = page.get_by_text(re.compile(f"Run {n} finished")).first
    notice.wait_for(timeout=TIMEOUT_MS)
    total = time.perf_counter() - start
    unlearn = float(re.search(r"finished in ([\d.]+) s of unlearning", notice.inner_text()).group(1))
    print(
        f"run {n}: click to result {total:.1f} s (first step shown after {stepping:.1f} s; the engine's unlearning "
        f"{unlearn:.1f} s; the rest, evaluation and page, {total - stepping - unlearn:.1f} s)",
        flush=True,
    )
    return {"total": total, "stepping": stepping, "unlearn": unlearn}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cold", action="store_true", help="no warm-up (UNSIR_WARM_UP=0)")
    ap.add_argument("--forget", default="star", help="the class the runs forget")
    args = ap.parse_args()
    if args.cold:
        os.environ["UNSIR_WARM_UP"] = "0"
    with tempfile.TemporaryDirectory(prefix="unsir-first-run-") as home, sync_playwright() as p:
        server, url, _ = cold_server(home)
        try:
            browser = p.chromium.launch(
                executable_path=CHROMIUM,
                args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            lecturer = browser.new_page()
            start = time.perf_counter()
            lecturer.goto(url)
            idle(lecturer)
            if args.cold:
                print("warm-up: off")
            else:
                wait_for_warm_up(lecturer)
                print(f"warm-up: done {time.perf_counter() - start:.1f} s after the first page load", flush=True)
            page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(f"{url}/impair-and-repair?forget={args.forget}")
            idle(page)
            if not args.cold:  # the forget set's reference, warmed when the page chose it: a user reads meanwhile
                print(f"reference warm-up: {wait_for_warm_up(page):.1f} s after opening the page", flush=True)
            first, second = timed_run(page, 1)["total"], timed_run(page, 2)["total"]
            load = os.getloadavg()[0]
            print(
                f"first live run {first:.1f} s, second {second:.1f} s: ratio {first / second:.2f} (target <= 1.5); "
                f"load average {load:.1f} on {os.cpu_count()} cores"
            )
            browser.close()
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
