"""Legacy REST bodies (`GET /rest/sms/{id}`, `/rest/sms/reference/{ref}`, `/rest/sms/{task_id}`,
`/rest/sms/task/{task_id}`) -> `legacy_sms`, `legacy_tasks`.

One body is one record. `/rest/sms/{id}` and `/rest/sms/{task_id}` share a path, so the body's
keys decide: a task has `originator`/`totalprice`/`body`/`undeliverable`, an SMS has
`msisdn`/`time_in`/`reference`. An error body (`error` other than 0, as a number or a string)
is not a row: it is quarantined with reason `api error <code>: <description>`. A task body
carries no id: `task_id` comes from the body if present (`task_id`, `id`), else from the last
path segment of the endpoint, else from the request params.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import TYPE_CHECKING

import orjson
import polars as pl

from bsg_analytics.schemas.statuses import KNOWN_MESSAGE_STATUSES

from .common import (
    JSON,
    Check,
    QuarantineRow,
    TransformReport,
    body_text,
    conform,
    fetched_series,
    float_text_to_money_text,
    int_expr,
    money_expr,
    parse_times,
    phone_expr,
    quarantine_row,
    scalar_text,
    split_bad,
    text_frame,
    unknown_paths,
    unknown_status_counts,
)
from .merge import latest

if TYPE_CHECKING:
    from bsg_analytics.raw import RawPage

SMS_SPEC = dict.fromkeys(
    (
        "error",
        "errorDescription",
        "id",
        "msisdn",
        "reference",
        "time_in",
        "time_sent",
        "time_dr",
        "status",
        "price",
        "currency",
    )
)
TASK_SPEC = dict.fromkeys(
    (
        "error",
        "errorDescription",
        "id",
        "task_id",
        "originator",
        "body",
        "validity",
        "totalprice",
        "currency",
        "sent",
        "delivered",
        "expired",
        "undeliverable",
        "unknown",
    )
)
_TASK_KEYS = frozenset({"originator", "totalprice", "body", "undeliverable"})
_SMS_KEYS = frozenset({"msisdn", "time_in", "time_sent", "time_dr", "reference"})
_ID_IN_PATH = re.compile(r"/(\d+)/?$")

SMS_COLUMNS = ["id", "msisdn", "reference", "time_in", "time_sent", "time_dr", "status"]
SMS_COLUMNS += ["price", "currency"]
TASK_COLUMNS = ["task_id", "originator", "body", "validity", "totalprice", "currency", "sent"]
TASK_COLUMNS += ["delivered", "expired", "undeliverable", "unknown"]


def kind_of(body: dict[str, JSON]) -> str:
    keys = body.keys()
    if _TASK_KEYS & keys:
        return "task"
    if _SMS_KEYS & keys:
        return "sms"
    return "unknown"


def api_error(body: dict[str, JSON]) -> str | None:
    code = body.get("error")
    if code is None:
        return None
    text = (scalar_text(code) or "").strip()
    if text in ("0", "0.0", ""):
        return None
    return f"api error {text}: {scalar_text(body.get('errorDescription'))}"


def _task_id_from(page: RawPage) -> str | None:
    m = _ID_IN_PATH.search(page.endpoint or "")
    if m:
        return m.group(1)
    for name in ("task_id", "id"):
        if page.params and page.params.get(name):
            return str(page.params[name])
    return None


class _Quarantine:
    """Quarantine rows, each counted on the stream of the page it came from."""

    def __init__(self, report: TransformReport):
        self.report = report
        self.rows: list[QuarantineRow] = []

    def add(self, page: RawPage, reason: str, raw: str, key: str | None) -> None:
        self.rows.append(quarantine_row(page, reason, raw, key))
        self.report.stream(page.stream).quarantined += 1


@dataclass
class _Records:
    """Records of one kind as text: `rows[n]` came from page `where[n]`, as JSON `raws[n]`."""

    rows: list[dict[str, str | None]] = field(default_factory=list)
    where: list[int] = field(default_factory=list)
    raws: list[str] = field(default_factory=list)

    def add(self, row: dict[str, str | None], page_index: int, raw: str) -> None:
        self.rows.append(row)
        self.where.append(page_index)
        self.raws.append(raw)

    def frame(self, columns: list[str], pages: list[RawPage]) -> pl.DataFrame:
        """The text frame, with each row's `extracted_at` and `_stream` (its page's)."""
        return text_frame(self.rows, columns).with_columns(
            extracted_at=fetched_series(pages, self.where),
            _stream=pl.Series([pages[i].stream for i in self.where], dtype=pl.String),
        )

    def on_bad(
        self, pages: list[RawPage], quarantine: _Quarantine, key: str
    ) -> Callable[[int, str], None]:
        """`split_bad`'s callback: the record at a row position goes to quarantine."""

        def bad(pos: int, why: str) -> None:
            quarantine.add(pages[self.where[pos]], why, self.raws[pos], self.rows[pos][key])

        return bad


