"""Serving: localhost unless asked for the network, the sidebar says where, uploads capped at a checkpoint's size."""

from __future__ import annotations

import os
import subprocess

import pytest
import tomllib

from studio import imports
from studio.serving import served_where
from tests.helpers import ROOT

# --- serving --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address, expected",
    [
        ("127.0.0.1", "this computer only"),
        ("localhost", "this computer only"),
        ("0.0.0.0", "the network (every network interface"),
        ("", "the network (every network interface"),
        ("192.168.1.20", "the network (192.168.1.20"),
    ],
)
def test_the_sidebar_says_where_the_app_is_served(address, expected):
    assert served_where(address, 8501).startswith(expected)


@pytest.mark.parametrize("extra, address", [([], "127.0.0.1"), (["--lan"], "0.0.0.0")])
def test_run_sh_serves_localhost_unless_asked_for_the_network(tmp_path, extra, address):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    fake = venv / "bin" / "python"
    fake.write_text('#!/bin/sh\necho "$@"\n')
    fake.chmod(0o755)
    (venv / ".installed-requirements.txt").write_bytes((ROOT / "requirements.txt").read_bytes())
    res = subprocess.run(
        ["bash", str(ROOT / "run.sh"), "app", *extra, "--server.port=8611"],
        capture_output=True,
        text=True,
        env={**os.environ, "UNSIR_VENV": str(venv)},
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    assert f"--server.address={address}" in res.stdout and "--server.port=8611" in res.stdout
    assert "--lan" not in res.stdout
    assert ("to the network" in res.stderr) == (address == "0.0.0.0")


def test_uploads_are_capped_at_what_a_checkpoint_needs():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] * 1024**2 == imports.MAX_UPLOAD_BYTES
    assert config["server"]["address"] == "127.0.0.1"
