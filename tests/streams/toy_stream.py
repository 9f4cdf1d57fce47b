"""A toy stream, declared the way every stream is: this file is all it takes.

It reads the simulator's ``/api/messages`` again under its own name, a 30-day window per
job, and writes one table, `toy_statuses` (message id and status), declared here too.
"""

from __future__ import annotations

from datetime import tzinfo

import orjson
import polars as pl

from bsg_analytics.extract import WindowResult, read_window, reread_group
from bsg_analytics.raw import RawPage, RawStore
from bsg_analytics.schemas.tables import UTC_TS, Table
from bsg_analytics.settings import Settings
from bsg_analytics.streams import Job, Planning, Stream, Transform, TransformOutput, Written
from bsg_analytics.transforms.common import TransformReport
from bsg_client import BSGClient

NAME = "toy"
TOY_STATUSES = Table(
    name="toy_statuses",
    key=("message_id",),
    partition=None,
    schema={"message_id": pl.Int64(), "status": pl.String(), "extracted_at": UTC_TS},
)


def _extract(
    client: BSGClient, raw_store: RawStore, job: Job, run_id: str, *, parallel: int, attempt: int
) -> WindowResult:
    assert job.window is not None
    result = WindowResult(NAME, job.window.key, reread_group(job.window.key, attempt))
    params = job.window.params()
    return read_window(client, raw_store, NAME, "/api/messages", params, result, run_id, parallel)


def _transform(pages: list[RawPage], zone: tzinfo, report: TransformReport) -> TransformOutput:
    rows = []
    for page in pages:
        for rec in orjson.loads(page.body)["data"]:
            rows.append((int(rec["id"]), str(rec["status"]), page.fetched_at))
    counts = report.stream(NAME)
    counts.records_in += len(rows)
    frame = pl.DataFrame(rows, schema=TOY_STATUSES.polars_schema, orient="row")
    frame = frame.sort("extracted_at").unique("message_id", keep="last", maintain_order=True)
    counts.duplicates += len(rows) - frame.height
    counts.rows_out += frame.height
    return TransformOutput({TOY_STATUSES.name: frame})


def _window_days(settings: Settings) -> int:
    return 30


STREAM = Stream(
    name=NAME,
    endpoints=("/api/messages",),
    planning=Planning.WINDOW,
    group="<window key>",
    transform=Transform("toy", _transform, (TOY_STATUSES,)),
    extract=_extract,
    written=Written.STREAMED,
    window_days=_window_days,
)
