"""Raw pages -> a Batch of tables; a Batch -> Parquet; and `rebuild` from D/raw/.

batch = transform_pages(pages, zone)        # pure: no I/O
write_batch(data_dir, batch)                # merge into D/parquet/, partition by partition
rebuild(data_dir, zone)                     # drop D/parquet/, replay D/raw/ in landing order
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import tzinfo

import polars as pl

from bsg_analytics.raw import RawPage, RawStore
from bsg_analytics.storage import PARQUET, DataDir
from schemas.tables import TABLES

from .campaigns import transform_campaigns
from .common import (
    QuarantineRow,
    TransformReport,
    as_zone,
    conform,
    page_file,
    quarantine_frame,
)
from .legacy import transform_legacy
from .messages import transform_messages
from .writer import write_tables

# Pages per chunk for rebuild, and bytes: whichever comes first. The transform holds several
# times the chunk's raw bytes: rebuilding 1M simulated messages peaked at 1,850 MB RSS with
# 256 MiB chunks (14.1 s), 426 MB with 32 MiB (12.2 s), 256 MB with 8 MiB (13.8 s).
REBUILD_CHUNK_PAGES = 2000
REBUILD_CHUNK_BYTES = 32 * 1024 * 1024


@dataclass
class Batch:
    """tables: every table of schemas.tables.TABLES -> a frame with exactly its columns and
    dtypes (empty frames included); report: counts, unknown fields and statuses."""

    tables: dict[str, pl.DataFrame]
    report: TransformReport = field(default_factory=TransformReport)

    def __getitem__(self, name: str) -> pl.DataFrame:
        return self.tables[name]


def transform_pages(pages: Iterable[RawPage], zone: tzinfo | str | None = "UTC") -> Batch:
    """Pure transform of raw pages (in landing order) into the contract's tables.

    Raises ReconciliationError when, for some stream, records in != rows out + quarantined +
    duplicates (it cannot, by construction; the check is what makes that claim true).
    """
    zone = as_zone(zone)
    by_stream: dict[str, list[RawPage]] = {}
    legacy_pages: list[RawPage] = []  # both legacy streams, in landing order: keys decide
    report = TransformReport()
    for page in pages:
        if page.stream in ("legacy_sms", "legacy_task"):
            legacy_pages.append(page)
        else:
            by_stream.setdefault(page.stream, []).append(page)
        report.pages += 1

    tables: dict[str, pl.DataFrame] = {}
    quarantine: list[QuarantineRow] = []

    # Each stream's transform runs only when the batch has its pages (a window of messages
    # has no campaign or legacy pages); tables left out are conformed to empty below.
    message_pages = by_stream.pop("messages", [])
    if message_pages:
        m, c, s, q = transform_messages(message_pages, zone, report)
        tables.update(messages=m, rcs_cards=c, rcs_suggestions=s)
        quarantine += q

    list_pages = by_stream.pop("campaigns", [])
    detail_pages = by_stream.pop("campaign_detail", [])
    if list_pages or detail_pages:
        camp, stats, q = transform_campaigns(list_pages, detail_pages, zone, report)
        tables.update(campaigns=camp, campaign_statistics=stats)
        quarantine += q

    if legacy_pages:
        ls, lt, q = transform_legacy(legacy_pages, zone, report)
        tables.update(legacy_sms=ls, legacy_tasks=lt)
        quarantine += q

    for stream, rest in by_stream.items():  # a stream nobody declared: keep it, whole
        for page in rest:
            counts = report.stream(stream)
            counts.records_in += 1
            counts.quarantined += 1
            report.pages_quarantined += 1
            quarantine.append(
                QuarantineRow(
                    page.endpoint,
                    f"unknown stream: {stream}",
                    page.body.decode("utf-8", "replace"),
                    None,
                    page_file(page),
                    page.fetched_at,
                )
            )

    tables["quarantine"] = quarantine_frame(quarantine)
    for name in TABLES:
        tables[name] = conform(tables.get(name, pl.DataFrame()), name)
        report.table_rows[name] = tables[name].height
    report.check()
    return Batch(tables=tables, report=report)


def write_batch(data_dir: DataDir, batch: Batch) -> dict[str, int]:
    """Merge a batch into D/parquet/ (latest row per key; quarantine appended, de-duplicated).
    Returns rows written per table (rows of the batch, not of the touched partitions)."""
    return write_tables(data_dir, batch.tables)


def _chunks(pages: Iterator[RawPage]) -> Iterator[list[RawPage]]:
    chunk: list[RawPage] = []
    size = 0
    for page in pages:
        chunk.append(page)
        size += len(page.body)
        if len(chunk) >= REBUILD_CHUNK_PAGES or size >= REBUILD_CHUNK_BYTES:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


def rebuild(data_dir: DataDir, zone: tzinfo | str | None = "UTC") -> TransformReport:
    """Delete D/parquet/ and re-derive every table from D/raw/, in landing order, a bounded
    chunk of pages at a time (memory follows the chunk and the partitions it touches)."""
    data_dir.rm(data_dir.path(PARQUET), recursive=True)
    store = RawStore(data_dir)
    total = TransformReport()
    for chunk in _chunks(store.iter_pages()):
        batch = transform_pages(chunk, zone)
        write_batch(data_dir, batch)
        total.merge(batch.report)
    total.check()
    return total


def run_rebuild_command(settings) -> int:
    """`bsg-analytics rebuild`: one summary line on stdout; exit code 0, or 1 with a reason."""
    import sys

    started = time.perf_counter()
    try:
        data_dir = DataDir(settings.data_dir)
        report = rebuild(data_dir, settings.zone)
    except Exception as exc:
        print(f"bsg-analytics: rebuild failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    t = report.totals
    unknown_f = sum(len(v) for v in report.unknown_fields.values())
    unknown_s = sum(len(v) for v in report.unknown_statuses.values())
    print(
        f"rebuild: {report.pages} pages, {t.records_in} records -> {t.rows_out} rows, "
        f"{t.quarantined} quarantined, {t.duplicates} duplicates; "
        f"{unknown_f} unknown fields, {unknown_s} unknown statuses "
        f"({time.perf_counter() - started:.1f}s) into {data_dir.uri(PARQUET)}"
    )
    return 0
