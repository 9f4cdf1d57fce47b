"""`rebuild`: every table derived again from D/raw/, then swapped in.

    rebuild(data_dir, zone)                     # replay D/raw/ into new tables, then swap them in

`rebuild` never touches `D/parquet/` until the new tables are complete: it replays D/raw/ in
landing order into a sibling `D/parquet.rebuild-<id>/` (readers glob `D/parquet/` and never
see it), then `DataDir.swap_in` puts it in place (two renames on local disk; a copy table by
table on object stores; see `bsg_analytics.storage`). If anything fails before that, the
half-built sibling is deleted and the old tables are left byte for byte as they were. A raw
page that cannot be read (a truncated gzip, a broken `.meta.json`, a missing or empty body)
does not stop it: the page is named in the `quarantine` table (reason `unreadable raw page:
<error>`, raw_file its path) and in the report, and the rest is rebuilt. It starts with
`DataDir.clean_temporary()` (leftovers of killed runs, an unfinished swap) and must run under
the sync lock: `run_rebuild_command` takes it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import tzinfo

import orjson

from bsg_analytics.batch import transform_pages, write_batch
from bsg_analytics.locking import sync_lock
from bsg_analytics.raw import RawPage, RawStore, UnreadablePage
from bsg_analytics.settings import Settings
from bsg_analytics.state import StateError, SyncState
from bsg_analytics.storage import PARQUET, READY_SUFFIX, DataDir, SwapIncomplete
from bsg_analytics.streams import REGISTRY, Registry
from bsg_analytics.transforms.common import QuarantineRow, TransformReport, quarantine_frame
from bsg_analytics.transforms.writer import write_tables

# Pages per chunk for rebuild, and bytes: whichever comes first. The transform holds several
# times the chunk's raw bytes: rebuilding 1M simulated messages peaked at 1,850 MB RSS with
# 256 MiB chunks (14.1 s), 426 MB with 32 MiB (12.2 s), 256 MB with 8 MiB (13.8 s).
REBUILD_CHUNK_PAGES = 2000
REBUILD_CHUNK_BYTES = 32 * 1024 * 1024


@dataclass
class RebuildReport(TransformReport):
    """A TransformReport of the whole replay, plus the raw pages that could not be read
    (each one is a row of `quarantine`; `pages` counts only the pages read)."""

    unreadable: list[UnreadablePage] = field(default_factory=list)

    @property
    def pages_unreadable(self) -> int:
        return len(self.unreadable)

    def as_dict(self) -> dict:
        out = super().as_dict()
        out["pages_unreadable"] = self.pages_unreadable
        out["unreadable"] = [{"path": u.path, "reason": u.reason} for u in self.unreadable]
        return out


def unreadable_rows(pages: list[UnreadablePage]) -> list[QuarantineRow]:
    """One quarantine row per unreadable raw page: the reason, the file, its meta as `raw`."""
    rows = []
    for u in pages:
        endpoint = u.meta.get("endpoint") if u.meta else None
        rows.append(
            QuarantineRow(
                endpoint if isinstance(endpoint, str) else u.stream,
                u.reason,
                "" if u.meta is None else orjson.dumps(u.meta).decode(),
                None,
                u.path,
                u.fetched_at,
            )
        )
    return rows


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


class UnreadableRawPages(RuntimeError):
    """Raw pages that cannot be read: a rebuild without them would lose the rows only they
    held, so by default it leaves the tables as they were."""


def rebuild(
    data_dir: DataDir,
    zone: tzinfo | str | None = "UTC",
    *,
    skip_unreadable: bool = False,
    registry: Registry = REGISTRY,
) -> RebuildReport:
    """Re-derive every table from D/raw/, in landing order, a bounded chunk of pages at a time
    (memory follows the chunk and the partitions it touches), into a sibling of D/parquet/
    that replaces it only once complete (module doc). Unreadable raw pages raise
    `UnreadableRawPages` (naming the first) with D/parquet/ untouched, unless
    `skip_unreadable`: then they are quarantined and listed in the report, and the rows only
    they held are gone from the new tables. Any other failure raises with D/parquet/
    untouched.

    The caller holds the sync lock (`bsg_analytics.locking.sync_lock`), as
    `run_rebuild_command` does."""
    data_dir.clean_temporary()
    build = data_dir.new_rebuild_root()
    store = RawStore(data_dir)
    total = RebuildReport()
    try:
        # every stream folder of D/raw/: a stream nobody declares any more goes to quarantine
        for chunk in _chunks(store.iter_pages(on_error=total.unreadable.append)):
            batch = transform_pages(chunk, zone, registry)
            write_batch(data_dir, batch, root=build)
            total.merge(batch.report)
        if total.unreadable and not skip_unreadable:
            first = total.unreadable[0]
            raise UnreadableRawPages(
                f"{len(total.unreadable)} raw pages cannot be read (first: {first.path}: "
                f"{first.reason.removeprefix('unreadable raw page: ')}); "
                "`bsg-analytics rebuild --skip-unreadable` rebuilds without them (they go to "
                "quarantine, and rows only they held are lost)"
            )
        if total.unreadable:
            frame = quarantine_frame(unreadable_rows(total.unreadable))
            write_tables(data_dir, {"quarantine": frame}, root=build, tables=registry.tables)
            total.table_rows["quarantine"] = total.table_rows.get("quarantine", 0) + frame.height
        total.check()
        data_dir.makedirs(data_dir.path(build))  # no pages at all: an empty set of tables
        data_dir.swap_in(build)
    except SwapIncomplete:
        raise  # the build is what finishes the swap: it stays
    except BaseException:
        # not installed: drop the half-built tables (unless an object-store swap was
        # interrupted, its marker written: then the next clean_temporary finishes it)
        if not data_dir.exists(data_dir.path(build + READY_SUFFIX)):
            data_dir.rm(data_dir.path(build), recursive=True)
        raise
    return total


def run_rebuild_command(
    settings: Settings, skip_unreadable: bool = False, *, data_dir: DataDir | None = None
) -> int:
    """`bsg-analytics rebuild`, under the sync lock (a rebuild never races a sync): one
    summary line on stdout, exit code 0 (unreadable raw pages are counted and the first one
    named in it); or one line on stderr, exit code 1, with the tables left as they were."""
    started = time.perf_counter()
    try:
        data_dir = data_dir or DataDir(settings.data_dir)
        with sync_lock(data_dir):
            report = rebuild(data_dir, settings.zone, skip_unreadable=skip_unreadable)
    except SwapIncomplete as exc:
        print(f"bsg-analytics: rebuild failed: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        reason = " ".join(str(exc).split())
        where = f" in {data_dir.uri(PARQUET)}" if data_dir is not None else ""
        print(
            f"bsg-analytics: rebuild failed: {type(exc).__name__}"
            f"{': ' + reason if reason else ''}; the tables{where} were left as they were",
            file=sys.stderr,
        )
        return 1
    t = report.totals
    unknown_f = sum(len(v) for v in report.unknown_fields.values())
    unknown_s = sum(len(v) for v in report.unknown_statuses.values())
    print(
        f"rebuild: {report.pages} pages, {t.records_in} records -> {t.rows_out} rows, "
        f"{t.quarantined} quarantined, {t.duplicates} duplicates; "
        f"{unknown_f} unknown fields, {unknown_s} unknown statuses "
        f"({time.perf_counter() - started:.1f}s) into {data_dir.uri(PARQUET)}"
        + _unreadable_note(report)
    )
    try:  # tables are derived from raw, the state is not: say what repairs it
        SyncState.load(data_dir)
    except StateError as exc:
        print(f"bsg-analytics: note: the tables were rebuilt, but {exc}", file=sys.stderr)
    return 0


def _unreadable_note(report: RebuildReport) -> str:
    if not report.unreadable:
        return ""
    first = report.unreadable[0]
    n = report.pages_unreadable
    pages = "1 raw page was" if n == 1 else f"{n} raw pages were"
    return (
        f"; {pages} unreadable and skipped, recorded in quarantine "
        f"(first: {first.path}: {first.reason.removeprefix('unreadable raw page: ')})"
    )
