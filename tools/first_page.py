"""First-page benchmark: how long a cold dashboard server takes to show the Overview in a real browser.

For each repeat: start `streamlit run app.py` on a free port (a fresh process: nothing imported, no
cache), wait until its health endpoint answers, then open the page in chromium (Playwright) and time
from the request to (a) the Overview heading and (b) the end of the first script run (the sidebar with
the model's accuracy drawn and Streamlit's running indicator gone). Prints each repeat and the median.

    python tools/first_page.py [REPEATS]        # needs chromium at /usr/bin/chromium (or $CHROMIUM)
"""

from __future__ import annotations

import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cold_server(home: str) -> tuple[subprocess.Popen, str, float]:
    """A fresh server; returns it, its address and the seconds until it answered its health check."""
    port = free_port()
    env = {**os.environ, "UNSIR_HOME": home, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app.py",
            "--server.headless",
            "true",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--browser.gatherUsageStats",
            "false",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    while True:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).status == 200:
                return proc, url, time.perf_counter() - start
        except OSError:
            if proc.poll() is not None:
                raise SystemExit("streamlit exited before it answered") from None
            time.sleep(0.1)


def measure(browser, url: str) -> tuple[float, float]:
    """(seconds to the Overview heading, seconds to the end of the first script run) in a new browser context."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    start = time.perf_counter()
    page.goto(url)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible(timeout=60_000)
    heading = time.perf_counter() - start
    expect(page.get_by_test_id("stSidebar")).to_contain_text("test acc.", timeout=60_000)
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=60_000)
    done = time.perf_counter() - start
    context.close()
    return heading, done


def main(repeats: int) -> None:
    results = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        browser.new_page().close()  # the browser's own start is not the dashboard's
        for i in range(repeats):
            with tempfile.TemporaryDirectory() as home:
                proc, url, boot = cold_server(home)
                try:
                    heading, done = measure(browser, url)
                finally:
                    proc.terminate()
                    proc.wait(timeout=20)
            results.append((heading, done))
            print(
                f"run {i + 1}: server healthy after {boot:.2f} s; Overview heading {heading:.2f} s, "
                f"first page complete {done:.2f} s",
                flush=True,
            )
        browser.close()
    print(
        f"median of {repeats}: heading {statistics.median(r[0] for r in results):.2f} s, "
        f"complete {statistics.median(r[1] for r in results):.2f} s (cpus: {os.cpu_count()})"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
