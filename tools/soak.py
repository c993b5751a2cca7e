"""Soak test of the served dashboard: N real browser sessions at once, each through R rounds of the lecture.

Starts `streamlit run app.py` on 127.0.0.1 only (tools/first_page.py's server: a free port, a throw-away
UNSIR_HOME), opens N browser contexts in Debian's chromium (Playwright, headless: N visitors, each with its own
cookies and Streamlit session), and drives each through, per round: the guided demo (first round), a UNSIR run
on its own forget class and seed, the Results page, a comparison (UNSIR and fine-tuning) and a one-run What-if
sweep, each job left for another page while it runs. Every loop is bounded: a job whose result does not appear
within --job-timeout counts as lost and the session goes on; the script stops by itself.

It reports: errors shown (exceptions and error boxes), results in the wrong session (a Results page naming
another session's forget class), jobs lost, p50/p95 click-to-result per kind, and the server's resident memory
over time (and its growth after the first round).

    PYTHONPATH=. python tools/soak.py --sessions 8 --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from playwright.async_api import Page, async_playwright

from studio.runs import DEMO_FORGET
from tools.first_page import CHROMIUM, cold_server
from unsir_core.data.shapes import CLASS_NAMES as SHAPES10_CLASSES
from unsir_core.methods import METHODS

# each session forgets its own class, never the guided demo's (every session's demo run forgets that one)
CLASSES = tuple(c for c in SHAPES10_CLASSES if c not in DEMO_FORGET)
# the smallest settings the app offers for a run that still forgets (retain subset, noise steps, one repair epoch)
SHORT = "retain_per_class=40&noise.steps=5&repair.epochs=1"
RESULT = {
    "demo": re.compile(r"Run \d+ finished"),
    "run": re.compile(r"Run \d+ finished"),
    "compare": re.compile(r"Compared \d+ methods"),
    "sweep": re.compile(r"Sweep finished"),
}


@dataclass
class Tally:
    """What every session saw, for the report."""

    times: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in RESULT})
    errors: list[str] = field(default_factory=list)
    mixed: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    rss: list[tuple[float, float, int]] = field(default_factory=list)  # (seconds since start, MiB, rounds done)
    rounds_done: int = 0
    skipped: int = 0  # jobs not started because the time budget was spent


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def watch_memory(pid: int, tally: Tally, stop: threading.Event, every_s: float) -> None:
    start = time.time()
    while not stop.wait(every_s):
        tally.rss.append((time.time() - start, rss_mib(pid), tally.rounds_done))


class OutOfTime(Exception):
    """The time budget is spent: the session starts no more jobs."""


class Session:
    """One visitor: a browser context on its own forget class and seeds."""

    def __init__(self, index: int, page: Page, url: str, tally: Tally, args: argparse.Namespace, deadline: float):
        self.index, self.page, self.url, self.tally, self.verbose = index, page, url, tally, args.verbose
        self.deadline = deadline  # time.time() after which no job starts
        self.forget = CLASSES[index % len(CLASSES)]
        self.timeout_ms = args.job_timeout * 1000

    async def idle(self) -> None:
        await self.page.wait_for_timeout(300)
        await self.page.get_by_test_id("stStatusWidget").wait_for(state="detached", timeout=self.timeout_ms)

    def say(self, what: str) -> None:
        if self.verbose:
            print(f"{time.strftime('%H:%M:%S')} session {self.index}: {what}", flush=True)

    async def go(self, title: str) -> None:
        self.say(f"to {title}")
        await self.page.get_by_test_id("stSidebarNav").get_by_role("link", name=title).click()
        await self.idle()
        await self.check_errors(title)

    async def check_errors(self, where: str) -> None:
        for test_id in ("stException", "stAlertContentError"):
            for text in await self.page.get_by_test_id(test_id).all_inner_texts():
                self.tally.errors.append(f"session {self.index}, {where}: {text[:200]}")

    async def job(self, kind: str, button: str, home: str, detour: str) -> None:
        """Click `button`, visit `detour` while the job runs, come back to `home`, wait for its result. Past the
        time budget no job starts (OutOfTime ends the session's round)."""
        if time.time() > self.deadline:
            self.tally.skipped += 1
            raise OutOfTime
        start = time.perf_counter()
        self.say(f"click {button}")
        await self.page.get_by_role("button", name=button, exact=True).click()
        await self.page.wait_for_timeout(1500)
        await self.go(detour)
        await self.go(home)
        try:
            await self.page.get_by_text(RESULT[kind]).first.wait_for(timeout=self.timeout_ms)
            self.tally.times[kind].append(time.perf_counter() - start)
            self.say(f"{kind} done in {self.tally.times[kind][-1]:.1f} s")
        except Exception:  # Playwright's timeout: the result never came
            self.tally.lost.append(f"session {self.index}: {kind} ({button})")
        await self.check_errors(home)

    async def check_results(self) -> None:
        """The Results page must show this session's runs only (each session forgets its own class)."""
        await self.go("Results")
        text = await self.page.get_by_test_id("stMain").inner_text()
        others = [c for c in CLASSES if c != self.forget and f"forget {c}" in text]
        if others:
            self.tally.mixed.append(f"session {self.index} (forget {self.forget}) shows runs forgetting {others}")

    async def round(self, r: int) -> None:
        if r == 0:
            await self.go("Overview")
            await self.job("demo", "Run the guided demo", "Overview", "Model and data")
            token = re.search(r"[?&]session=(\w+)", self.page.url).group(1)  # the same session, its runs from disk
            await self.page.goto(
                f"{self.url}/impair-and-repair?forget={self.forget}&{SHORT}&seed={self.index}&session={token}"
            )
            await self.idle()
        else:
            await self.go("Impair and repair")
        await self.job("run", "Run UNSIR", "Impair and repair", "Overview")
        await self.check_results()
        await self.go("Compare methods")
        await self.choose_methods(["UNSIR", "Fine-tune, UNSIR's repair"])
        await self.job("compare", "Run the comparison", "Compare methods", "Runs")
        await self.go("What-if sweeps")
        main = self.page.get_by_test_id("stMain")
        for label, value in (("Values", ("0.01", "0.1")[r % 2]), ("Seeds", str(r))):
            box = main.get_by_label(label, exact=True)
            await box.fill(value)
            await box.press("Enter")
            await self.idle()
        await self.job("sweep", "Run the sweep", "What-if sweeps", "Results")

    async def choose_methods(self, titles: list[str]) -> None:
        box = self.page.get_by_test_id("stMultiSelect").first
        field_ = box.locator("input")
        await field_.click()
        for _ in METHODS:  # empty the picker from its end
            await field_.press("Backspace")
        for title in titles:
            await field_.fill(title)
            await self.page.get_by_role("option", name=re.compile(f"^{re.escape(title)}( \\(zero-glance\\))?$")).click()
        await field_.press("Escape")
        await self.idle()
        await self.quick_measures()

    async def quick_measures(self) -> None:
        """Untick the relearn time and the feature probe (minutes each here); the session keeps them unticked."""
        for label in ("Measure relearn time", "Feature probe"):
            box = self.page.get_by_role("checkbox", name=label)
            if not await box.is_visible():
                await self.page.get_by_text("Measurement settings").click()
            if await box.is_checked():
                await self.page.get_by_test_id("stCheckbox").filter(has_text=label).click()
                await self.idle()


async def drive(args: argparse.Namespace, url: str, tally: Tally) -> None:
    deadline = time.time() + args.budget_min * 60
    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        visitors = []
        for i in range(args.sessions):
            context = await browser.new_context(viewport={"width": 1400, "height": 1000})
            page = await context.new_page()
            page.set_default_timeout(args.job_timeout * 1000)
            await page.goto(f"{url}/?forget={CLASSES[i % len(CLASSES)]}&{SHORT}&seed={i}")
            visitors.append(Session(i, page, url, tally, args, deadline))
        for r in range(args.rounds):
            outcomes = await asyncio.gather(*(v.round(r) for v in visitors), return_exceptions=True)
            for v, outcome in zip(visitors, outcomes):
                if isinstance(outcome, BaseException) and not isinstance(outcome, OutOfTime):
                    tally.errors.append(f"session {v.index}, round {r + 1}: the driver failed: {outcome!r}"[:300])
            if any(isinstance(o, OutOfTime) for o in outcomes):
                print(f"time budget of {args.budget_min:.0f} min spent in round {r + 1}", flush=True)
                break
            tally.rounds_done = r + 1
            print(f"round {r + 1} of {args.rounds} done at {time.strftime('%H:%M:%S')}", flush=True)
        await browser.close()


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def report(tally: Tally, sessions: int, rounds: int, wall_s: float) -> None:
    print(
        f"\nSoak: {sessions} sessions x {tally.rounds_done} rounds done of {rounds} asked, {wall_s / 60:.1f} min wall, "
        f"load average at the end {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    done = sum(len(t) for t in tally.times.values())
    print(f"jobs finished: {done}; not started (time budget spent): {tally.skipped}")
    print(f"errors shown: {len(tally.errors)}")
    print(f"results in the wrong session: {len(tally.mixed)}")
    print(f"jobs lost: {len(tally.lost)}")
    for kind, times in tally.times.items():
        if times:
            print(
                f"click to result, {kind}: n={len(times)} p50 {percentile(times, 50):.1f} s, "
                f"p95 {percentile(times, 95):.1f} s"
            )
    if tally.rss:
        first = [m for _, m, done in tally.rss if done >= 1]
        peak = max(m for _, m, _ in tally.rss)
        print(f"server RSS: start {tally.rss[0][1]:.0f} MiB, peak {peak:.0f} MiB, end {tally.rss[-1][1]:.0f} MiB")
        if first:
            print(f"RSS growth after the first round: {tally.rss[-1][1] - first[0]:+.0f} MiB")
        step = max(1, len(tally.rss) // 12)
        print("RSS over time: " + ", ".join(f"{t:.0f} s {m:.0f} MiB" for t, m, _ in tally.rss[::step]))
    for line in (*tally.errors, *tally.mixed, *tally.lost):
        print("  " + line)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=8, help="browser sessions at once")
    ap.add_argument("--rounds", type=int, default=5, help="rounds of run, Results, comparison and sweep each")
    ap.add_argument("--job-timeout", type=float, default=1800.0, help="seconds a job may take before it is lost")
    ap.add_argument(
        "--budget-min", type=float, default=15.0, help="start no job after this many minutes (runs what fits)"
    )
    ap.add_argument("--verbose", action="store_true", help="print every page visit and click of every session")
    ap.add_argument("--rss-every", type=float, default=5.0, help="seconds between two reads of the server's RSS")
    args = ap.parse_args()
    tally = Tally()
    with tempfile.TemporaryDirectory(prefix="unsir-soak-") as home:
        server, url, _ = cold_server(home)
        stop = threading.Event()
        threading.Thread(target=watch_memory, args=(server.pid, tally, stop, args.rss_every), daemon=True).start()
        start = time.time()
        try:
            asyncio.run(drive(args, url, tally))
        finally:  # stopped by hand (Ctrl-C) too: what was measured so far is reported
            stop.set()
            server.terminate()
            server.wait(timeout=30)
            report(tally, args.sessions, args.rounds, time.time() - start)
    sys.exit(1 if tally.errors or tally.mixed or tally.lost else 0)


if __name__ == "__main__":
    main()
