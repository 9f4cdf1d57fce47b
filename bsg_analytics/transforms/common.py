"""Shared pieces of the transforms: the report, vectorised field rules, quarantine rows.

Field rules (all column-wise, on columns that hold each JSON value's text):

- integers: the text must cast to the integer type; `"12"` and `12` both pass, `12.0`, `true`
  or an object do not (wrong type -> quarantine).
- money: `Decimal(18, 7)` cast from the string, never through a float. A string must be a plain
  decimal (`-?digits[.digits]`) with at most 7 decimals and fit 18 digits. Numbers that the API
  sends as JSON floats (legacy `price`/`totalprice`, campaign `calculated_price`) are turned into
  text by the shortest repr of the float (`repr(0.23) == "0.23"`), then rounded half-even to 7
  places in `decimal`, never through binary arithmetic.
- phone: digits in a string; a leading `+` and spaces are removed; anything else non-digit is a
  contract breach (quarantine).
- times: `yyyy-mm-dd hh:mm:ss` in the account's zone -> `timestamp[us, UTC]`. Daylight-saving
  rules are those of Python's `zoneinfo` with `fold=0`: an ambiguous wall time (the repeated
  hour in autumn) takes the EARLIER instant (the first pass, still on summer time); a wall time
  that does not exist (the skipped hour in spring) is shifted FORWARD by the length of the gap
  (02:30 on a 02:00->03:00 spring-forward day is read as 03:30 local, i.e. it is interpreted
  with the offset in force before the change). An empty string is null. The provider's
  descriptions also write RFC 3339 (`format: date-time`, e.g. `2000-01-23T04:56:07.000+00:00`):
  a `T` between date and time and fractional seconds are accepted, and a time that carries
  its own offset (`+02:00`, `+0200`, `Z`) is that instant, whatever the account's zone.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, TypeAlias
from zoneinfo import ZoneInfo

import orjson
import polars as pl
from polars.expr.whenthen import ChainedThen, Then

from bsg_analytics.schemas.tables import MONEY, TABLES, UTC_TS, Table
from bsg_client.windows import API_TIME_FORMAT

from .merge import latest

if TYPE_CHECKING:
    from bsg_analytics.raw import RawPage

# A JSON value as orjson decodes it (None, bool, int, float, str, list, dict).
JSON: TypeAlias = Any

TS_FORMAT = API_TIME_FORMAT  # the API's wall-clock time format, as the client writes it
MONEY_RE = r"^-?\d{1,11}(\.\d{0,7})?$"
_SEVEN = Decimal("0.0000001")


class ReconciliationError(RuntimeError):
    """Records in != rows out + quarantined + duplicates for some stream."""


@dataclass
class StreamCounts:
    records_in: int = 0
    rows_out: int = 0
    quarantined: int = 0
    duplicates: int = 0

    @property
    def reconciles(self) -> bool:
        return self.records_in == self.rows_out + self.quarantined + self.duplicates

    def add(self, other: StreamCounts) -> None:
        self.records_in += other.records_in
        self.rows_out += other.rows_out
        self.quarantined += other.quarantined
        self.duplicates += other.duplicates

    def as_dict(self) -> dict[str, int]:
        return {
            "records_in": self.records_in,
            "rows_out": self.rows_out,
            "quarantined": self.quarantined,
            "duplicates": self.duplicates,
        }


_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def printable(value: object, limit: int = 200) -> str:
    """An API value (a field name, a status) fit for one log line: control characters and
    line separators escaped (``\\n``, ``\\x1b``), cut at `limit` characters. The data itself
    keeps the value as it came; only what the report says about it is escaped."""
    text = _UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape").decode(), str(value))
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class TransformReport:
    """What one call of `transform_pages` saw.

    counts: per stream (`messages`, `campaigns`, `campaign_detail`, `legacy_sms`,
        `legacy_task`, and any unknown stream name), records in / rows out / quarantined /
        duplicates; `records_in == rows_out + quarantined + duplicates` always holds (checked).
    unknown_fields: per stream, the sorted set of field paths nobody declared
        (e.g. `rcs_options.cards[].foo`); the value stays in the raw page.
    unknown_statuses: per stream, status value -> rows carrying it (kept as data).
    table_rows: rows of every output table, derived tables (rcs_cards, ...) included.
    pages: pages read; pages_quarantined: pages quarantined whole (not JSON, wrong shape).
    null_amounts: per stream, rows kept that were sent but carry no amount (they count in
        the delivery views and add nothing to spend).
    """

    counts: dict[str, StreamCounts] = field(default_factory=dict)
    unknown_fields: dict[str, list[str]] = field(default_factory=dict)
    unknown_statuses: dict[str, dict[str, int]] = field(default_factory=dict)
    table_rows: dict[str, int] = field(default_factory=dict)
    pages: int = 0
    pages_quarantined: int = 0
    null_amounts: dict[str, int] = field(default_factory=dict)

    def stream(self, name: str) -> StreamCounts:
        return self.counts.setdefault(name, StreamCounts())

    def add_unknown_fields(self, stream: str, paths: Iterable[str]) -> None:
        paths = {printable(p) for p in paths}
        if paths:
            self.unknown_fields[stream] = sorted(set(self.unknown_fields.get(stream, ())) | paths)

    def add_unknown_statuses(self, stream: str, counts: dict[str, int]) -> None:
        if counts:
            mine = self.unknown_statuses.setdefault(stream, {})
            for status, n in counts.items():
                key = printable(status)
                mine[key] = mine.get(key, 0) + n

    def add_null_amounts(self, stream: str, n: int) -> None:
        if n:
            self.null_amounts[stream] = self.null_amounts.get(stream, 0) + n

    def merge(self, other: TransformReport) -> None:
        for name, c in other.counts.items():
            self.stream(name).add(c)
        for name, n in other.null_amounts.items():
            self.add_null_amounts(name, n)
        for name, paths in other.unknown_fields.items():
            self.add_unknown_fields(name, paths)
        for name, st in other.unknown_statuses.items():
            self.add_unknown_statuses(name, st)
        for name, n in other.table_rows.items():
            self.table_rows[name] = self.table_rows.get(name, 0) + n
        self.pages += other.pages
        self.pages_quarantined += other.pages_quarantined

    def check(self) -> None:
        bad = {k: v.as_dict() for k, v in self.counts.items() if not v.reconciles}
        if bad:
            raise ReconciliationError(f"records do not reconcile: {bad}")

    @property
    def totals(self) -> StreamCounts:
        total = StreamCounts()
        for c in self.counts.values():
            total.add(c)
        return total

    def as_dict(self) -> dict[str, Any]:
        return {
            "counts": {k: v.as_dict() for k, v in sorted(self.counts.items())},
            "unknown_fields": dict(sorted(self.unknown_fields.items())),
            "unknown_statuses": dict(sorted(self.unknown_statuses.items())),
            "table_rows": dict(sorted(self.table_rows.items())),
            "pages": self.pages,
            "pages_quarantined": self.pages_quarantined,
            "null_amounts": dict(sorted(self.null_amounts.items())),
        }


# --- zones and times ---------------------------------------------------------------------


def as_zone(zone: tzinfo | str | None) -> ZoneInfo:
    if zone is None:
        return ZoneInfo("UTC")
    if isinstance(zone, ZoneInfo):
        return zone
    if isinstance(zone, str):
        return ZoneInfo(zone)
    key = getattr(zone, "key", None) or str(zone)
    return ZoneInfo("UTC" if key in ("UTC", "utc") else key)


def is_utc(zone: ZoneInfo) -> bool:
    return zone.key in ("UTC", "Etc/UTC", "Etc/UCT", "UCT", "Zulu", "Etc/Zulu", "GMT", "Etc/GMT")


def local_to_utc_python(naive: datetime, zone: ZoneInfo) -> datetime:
    """The reference rule (zoneinfo, fold=0): earlier for ambiguous, forward for gaps."""
    return naive.replace(tzinfo=zone, fold=0).astimezone(UTC).replace(tzinfo=None)


def parse_times(df: pl.DataFrame, cols: dict[str, str], zone: tzinfo) -> pl.DataFrame:
    """Parse text columns `src` into UTC timestamps `out` (cols maps out -> src).

    Leaves the text columns in place so that validation can tell unparsable from null.
    `zone` is the account's zone (a ZoneInfo; another tzinfo goes through `as_zone`).
    Texts in the API's own format are read in one pass; only when some text is not in it are
    the RFC 3339 forms tried (`T`, fractions: the account's wall clock; an offset: that
    instant), so the common case costs nothing more.
    """
    if not cols:
        return df
    zone = as_zone(zone)
    naive = {
        out: pl.col(src)
        .replace("", None)
        .str.strptime(pl.Datetime("us"), TS_FORMAT, strict=False)
        .alias(out)
        for out, src in cols.items()
    }
    df, aware = _rfc3339_times(df.with_columns(naive.values()), cols)
    if is_utc(zone):
        df = df.with_columns(pl.col(out).dt.replace_time_zone("UTC") for out in cols)
    else:
        df = _wall_clock_to_utc(df, list(cols), zone)
    if aware:
        df = df.with_columns(pl.coalesce(f"__aware_{out}", out).alias(out) for out in aware)
        df = df.drop([f"__aware_{out}" for out in aware])
    return df


_ISO_DATE_T = r"^(\d{4}-\d{2}-\d{2})[Tt]"
_AWARE_FORMAT = f"{TS_FORMAT}%.f%:z"  # `%:z` reads `+02:00` and `+0200`; `%.f` may be empty


def _rfc3339_times(df: pl.DataFrame, cols: dict[str, str]) -> tuple[pl.DataFrame, list[str]]:
    """The RFC 3339 reading of the texts that missed the API's format, for the columns that
    have any: `out` (naive wall clock) filled where a text has a `T` or a fraction but no
    offset, and `__aware_{out}` (the UTC instant) where it has an offset. Returns the frame
    and the `out` columns that got an `__aware_` column."""
    missed = df.select(
        (pl.col(out).is_null() & pl.col(src).replace("", None).is_not_null()).any().alias(out)
        for out, src in cols.items()
    ).row(0, named=True)
    exprs: list[pl.Expr] = []
    aware: list[str] = []
    for out, src in cols.items():
        if not missed[out]:
            continue
        text = (
            pl.col(src)
            .str.strip_chars()
            .str.replace(_ISO_DATE_T, "${1} ")
            .str.replace(r"[Zz]$", "+00:00")
        )
        wall = text.str.strptime(pl.Datetime("us"), f"{TS_FORMAT}%.f", strict=False)
        exprs.append(pl.coalesce(out, wall).alias(out))
        exprs.append(text.str.strptime(UTC_TS, _AWARE_FORMAT, strict=False).alias(f"__aware_{out}"))
        aware.append(out)
    return (df.with_columns(exprs) if exprs else df), aware


def _wall_clock_to_utc(df: pl.DataFrame, outs: list[str], zone: ZoneInfo) -> pl.DataFrame:
    """Naive wall-clock columns `outs` in `zone` -> UTC (zoneinfo's fold=0 rule, see top)."""
    local = [
        pl.col(out)
        .dt.replace_time_zone(zone.key, ambiguous="earliest", non_existent="null")
        .dt.convert_time_zone("UTC")
        .alias(f"__utc_{out}")
        for out in outs
    ]
    df = df.with_columns(local)
    for out in outs:
        gap = df.select((pl.col(out).is_not_null() & pl.col(f"__utc_{out}").is_null()).arg_true())
        idx = gap.to_series()
        if len(idx):
            fixed = [local_to_utc_python(v, zone) for v in df[out].gather(idx).to_list()]
            utc = df[f"__utc_{out}"].scatter(
                idx, pl.Series(fixed, dtype=pl.Datetime("us")).dt.replace_time_zone("UTC")
            )
            df = df.with_columns(utc.alias(f"__utc_{out}"))
    return df.drop(outs).rename({f"__utc_{out}": out for out in outs})


# --- scalar fields -------------------------------------------------------------------------


def int_expr(src: str, dtype: pl.DataType | None = None) -> pl.Expr:
    dtype = dtype or pl.Int64()
    return pl.col(src).str.strip_chars(" ").cast(dtype, strict=False)


def money_expr(src: str) -> pl.Expr:
    text = pl.col(src)
    return pl.when(text.str.contains(MONEY_RE)).then(text.cast(MONEY, strict=False))


def phone_expr(src: str) -> pl.Expr:
    clean = pl.col(src).str.replace_all(" ", "", literal=True).str.strip_prefix("+")
    return pl.when(clean.str.contains(r"^\d+$")).then(clean)


def float_text_to_money_text(value: JSON) -> str | None:
    """A JSON number (as decoded by orjson) or string -> decimal text with <= 7 places.

    Floats go through their shortest repr (`repr(0.23) == '0.23'`), then `decimal` rounds
    half-even to 7 places: no binary arithmetic on the value anywhere.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return orjson.dumps(value).decode()
    if isinstance(value, float | int):
        try:
            d = Decimal(repr(value)).quantize(_SEVEN, rounding=ROUND_HALF_EVEN)
        except (InvalidOperation, ValueError):
            return repr(value)
        return format(d, "f")
    return scalar_text(value)


def scalar_text(value: JSON) -> str | None:
    """Any JSON value -> its text, as polars renders a JSON value read into a String column."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return orjson.dumps(value).decode()


# --- validation ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One rule: `src` is the text column, `parsed` the typed output column.

    required: a null `src` is a missing key. kind: "wrong type" or "unparsable".
    """

    field: str
    src: str
    parsed: str
    required: bool = False
    kind: str = "wrong type"


def reason_expr(checks: Iterable[Check]) -> pl.Expr:
    """The first failing rule of a row as text, or null when the row is good."""
    branches: list[tuple[pl.Expr, pl.Expr]] = []  # (condition, reason), first match wins
    for c in checks:
        if c.required:
            branches.append((pl.col(c.src).is_null(), pl.lit(f"missing key: {c.field}")))
        cond_bad = pl.col(c.src).is_not_null() & pl.col(c.parsed).is_null()
        msg_bad = pl.format(f"{c.kind} {c.field}: {{}}", pl.col(c.src).str.slice(0, 80))
        branches.append((cond_bad, msg_bad))
    if not branches:
        return pl.lit(None, pl.String).alias("_reason")
    (cond, reason), *rest = branches
    expr: Then | ChainedThen = pl.when(cond).then(reason)
    for cond, reason in rest:
        expr = expr.when(cond).then(reason)
    return expr.otherwise(None).alias("_reason")


def unknown_status_counts(statuses: pl.Series, known: frozenset[str]) -> dict[str, int]:
    vc = (
        statuses.drop_nulls()
        .filter(~statuses.drop_nulls().is_in(list(known)))
        .value_counts(sort=True, name="n")
    )
    return {row[0]: int(row[1]) for row in vc.iter_rows()}


# --- unknown fields --------------------------------------------------------------------------

# A spec maps a key to None (a leaf), to a nested spec (an object or a list of objects),
# or to FREE (anything goes below: e.g. the user's own `options`).
FREE = "*"
Spec: TypeAlias = "dict[str, Spec] | str | None"


def unknown_paths(value: JSON, spec: Spec, prefix: str = "") -> set[str]:
    out: set[str] = set()
    if spec is None or spec == FREE:
        return out
    if isinstance(value, list):
        for item in value:
            out |= unknown_paths(item, spec, prefix + "[]" if prefix else prefix)
        return out
    if not isinstance(value, dict):
        return out
    for key, sub in value.items():
        path = f"{prefix}.{key}" if prefix else key
        if key not in spec:
            out.add(path)
        else:
            out |= unknown_paths(sub, spec[key], path)
    return out


def spec_names(spec: Spec) -> set[str]:
    names: set[str] = set()
    if isinstance(spec, dict):
        for key, sub in spec.items():
            names.add(key)
            names |= spec_names(sub)
    return names


# --- quarantine -------------------------------------------------------------------------------


@dataclass
class QuarantineRow:
    endpoint: str
    reason: str
    raw: str
    record_key: str | None
    raw_file: str
    extracted_at: datetime
    # position in the page's `data` list; None for a whole page or a one-record body
    record_index: int | None = None


def page_file(page: RawPage) -> str:
    """The raw file a page came from; pages not yet landed get a stable synthetic name."""
    if page.path:
        return page.path
    return f"{page.stream}/{page.fetched_at:%Y-%m-%d}/{page.run_id}/{page.group}/{page.seq:06d}"


def quarantine_row(
    page: RawPage, reason: str, raw: str, key: str | None = None, index: int | None = None
) -> QuarantineRow:
    """The quarantine row of a whole page (`key` None) or of one record of it."""
    return QuarantineRow(page.endpoint, reason, raw, key, page_file(page), page.fetched_at, index)


def body_text(page: RawPage) -> str:
    """A page's body as text, for the quarantine row of a page that is not JSON."""
    return page.body.decode("utf-8", errors="replace")


def page_object(
    page: RawPage, pick: Callable[[JSON], dict[str, JSON] | None], shape: str
) -> tuple[dict[str, JSON] | None, str, str]:
    """The object `pick` finds in a page's body, else None with the quarantine reason and
    raw text: "not JSON: ..." and the body, or `shape` and the body re-encoded."""
    try:
        body = orjson.loads(page.body)
    except orjson.JSONDecodeError as exc:
        return None, f"not JSON: {exc}", body_text(page)
    found = pick(body)
    if found is not None:
        return found, "", ""
    return None, shape, orjson.dumps(body).decode()


def to_utc_naive(ts: datetime) -> datetime:
    if ts.tzinfo is None:
        return ts
    return ts.astimezone(UTC).replace(tzinfo=None)


def quarantine_frame(rows: list[QuarantineRow]) -> pl.DataFrame:
    table = TABLES["quarantine"]
    if not rows:
        return table.empty()
    df = pl.DataFrame(
        {
            "endpoint": [r.endpoint for r in rows],
            "reason": [r.reason for r in rows],
            "raw": [r.raw for r in rows],
            "record_key": [r.record_key for r in rows],
            "record_index": [r.record_index for r in rows],
            "raw_file": [r.raw_file for r in rows],
            "extracted_at": [to_utc_naive(r.extracted_at) for r in rows],
        },
        schema={
            "endpoint": pl.String,
            "reason": pl.String,
            "raw": pl.String,
            "record_key": pl.String,
            "record_index": pl.Int32,
            "raw_file": pl.String,
            "extracted_at": pl.Datetime("us"),
        },
    ).with_columns(pl.col("extracted_at").dt.replace_time_zone("UTC"))
    df = df.with_columns(extracted_date=pl.col("extracted_at").dt.date())
    return conform(df, "quarantine")


def conform(df: pl.DataFrame, table: str | Table) -> pl.DataFrame:
    """Exactly the table's columns, in order, with its dtypes (missing ones as nulls); a
    table by name is one of `schemas.tables.TABLES`."""
    t = TABLES[table] if isinstance(table, str) else table
    if df.width == 0:
        return t.empty()
    exprs = []
    for name, dtype in t.schema.items():
        if name in df.columns:
            exprs.append(pl.col(name).cast(dtype))
        else:
            exprs.append(pl.lit(None, dtype).alias(name))
    return df.select(exprs)


def fetched_series(pages: list[RawPage], idx: list[int]) -> pl.Series:
    return pl.Series(
        "extracted_at", [to_utc_naive(pages[i].fetched_at) for i in idx], dtype=pl.Datetime("us")
    ).dt.replace_time_zone("UTC")


LOCALE_RE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")
UTC_TS_DTYPE = UTC_TS


# --- records decoded in Python (low-volume streams: campaigns, details, legacy) ---------------


class PathError(ValueError):
    pass


def get_path(obj: JSON, *paths: str) -> JSON:
    """The first present value among dotted `paths`; an intermediate non-object is an error."""
    for path in paths:
        cur = obj
        found = True
        walked = []
        for part in path.split("."):
            walked.append(part)
            if cur is None:
                found = False
                break
            if not isinstance(cur, dict):
                raise PathError(f"wrong type {'.'.join(walked[:-1])}: expected object")
            if part not in cur:
                found = False
                break
            cur = cur[part]
        if found and cur is not None:
            return cur
    return None


def text_frame(rows: list[dict[str, str | None]], columns: list[str]) -> pl.DataFrame:
    """Rows of text values -> a frame of String columns (built column-wise: no inference)."""
    data = {c: [r.get(c) for r in rows] for c in columns}
    return pl.DataFrame(data, schema=dict.fromkeys(columns, pl.String()))


def split_bad(
    df: pl.DataFrame,
    checks: list[Check],
    on_bad: Callable[[int, str], None],
    extra: pl.Expr | None = None,
) -> tuple[pl.DataFrame, int]:
    """Adds `_reason`; calls on_bad(row_position, reason) for failing rows; returns good rows."""
    reason = reason_expr(checks)
    if extra is not None:
        reason = pl.coalesce(extra, reason).alias("_reason")
    df = df.with_columns(reason)
    bad = df.select(pl.int_range(pl.len()).alias("_pos"), "_reason").filter(
        pl.col("_reason").is_not_null()
    )
    for pos, why in bad.iter_rows():
        on_bad(pos, why)
    return df.filter(pl.col("_reason").is_null()), bad.height


# --- records of a batch, their quarantine and their latest rows ------------------------------


class Quarantine:
    """Quarantine rows, each counted on the stream of the page it came from."""

    def __init__(self, report: TransformReport):
        self.report = report
        self.rows: list[QuarantineRow] = []

    def add(
        self, page: RawPage, reason: str, raw: str, key: str | None, index: int | None = None
    ) -> None:
        self.rows.append(quarantine_row(page, reason, raw, key, index))
        self.report.stream(page.stream).quarantined += 1


@dataclass
class Records:
    """Records of one kind as text: `rows[n]` came from page `where[n]` (at position
    `index[n]` of its `result` list, or None), as JSON `raws[n]`."""

    rows: list[dict[str, str | None]] = field(default_factory=list)
    where: list[int] = field(default_factory=list)
    raws: list[str] = field(default_factory=list)
    index: list[int | None] = field(default_factory=list)

    def add(self, row: dict[str, str | None], page_index: int, raw: str, index: int | None) -> None:
        self.rows.append(row)
        self.where.append(page_index)
        self.raws.append(raw)
        self.index.append(index)

    def frame(self, columns: list[str], pages: list[RawPage]) -> pl.DataFrame:
        """The text frame, with each row's `extracted_at` and `_stream` (its page's)."""
        return text_frame(self.rows, columns).with_columns(
            extracted_at=fetched_series(pages, self.where),
            _stream=pl.Series([pages[i].stream for i in self.where], dtype=pl.String),
        )

    def on_bad(
        self, pages: list[RawPage], quarantine: Quarantine, key: str
    ) -> Callable[[int, str], None]:
        """`split_bad`'s callback: the record at a row position goes to quarantine."""

        def bad(pos: int, why: str) -> None:
            page = pages[self.where[pos]]
            quarantine.add(page, why, self.raws[pos], self.rows[pos][key], self.index[pos])

        return bad


def latest_counted(df: pl.DataFrame, table: str, report: TransformReport) -> pl.DataFrame:
    """Latest row per key (`merge.latest`); rows out and duplicates are counted on the stream
    each row came from."""
    df = df.with_row_index("_ord")
    keep = latest(df, table)
    kept_ids = set(keep["_ord"].to_list())
    for stream, ords in df.group_by("_stream").agg(pl.col("_ord")).iter_rows():
        kept = sum(1 for o in ords if o in kept_ids)
        report.stream(stream).rows_out += kept
        report.stream(stream).duplicates += len(ords) - kept
    return conform(keep, table)
