"""Each stream's pure transform (raw pages -> polars frames), the checks they share, the
latest-row merge and the Parquet writer. Which stream goes through which transform is the
registry's (`bsg_analytics.streams`); `bsg_analytics.batch` runs them."""

from __future__ import annotations

from .common import ReconciliationError, StreamCounts, TransformReport
from .writer import read_table, write_tables

__all__ = [
    "ReconciliationError",
    "StreamCounts",
    "TransformReport",
    "read_table",
    "write_tables",
]
