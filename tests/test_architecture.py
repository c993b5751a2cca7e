"""The architecture and the style, checked by the tools made for them (settings in pyproject.toml): import-linter's
contracts (the engine never imports streamlit or the dashboard; its layers import one way; no import circle in a
package) and ruff (lint and format). Part of `./run.sh test`, so CI enforces them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    found = BIN / name if (BIN / name).exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: ./run.sh test installs it from requirements-test.txt")
    return str(found)


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_the_import_contracts_hold():
    done = run(tool("lint-imports"))
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_ruff_finds_nothing():
    done = run(tool("ruff"), "check", ".")
    assert done.returncode == 0, done.stdout[-4000:]


def test_the_code_is_formatted():
    done = run(tool("ruff"), "format", "--check", ".")
    assert done.returncode == 0, done.stdout[-4000:]


def test_no_engine_module_imports_streamlit_even_lazily():
    """import-linter sees module-level and function-level imports; this also catches a string import."""
    offenders = [p for p in (ROOT / "unsir_core").rglob("*.py") if "streamlit" in p.read_text()]
    assert offenders == [], offenders
