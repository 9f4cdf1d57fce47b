"""Quickstart command 1, `bsg-analytics demo`, as a user runs it: its own process, its own
temporary Prefect server, a fresh data directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_demo_runs_end_to_end_in_a_fresh_directory(tmp_path: Path):
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BSG_", "PREFECT_"))}
    env["PREFECT_HOME"] = str(tmp_path / "prefect-home")
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("bsg-analytics")),
            "demo",
            "--messages",
            "3000",
            "-d",
            str(data),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "delivery by channel" in out
    assert "spend by currency" in out
    assert "top operators (by messages)" in out
    assert "anomalies of the last 14 days" in out or "anomalies: none in the last 14 days" in out
    assert "0 quarantined" in out
    assert (data / "report.html").stat().st_size > 10_000
    assert (data / "warehouse.duckdb").exists()