def transform_legacy(
    pages: list[RawPage], zone: tzinfo, report: TransformReport
) -> tuple[pl.DataFrame, pl.DataFrame, list[QuarantineRow]]:
    """-> (legacy_sms, legacy_tasks, quarantine rows). Counts go to each page's stream."""
    quarantine = _Quarantine(report)
    sms, tasks = _Records(), _Records()
    for i, page in enumerate(pages):
        counts = report.stream(page.stream)
        try:
            body = orjson.loads(page.body)
        except orjson.JSONDecodeError as exc:
            counts.records_in += 1
            report.pages_quarantined += 1
            quarantine.add(page, f"not JSON: {exc}", body_text(page), None)
            continue
        for rec in body if isinstance(body, list) else [body]:
            counts.records_in += 1
            _sort_record(rec, i, page, report, quarantine, sms, tasks)
    legacy_sms = _sms_table(sms, pages, zone, report, quarantine)
    legacy_tasks = _task_table(tasks, pages, zone, report, quarantine)
    return legacy_sms, legacy_tasks, quarantine.rows


def _sort_record(
    rec: JSON,
    i: int,
    page: RawPage,
    report: TransformReport,
    quarantine: _Quarantine,
    sms: _Records,
    tasks: _Records,
) -> None:
    """One record of page `i` -> the SMS records, the task records, or quarantine (not an
    object, an API error, neither kind)."""
    if not isinstance(rec, dict):
        quarantine.add(page, "wrong type record: expected object", orjson.dumps(rec).decode(), None)
        return
    raw = orjson.dumps(rec).decode()
    key = scalar_text(rec.get("id"))
    if err := api_error(rec):
        quarantine.add(page, err, raw, key or _task_id_from(page))
        return
    kind = kind_of(rec)
    if kind == "unknown":
        quarantine.add(page, "unrecognised legacy body: neither an SMS nor a task", raw, key)
    elif kind == "sms":
        report.add_unknown_fields(page.stream, unknown_paths(rec, SMS_SPEC))
        row = {c: scalar_text(rec.get(c)) for c in SMS_COLUMNS}
        row["price"] = float_text_to_money_text(rec.get("price"))
        sms.add(row, i, raw)
    else:
        report.add_unknown_fields(page.stream, unknown_paths(rec, TASK_SPEC))
        row = {c: scalar_text(rec.get(c)) for c in TASK_COLUMNS}
        row["task_id"] = scalar_text(rec.get("task_id") or rec.get("id")) or _task_id_from(page)
        row["totalprice"] = float_text_to_money_text(rec.get("totalprice"))
        tasks.add(row, i, raw)


SMS_CHECKS = [
    Check("id", "id_t", "message_id", required=True),
    Check("msisdn", "msisdn_t", "msisdn", kind="unparsable"),
    Check("price", "price_t", "price", kind="unparsable"),
    Check("time_in", "ti", "time_in", kind="unparsable"),
    Check("time_sent", "ts", "time_sent", kind="unparsable"),
    Check("time_dr", "td", "time_dr", kind="unparsable"),
]
_TASK_COUNTS = ["sent", "delivered", "expired", "undeliverable", "unknown"]
TASK_CHECKS = [
    Check("task_id", "task_id_t", "task_id", required=True),
    Check("validity", "validity_t", "validity"),
    Check("totalprice", "totalprice", "total_price", kind="unparsable"),
    *(Check(c, f"{c}_t", c) for c in _TASK_COUNTS),
]


def _sms_table(
    sms: _Records,
    pages: list[RawPage],
    zone: tzinfo,
    report: TransformReport,
    quarantine: _Quarantine,
) -> pl.DataFrame:
    """SMS records -> `legacy_sms` (failing records to quarantine)."""
    df = sms.frame(SMS_COLUMNS, pages)
    df = df.rename({"id": "id_t", "msisdn": "msisdn_t", "price": "price_t"}).with_columns(
        message_id=int_expr("id_t"),
        msisdn=phone_expr("msisdn_t"),
        price=money_expr("price_t"),
    )
    df = df.rename({"time_in": "ti", "time_sent": "ts", "time_dr": "td"})
    df = parse_times(df, {"time_in": "ti", "time_sent": "ts", "time_dr": "td"}, zone)
    df, _ = split_bad(df, SMS_CHECKS, sms.on_bad(pages, quarantine, "id"))
    legacy_sms = _latest_counted(df, "legacy_sms", report)
    if not legacy_sms.is_empty():  # reported under legacy_sms, whichever stream a row came from
        report.add_unknown_statuses(
            "legacy_sms", unknown_status_counts(legacy_sms["status"], KNOWN_MESSAGE_STATUSES)
        )
    return legacy_sms


def _task_table(
    tasks: _Records,
    pages: list[RawPage],
    zone: tzinfo,
    report: TransformReport,
    quarantine: _Quarantine,
) -> pl.DataFrame:
    """Task records -> `legacy_tasks` (failing records to quarantine). A task has no times."""
    df = tasks.frame(TASK_COLUMNS, pages)
    renamed = [*_TASK_COUNTS, "task_id", "validity"]
    df = df.rename({c: f"{c}_t" for c in renamed}).with_columns(
        task_id=int_expr("task_id_t"),
        validity=int_expr("validity_t", pl.Int32()),
        total_price=money_expr("totalprice"),
        **{c: int_expr(f"{c}_t") for c in _TASK_COUNTS},
    )
    df, _ = split_bad(df, TASK_CHECKS, tasks.on_bad(pages, quarantine, "task_id"))
    return _latest_counted(df, "legacy_tasks", report)


def _latest_counted(df: pl.DataFrame, table: str, report: TransformReport) -> pl.DataFrame:
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
