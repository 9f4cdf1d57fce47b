"""Raw pages -> a Batch of tables, through each stream's transform; a Batch -> Parquet.

    batch = transform_pages(pages, zone)        # pure: no I/O
    write_batch(data_dir, batch)                # merge into D/parquet/, partition by partition

The routing is the registry's (`bsg_analytics.streams`): each page goes to the transform of
its stream (streams that share a transform meet in one call, in landing order), and a page
of a stream nobody declared is kept, whole, in `quarantine` ("unknown stream: <name>").
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import tzinfo

import polars as pl

from bsg_analytics.raw import RawPage
from bsg_analytics.schemas.tables import QUARANTINE
from bsg_analytics.storage import PARQUET, DataDir
from bsg_analytics.streams import REGISTRY, Registry
from bsg_analytics.transforms.common import (
    QuarantineRow,
    TransformReport,
    as_zone,
    conform,
    page_file,
    quarantine_frame,
)
from bsg_analytics.transforms.writer import write_tables


@dataclass
class Batch:
    """tables: every table of the registry -> a frame with exactly its columns and dtypes
    (empty frames included); report: counts, unknown fields and statuses."""

    tables: dict[str, pl.DataFrame]
    report: TransformReport = field(default_factory=TransformReport)
    registry: Registry = field(default=REGISTRY, repr=False)

    def __getitem__(self, name: str) -> pl.DataFrame:
        return self.tables[name]


def _unknown_stream(page: RawPage, report: TransformReport) -> QuarantineRow:
    counts = report.stream(page.stream)
    counts.records_in += 1
    counts.quarantined += 1
    report.pages_quarantined += 1
    return QuarantineRow(
        page.endpoint,
        f"unknown stream: {page.stream}",
        page.body.decode("utf-8", "replace"),
        None,
        page_file(page),
        page.fetched_at,
    )


def transform_pages(
    pages: Iterable[RawPage],
    zone: tzinfo | str | None = "UTC",
    registry: Registry = REGISTRY,
) -> Batch:
    """Pure transform of raw pages (in landing order) into the registry's tables.

    Raises ReconciliationError when, for some stream, records in != rows out + quarantined +
    duplicates (it cannot, by construction; the check is what makes that claim true).
    """
    zone = as_zone(zone)
    report = TransformReport()
    by_transform: dict[str, list[RawPage]] = {}
    unknown: list[RawPage] = []
    for page in pages:
        report.pages += 1
        stream = registry.get(page.stream)
        if stream is None:
            unknown.append(page)
        else:
            by_transform.setdefault(stream.transform.name, []).append(page)

    # each transform runs only when the batch has its pages (a window of messages has no
    # campaign or legacy pages); tables left out are conformed to empty below
    tables: dict[str, pl.DataFrame] = {}
    quarantine: list[QuarantineRow] = []
    for transform in registry.transforms:
        if transform.name in by_transform:
            out = transform(by_transform[transform.name], zone, report)
            tables.update(out.tables)
            quarantine += out.quarantine
    quarantine += [_unknown_stream(page, report) for page in unknown]

    tables[QUARANTINE.name] = quarantine_frame(quarantine)
    for name, table in registry.tables.items():
        tables[name] = conform(tables.get(name, pl.DataFrame()), table)
        report.table_rows[name] = tables[name].height
    report.check()
    return Batch(tables=tables, report=report, registry=registry)


def write_batch(
    data_dir: DataDir, batch: Batch, root: str = PARQUET, added: Counter[str] | None = None
) -> dict[str, int]:
    """Merge a batch into D/parquet/ (latest row per key; quarantine appended, de-duplicated),
    or into D/<root>/. Returns rows written per table (rows of the batch, not of the touched
    partitions); `added` counts the keys new to each table."""
    return write_tables(
        data_dir, batch.tables, root=root, tables=batch.registry.tables, added=added
    )
