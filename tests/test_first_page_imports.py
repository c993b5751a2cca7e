"""The first page (app.py and the modules the Overview needs) renders without importing torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


FIRST_PAGE_MODULES = (
    "studio.state",
    "studio.setup",
    "studio.nav",
    "studio.ui",
    "studio.runs",
    "studio.jobs",
    "studio.handout",
    "studio.chain",
    "studio.loaders",
    "unsir_core.report.html",
    "unsir_core.checkpoints.catalog",
)


def test_the_first_page_does_not_import_torch():
    """app.py, its modules and the Overview render without torch (it costs about 2 s on a 2-core CPU)."""
    code = (
        "import sys\nfrom streamlit.testing.v1 import AppTest\n"
        f"import {', '.join(FIRST_PAGE_MODULES)}\n"
        "assert 'torch' not in sys.modules, 'importing the modules loaded torch'\n"
        f"at = AppTest.from_file({str(ROOT / 'app.py')!r}, default_timeout=90).run()\n"
        "assert not at.exception, [e.value for e in at.exception]\n"
        "assert at.title[0].value == 'Overview'\n"
        "assert 'torch' not in sys.modules, 'rendering the Overview loaded torch'\n"
    )
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
