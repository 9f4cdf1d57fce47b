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
from datetime import tzinfo

import orjson
import polars as pl

from bsg_analytics.schemas.statuses import KNOWN_MESSAGE_STATUSES

from .common import (
    Check,
    QuarantineRow,
    TransformReport,
    conform,
    fetched_series,
    float_text_to_money_text,
    int_expr,
    money_expr,
    page_file,
    parse_times,
    phone_expr,
    scalar_text,
    split_bad,
    text_frame,
    unknown_paths,
    unknown_status_counts,
)

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


def kind_of(body: dict) -> str:
    keys = body.keys()
    if _TASK_KEYS & keys:
        return "task"
    if _SMS_KEYS & keys:
        return "sms"
    return "unknown"


def api_error(body: dict) -> str | None:
    code = body.get("error")
    if code is None:
        return None
    text = scalar_text(code).strip()
    if text in ("0", "0.0", ""):
        return None
    return f"api error {text}: {scalar_text(body.get('errorDescription'))}"


def _task_id_from(page) -> str | None:
    m = _ID_IN_PATH.search(page.endpoint or "")
    if m:
        return m.group(1)
    for name in ("task_id", "id"):
        if page.params and page.params.get(name):
            return str(page.params[name])
    return None


def transform_legacy(pages: list, zone: tzinfo, report: TransformReport):
    """-> (legacy_sms, legacy_tasks, quarantine rows). Counts go to each page's stream."""
    quarantine: list[QuarantineRow] = []
    sms_rows, sms_where, sms_raw = [], [], []
    task_rows, task_where, task_raw = [], [], []

    def q(page, reason, raw, key):
        quarantine.append(
            QuarantineRow(page.endpoint, reason, raw, key, page_file(page), page.fetched_at)
        )
        report.stream(page.stream).quarantined += 1

    for i, page in enumerate(pages):
        counts = report.stream(page.stream)
        try:
            body = orjson.loads(page.body)
        except orjson.JSONDecodeError as exc:
            counts.records_in += 1
            report.pages_quarantined += 1
            q(page, f"not JSON: {exc}", page.body.decode("utf-8", "replace"), None)
            continue
        records = body if isinstance(body, list) else [body]
        for rec in records:
            counts.records_in += 1
            if not isinstance(rec, dict):
                q(page, "wrong type record: expected object", orjson.dumps(rec).decode(), None)
                continue
            raw = orjson.dumps(rec).decode()
            key = scalar_text(rec.get("id"))
            if err := api_error(rec):
                q(page, err, raw, key or _task_id_from(page))
                continue
            kind = kind_of(rec)
            if kind == "unknown":
                q(page, "unrecognised legacy body: neither an SMS nor a task", raw, key)
                continue
            if kind == "sms":
                report.add_unknown_fields(page.stream, unknown_paths(rec, SMS_SPEC))
                row = {c: scalar_text(rec.get(c)) for c in SMS_COLUMNS}
                row["price"] = float_text_to_money_text(rec.get("price"))
                sms_rows.append(row)
                sms_where.append(i)
                sms_raw.append(raw)
            else:
                report.add_unknown_fields(page.stream, unknown_paths(rec, TASK_SPEC))
                row = {c: scalar_text(rec.get(c)) for c in TASK_COLUMNS}
                row["task_id"] = scalar_text(rec.get("task_id") or rec.get("id")) or (
                    _task_id_from(page)
                )
                row["totalprice"] = float_text_to_money_text(rec.get("totalprice"))
                task_rows.append(row)
                task_where.append(i)
                task_raw.append(raw)

    # --- SMS ---
    df = text_frame(sms_rows, SMS_COLUMNS).with_columns(
        extracted_at=fetched_series(pages, sms_where),
        _stream=pl.Series([pages[i].stream for i in sms_where], dtype=pl.String),
    )
    df = df.rename({"id": "id_t", "msisdn": "msisdn_t", "price": "price_t"}).with_columns(
        message_id=int_expr("id_t"),
        msisdn=phone_expr("msisdn_t"),
        price=money_expr("price_t"),
    )
    df = df.rename({"time_in": "ti", "time_sent": "ts", "time_dr": "td"})
    df = parse_times(df, {"time_in": "ti", "time_sent": "ts", "time_dr": "td"}, zone)
    checks = [
        Check("id", "id_t", "message_id", required=True),
        Check("msisdn", "msisdn_t", "msisdn", kind="unparsable"),
        Check("price", "price_t", "price", kind="unparsable"),
        Check("time_in", "ti", "time_in", kind="unparsable"),
        Check("time_sent", "ts", "time_sent", kind="unparsable"),
        Check("time_dr", "td", "time_dr", kind="unparsable"),
    ]

    def bad_sms(pos, why):
        q(pages[sms_where[pos]], why, sms_raw[pos], sms_rows[pos]["id"])

    df, _ = split_bad(df, checks, bad_sms)
    legacy_sms = _dedupe(df, "legacy_sms", report)
    for stream, st in _status_report(legacy_sms, df).items():
        report.add_unknown_statuses(stream, st)

    # --- tasks ---
    df = text_frame(task_rows, TASK_COLUMNS).with_columns(
        extracted_at=fetched_series(pages, task_where),
        _stream=pl.Series([pages[i].stream for i in task_where], dtype=pl.String),
    )
    ints = ["sent", "delivered", "expired", "undeliverable", "unknown"]
    df = df.rename({c: f"{c}_t" for c in [*ints, "task_id", "validity"]}).with_columns(
        task_id=int_expr("task_id_t"),
        validity=int_expr("validity_t", pl.Int32()),
        total_price=money_expr("totalprice"),
        **{c: int_expr(f"{c}_t") for c in ints},
    )
    checks = [
        Check("task_id", "task_id_t", "task_id", required=True),
        Check("validity", "validity_t", "validity"),
        Check("totalprice", "totalprice", "total_price", kind="unparsable"),
        *(Check(c, f"{c}_t", c) for c in ints),
    ]

    def bad_task(pos, why):
        q(pages[task_where[pos]], why, task_raw[pos], task_rows[pos]["task_id"])

    df, _ = split_bad(df, checks, bad_task)
    legacy_tasks = _dedupe(df, "legacy_tasks", report)
    return legacy_sms, legacy_tasks, quarantine


def _dedupe(df: pl.DataFrame, table: str, report: TransformReport) -> pl.DataFrame:
    """Latest per key; rows out and duplicates are counted on the stream each row came from."""
    from bsg_analytics.schemas.tables import TABLES

    key = list(TABLES[table].key)
    df = df.with_row_index("_ord")
    keep = df.sort(["extracted_at", "_ord"]).unique(subset=key, keep="last")
    kept_ids = set(keep["_ord"].to_list())
    for stream, ords in df.group_by("_stream").agg(pl.col("_ord")).iter_rows():
        kept = sum(1 for o in ords if o in kept_ids)
        report.stream(stream).rows_out += kept
        report.stream(stream).duplicates += len(ords) - kept
    return conform(keep.sort("_ord"), table)


def _status_report(out: pl.DataFrame, df: pl.DataFrame) -> dict[str, dict[str, int]]:
    if out.is_empty():
        return {}
    return {"legacy_sms": unknown_status_counts(out["status"], KNOWN_MESSAGE_STATUSES)}
