"""Raw pages -> the contract's tables (pure polars), the Parquet writer, and rebuild."""

from __future__ import annotations

from .common import ReconciliationError, StreamCounts, TransformReport
from .pipeline import Batch, rebuild, run_rebuild_command, transform_pages, write_batch
from .writer import read_table, write_tables

__all__ = [
    "Batch",
    "ReconciliationError",
    "StreamCounts",
    "TransformReport",
    "read_table",
    "rebuild",
    "run_rebuild_command",
    "transform_pages",
    "write_batch",
    "write_tables",
]
