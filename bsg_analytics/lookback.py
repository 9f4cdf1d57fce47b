"""What of the messages table can still change, and so what an incremental sync re-reads.

A message can still change while it is not final (`FINAL_MESSAGE_STATUSES`), or while it is
``delivered`` on a channel with read receipts (`READ_RECEIPT_CHANNELS`: it may still turn
``read``). Each such row has a *deadline*, after which it cannot change any more
(`deadline_expr`):

- delivered on a channel with read receipts: ``delivered_at`` (else ``sent_at``, else
  ``created_at``) plus ``BSG_READ_RECEIPT_HOURS`` (72);
- not final, sent: ``sent_at`` plus its validity (``validity_hours``, 72 when missing) plus
  `REPORT_GRACE` (a late delivery report);
- not final, not sent yet (``scheduled``, ``moderation``, a status nobody published): none;
  it stays open until it is read in another state, whenever it was created (a message of a
  campaign scheduled for next month was created today).

A row is *open* when it was read (``extracted_at``) before its deadline, or has none: it has
to be read once more. The open rows are summarised once per finished run into the
**open index** ``D/state/open.json`` (`OpenIndex`): per hour of creation (UTC) that holds
open messages, the earliest and latest creation time among them, how many are open and how
many messages the table holds in that span (a run of open messages is cut in two where more
than `SPLIT_ROWS` closed ones lie between: a straggler is read on its own, in a span of
one second). The index is recomputed over the message
windows the run read (every open message lies in one: the run re-read the previous
index's spans and everything created since), and the previous index's spans outside them
are kept as they were; a run's cost does not grow with the history.

`adaptive_ranges` turns the index into what the next incremental run reads besides what was
created since the last one: the spans, joined when they are `JOIN_GAP` or less apart. The
planner (`bsg_analytics.planning`) falls back to the fixed look-back (``BSG_LOOKBACK_HOURS``)
when there is no index (a data directory of an older version: its first sync writes one),
when ``BSG_LOOKBACK=fixed``, and once every ``BSG_FULL_LOOKBACK_EVERY_HOURS`` (24) as a
safety net."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import numpy as np
import orjson
import polars as pl

from bsg_analytics.schemas.statuses import FINAL_MESSAGE_STATUSES, READ_RECEIPT_CHANNELS
from bsg_analytics.schemas.tables import MESSAGES
from bsg_analytics.storage import STATE, DataDir
from bsg_analytics.transforms.writer import read_partition

OPEN_FILE = "open.json"
INDEX_VERSION = 1
BIN = timedelta(hours=1)  # the index's unit: an hour of creation time
REPORT_GRACE = timedelta(hours=1)  # a delivery report later than the validity
DEFAULT_VALIDITY_HOURS = 72  # the longest validity the provider publishes
JOIN_GAP = timedelta(minutes=1)  # spans closer than this are read as one window
SPLIT_ROWS = 100  # closed messages between two open ones that make two spans of them
_COLUMNS = (
    "message_id", "channel", "status", "validity_hours", "created_at", "sent_at",
    "delivered_at", "extracted_at",
)  # fmt: skip

Interval = tuple[datetime, datetime]


def deadline_expr(read_receipt_hours: int) -> pl.Expr:
    """When a message row can no longer change (module doc); null: not before it is seen in
    another state. Only meaningful where `changing_expr` holds."""
    readable = pl.col("channel").is_in(READ_RECEIPT_CHANNELS) & (pl.col("status") == "delivered")
    validity = pl.duration(hours=pl.col("validity_hours").fill_null(DEFAULT_VALIDITY_HOURS))
    return (
        pl.when(readable)
        .then(
            pl.coalesce("delivered_at", "sent_at", "created_at")
            + pl.duration(hours=read_receipt_hours)
        )
        .when(pl.col("sent_at").is_not_null())
        .then(pl.col("sent_at") + validity + pl.lit(REPORT_GRACE))
        .otherwise(None)
    )


def changing_expr() -> pl.Expr:
    """A status that can still move: not final, or delivered on a channel with read receipts."""
    status = pl.col("status")
    return (
        status.is_null()
        | ~status.is_in(sorted(FINAL_MESSAGE_STATUSES))
        | (pl.col("channel").is_in(READ_RECEIPT_CHANNELS) & (status == "delivered"))
    )


def open_expr(read_receipt_hours: int, now: datetime) -> pl.Expr:
    """Rows to read again: changing, and read before their deadline (or without one). A row
    counts as read at its ``extracted_at`` or at `now` (the run's moment), whichever is
    earlier: a clock of the API behind the client's does not close a row early."""
    deadline = deadline_expr(read_receipt_hours)
    read = pl.min_horizontal(pl.col("extracted_at"), pl.lit(now.astimezone(UTC)))
    return changing_expr() & (deadline.is_null() | (deadline > read))


@dataclass(frozen=True)
class OpenSpan:
    """Open messages created in ``[start, end)`` (within one hour `BIN`): `open` of them,
    among `total` messages the table held in that span."""

    start: datetime
    end: datetime
    open: int
    total: int

    def to_dict(self) -> dict:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "open": self.open,
            "total": self.total,
        }

    @classmethod
    def from_dict(cls, data: dict) -> OpenSpan:
        return cls(
            datetime.fromisoformat(data["start"]).astimezone(UTC),
            datetime.fromisoformat(data["end"]).astimezone(UTC),
            int(data["open"]),
            int(data["total"]),
        )


