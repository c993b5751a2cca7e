"""Memory check of the dashboard: resident memory after each of N UNSIR runs in one session.

Drives app.py with Streamlit's AppTest (in this process), forgets one class and runs UNSIR N times
with a new seed each time, printing the process RSS after each run. Only the newest
studio.runs.KEEP_MODELS runs keep their models, so RSS should level off instead of growing.

    PYTHONPATH=. python tools/rss_over_runs.py [N]
"""

from __future__ import annotations

import gc
import sys
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parent.parent / "app.py")


def memory() -> str:
    """Resident memory of this process, total and anonymous (heap, tensors: what runs can leak), in MiB."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    rss, anon = (int(fields[k].split()[0]) / 1024 for k in ("VmRSS", "RssAnon"))
    return f"RSS {rss:7.1f} MiB, anonymous {anon:7.1f} MiB"


def main(n: int) -> None:
    at = AppTest.from_file(APP, default_timeout=600)
    at.query_params = {"forget": "star"}
    at.run()
    at.switch_page("app_pages/impair_repair.py").run()
    print(f"before any run: {memory()}")
    for i in range(1, n + 1):
        at.number_input(key="setup:seed").set_value(i).run()
        start = time.perf_counter()
        at.button(key="run-unsir").click().run()
        assert not at.exception and not at.error, [e.value for e in (*at.exception, *at.error)]
        gc.collect()
        held = sum(r.unsir is not None for r in at.session_state["runs"])
        print(f"after run {i:2d}: {memory()}  ({time.perf_counter() - start:5.1f} s, models held by {held} runs)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
