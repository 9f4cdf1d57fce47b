"""Statistics export results (``GET /api/stat/jobs/{key}``, ready) -> `message_costs`.

A ready export is ``{"error": 0, "status": "Done", "result": [row, ...]}``; each row is one
message as the provider's example shows it: ``message_id`` (a string of digits),
``message_type``, ``msisdn``, ``country_name``, ``brand``, ``mcc``, ``mnc``, ``originator``,
``price`` (a decimal string, or a number), ``currency``, ``time_in`` / ``time_sent`` /
``time_dlr`` (the account's wall clock, or RFC 3339; null until they happen), ``status`` (one
of `EXPORT_STATUSES`), ``body`` and ``sl_clicks``.

One `message_costs` row per message, in its latest state (the latest export wins):

- `operator` is the export's `brand`, `channel` its `message_type` (lower-cased);
- `status` is the export's word in the product's set (`EXPORT_STATUS_MAP`: `Rejected` is
  `failed`), `export_status` the word as written; a word outside the map is kept lower-cased
  and reported under `message_costs`;
- `created_date` is the UTC date of `time_in`; `msisdn` and `body` are not kept (the
  `messages` table has them).

A record breaks its contract, and goes to quarantine with the reason, when `message_id` or
`time_in` is missing or not what it should be, or `price`, a time or `sl_clicks` does not
parse. A page that is not JSON or holds no `result` list is quarantined whole.
"""

from __future__ import annotations

from datetime import tzinfo
from typing import TYPE_CHECKING

import orjson
import polars as pl

from bsg_analytics.schemas.statuses import EXPORT_STATUS_MAP
from bsg_analytics.schemas.tables import MESSAGE_COSTS

from .common import (
    JSON,
    Check,
    Quarantine,
    QuarantineRow,
    Records,
    Spec,
    TransformReport,
    body_text,
    float_text_to_money_text,
    int_expr,
    latest_counted,
    money_expr,
    parse_times,
    scalar_text,
    split_bad,
    unknown_paths,
    unknown_status_counts,
)

if TYPE_CHECKING:
    from bsg_analytics.raw import RawPage

# the row's fields, in the provider's example's order
FIELDS = ("message_id", "message_type", "msisdn", "country_name", "brand", "mcc", "mnc",
          "originator", "price", "currency", "time_in", "time_sent", "time_dlr", "status",
          "body", "sl_clicks")  # fmt: skip
ROW_SPEC: dict[str, Spec] = dict.fromkeys(FIELDS)
PAGE_SPEC: dict[str, Spec] = {"error": None, "errorDescription": None, "status": None,
                              "result": ROW_SPEC}  # fmt: skip
_COLUMNS = [f for f in FIELDS if f not in ("msisdn", "body")]
_TIMES = {"time_in": "time_in_t", "time_sent": "time_sent_t", "time_dlr": "time_dlr_t"}
CHECKS = [
    Check("message_id", "message_id_t", "message_id", required=True),
    Check("time_in", "time_in_t", "time_in", required=True, kind="unparsable"),
    Check("time_sent", "time_sent_t", "time_sent", kind="unparsable"),
    Check("time_dlr", "time_dlr_t", "time_dlr", kind="unparsable"),
    Check("price", "price_t", "price", kind="unparsable"),
    Check("sl_clicks", "sl_clicks_t", "sl_clicks"),
]


def transform_exports(
    pages: list[RawPage], zone: tzinfo, report: TransformReport
) -> tuple[pl.DataFrame, list[QuarantineRow]]:
    """-> (message_costs, quarantine rows). Each row of a page's `result` is one record."""
    quarantine = Quarantine(report)
    records = Records()
    for i, page in enumerate(pages):
        counts = report.stream(page.stream)
        body = _ready_body(page, quarantine)
        if body is None:
            counts.records_in += 1
            report.pages_quarantined += 1
            continue
        rows = body.pop("result")
        report.add_unknown_fields(page.stream, unknown_paths(body, PAGE_SPEC))
        for n, rec in enumerate(rows):
            counts.records_in += 1
            raw = orjson.dumps(rec).decode()
            if not isinstance(rec, dict):
                quarantine.add(page, "wrong type record: expected object", raw, None, n)
                continue
            report.add_unknown_fields(page.stream, unknown_paths(rec, ROW_SPEC, "result[]"))
            row = {c: scalar_text(rec.get(c)) for c in _COLUMNS}
            row["price"] = float_text_to_money_text(rec.get("price"))
            records.add(row, i, raw, n)
    df = _typed(records.frame(_COLUMNS, pages), zone)
    df, _ = split_bad(df, CHECKS, records.on_bad(pages, quarantine, "message_id"))
    costs = latest_counted(df, MESSAGE_COSTS.name, report)
    if not costs.is_empty():
        known = frozenset(EXPORT_STATUS_MAP.values())
        report.add_unknown_statuses(
            MESSAGE_COSTS.name, unknown_status_counts(costs["status"], known)
        )
    return costs, quarantine.rows


def _ready_body(page: RawPage, quarantine: Quarantine) -> dict[str, JSON] | None:
    """A page's body when it holds a `result` list, else None (the page quarantined whole)."""
    try:
        body = orjson.loads(page.body)
    except orjson.JSONDecodeError as exc:
        quarantine.add(page, f"not JSON: {exc}", body_text(page), None)
        return None
    rows = body.get("result") if isinstance(body, dict) else None
    if not isinstance(rows, list):
        why = "wrong type result: expected the list of a ready export"
        quarantine.add(page, why, orjson.dumps(body).decode(), None)
        return None
    return body


def _typed(df: pl.DataFrame, zone: tzinfo) -> pl.DataFrame:
    """The text frame typed (the text columns kept, renamed `*_t`, for the checks)."""
    renamed = ["message_id", "price", "sl_clicks", *_TIMES]
    df = df.rename({c: f"{c}_t" for c in renamed})
    word = pl.col("status").str.strip_chars()
    df = df.with_columns(
        message_id=int_expr("message_id_t"),
        price=money_expr("price_t"),
        sl_clicks=int_expr("sl_clicks_t"),
        channel=pl.col("message_type").str.strip_chars().str.to_lowercase(),
        operator=pl.col("brand"),
        export_status=word,
        status=word.replace_strict(EXPORT_STATUS_MAP, default=word.str.to_lowercase()),
    )
    df = parse_times(df, _TIMES, zone)
    return df.with_columns(created_date=pl.col("time_in").dt.date())
