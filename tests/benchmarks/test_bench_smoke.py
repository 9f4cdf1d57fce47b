"""The benchmark harness runs end to end on a tiny dataset and writes its report (not timing)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def test_quick_run_writes_results(tmp_path):
    out, results = tmp_path / "out", tmp_path / "RESULTS.md"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "--quick",
            "--sections",
            "e2e",
            "--contenders",
            "floor,pipeline",
            "--latencies",
            "0",
            "--out",
            str(out),
            "--results",
            str(results),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    text = results.read_text()
    assert "# Benchmarks side by side with the peers" in text
    assert "| target | measured |" in text
    assert "### 0 ms simulated latency" in text
    assert "| floor | " in text and "| pipeline | " in text
    assert "pipeline/floor" in text
    assert "Python " in text and "cores" in text
    data = json.loads((out / "results.json").read_text())
    summary = data["e2e"]["latencies"]["0"]["summary"]
    for kind in ("floor", "pipeline"):
        assert summary[kind]["ok"] == 1, summary[kind]
        assert summary[kind]["messages"] > 2_000
    assert summary["floor"]["messages"] == summary["pipeline"]["messages"]