@dataclass
class OpenIndex:
    """The spans of creation time that hold messages that can still change (module doc)."""

    computed_at: datetime
    spans: list[OpenSpan] = field(default_factory=list)

    @property
    def open(self) -> int:
        return sum(s.open for s in self.spans)

    @property
    def total(self) -> int:
        return sum(s.total for s in self.spans)

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "version": INDEX_VERSION,
                "computed_at": self.computed_at.isoformat(),
                "spans": [s.to_dict() for s in self.spans],
            },
            option=orjson.OPT_INDENT_2,
        )

    @classmethod
    def from_json(cls, raw: bytes) -> OpenIndex:
        data = orjson.loads(raw)
        if not isinstance(data, dict) or data.get("version") != INDEX_VERSION:
            raise ValueError("not an open index of this version")
        return cls(
            datetime.fromisoformat(data["computed_at"]).astimezone(UTC),
            [OpenSpan.from_dict(s) for s in data["spans"]],
        )


def index_path(data_dir: DataDir) -> str:
    return data_dir.path(STATE, OPEN_FILE)


def load_index(data_dir: DataDir) -> OpenIndex | None:
    """The saved open index; None when there is none or it cannot be read (the next sync
    then re-reads the fixed look-back and writes a new one)."""
    path = index_path(data_dir)
    try:
        if not data_dir.exists(path):
            return None
        return OpenIndex.from_json(data_dir.read_bytes(path))
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


def save_index(data_dir: DataDir, index: OpenIndex) -> None:
    data_dir.write_bytes(index_path(data_dir), index.to_json())


def union(intervals: Iterable[Interval]) -> list[Interval]:
    """`intervals` merged where they touch or overlap, empty ones left out, in order."""
    merged: list[Interval] = []
    for a, b in sorted(intervals):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        elif a < b:
            merged.append((a, b))
    return merged


def _inside(frame: pl.DataFrame, covered: Sequence[Interval]) -> pl.DataFrame:
    if not covered:
        return frame.clear()
    cond = pl.lit(False)
    for a, b in covered:
        cond = cond | ((pl.col("created_at") >= a) & (pl.col("created_at") < b))
    return frame.filter(cond)


def spans_of(frame: pl.DataFrame, read_receipt_hours: int, now: datetime) -> list[OpenSpan]:
    """The open spans of message rows `frame` (pure): runs of open messages in creation order,
    within one hour `BIN`, cut where more than `SPLIT_ROWS` closed messages lie between two
    open ones (reading those would cost more than one request more); each from the first
    open creation time to the last (plus one second), with the rows in between."""
    if frame.is_empty():
        return []
    frame = frame.filter(pl.col("created_at").is_not_null()).sort("created_at")
    created = frame["created_at"].dt.epoch("us").to_numpy()
    flagged = frame.select(
        open_expr(read_receipt_hours, now).alias("open"),
        pl.col("created_at").dt.truncate("1h").alias("bin"),
    ).with_row_index("row")
    opened = flagged.filter("open")
    if opened.is_empty():
        return []
    runs = opened.with_columns(
        (
            (pl.col("row").diff().fill_null(0) > SPLIT_ROWS + 1)
            | (pl.col("bin") != pl.col("bin").shift(1)).fill_null(False)
        )
        .cum_sum()
        .alias("run")
    )
    bounds = runs.group_by("run", maintain_order=True).agg(
        pl.col("row").first().alias("first"), pl.col("row").last().alias("last"), pl.len()
    )
    out = []
    for first, last, n in bounds.select("first", "last", "len").iter_rows():
        start = datetime.fromtimestamp(int(created[first]) // 1_000_000, UTC)
        end = datetime.fromtimestamp(int(created[last]) // 1_000_000 + 1, UTC)
        lo = int(np.searchsorted(created, _us(start), "left"))
        hi = int(np.searchsorted(created, _us(end), "left"))
        out.append(OpenSpan(start, end, int(n), hi - lo))
    return out


def _us(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


def _dates(covered: Sequence[Interval]) -> list[date]:
    days: set[date] = set()
    for a, b in covered:
        day = a.astimezone(UTC).date()
        while datetime(day.year, day.month, day.day, tzinfo=UTC) < b:
            days.add(day)
            day += timedelta(days=1)
    return sorted(days)


def read_covered(data_dir: DataDir, covered: Sequence[Interval]) -> pl.DataFrame:
    """The message rows created in `covered` (merged intervals), from their partitions only."""
    frames = []
    for day in _dates(covered):
        part = read_partition(data_dir, MESSAGES, day)
        if part is not None:
            frames.append(part.select(_COLUMNS))
    if not frames:
        return MESSAGES.empty().select(_COLUMNS)
    return _inside(pl.concat(frames, how="vertical"), covered)


def refresh_index(
    data_dir: DataDir,
    windows: Iterable[Interval],
    previous: OpenIndex | None,
    now: datetime,
    read_receipt_hours: int,
) -> OpenIndex:
    """The open index after a run that read `windows` (module doc): recomputed over them,
    the previous spans outside them kept."""
    covered = union(windows)
    spans = spans_of(read_covered(data_dir, covered), read_receipt_hours, now)
    kept = [
        s
        for s in (previous.spans if previous is not None else [])
        if not any(a <= s.start and s.end <= b for a, b in covered)
    ]
    return OpenIndex(now.astimezone(UTC), sorted([*kept, *spans], key=lambda s: s.start))


def adaptive_ranges(index: OpenIndex, before: datetime) -> list[Interval]:
    """What to re-read of what was created before `before` (the rest is read anyway): the
    index's spans, cut at `before`, joined when `JOIN_GAP` or less apart."""
    out: list[Interval] = []
    for span in sorted(index.spans, key=lambda s: s.start):
        a, b = span.start, min(span.end, before)
        if a >= b:
            continue
        if out and a - out[-1][1] <= JOIN_GAP:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out
