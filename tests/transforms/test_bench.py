"""The hot path's speed against polars' own NDJSON reader (slow: run with -m slow)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_transform_keeps_up_with_read_ndjson(monkeypatch):
    from tests.transforms import bench_messages

    root = str(Path(__file__).resolve().parents[2])
    monkeypatch.setenv("PYTHONPATH", root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    n = int(os.environ.get("BSG_BENCH_RECORDS", "300000"))
    result = bench_messages.run(n, "Europe/Kyiv")
    print(result)
    assert result["transform"]["rows"] == n
    # measured 1.37x at 1M records on a 2-core box; leave room for a noisy neighbour
    assert result["ratio_vs_read_ndjson"] < 2.0, result
