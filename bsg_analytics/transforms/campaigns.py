"""`GET /api/campaign` list pages + `GET /api/campaigns/{id}/detail` bodies -> `campaigns`,
`campaign_statistics`.

Low volume (one row per campaign), so pages are decoded with orjson and flattened to text in
Python; the typing and validation are the same column-wise rules as for messages.

- the list gives `message_type`, `start_at`/`real_start_at`, `statistics {delivered, sent}`,
  `calculated_price` (a JSON float: shortest repr -> Decimal) and the SMS fallback's
  `statistic` (sample) or `statistics` (table) `{delivered, sent}`;
- the detail comes in a locale envelope (`{"en-US": {...}}`, any single locale-like key that
  wraps an object) or bare, names the start times `started_at`/`actual_start_at` (or the
  list's names), and gives `total_messages`, `total_phones`, `total_price` (also spelt
  `total price`), `currency` and one count per status for `primary` and `sms_fallback`.
"""

from __future__ import annotations

from datetime import tzinfo

import orjson
import polars as pl

from bsg_analytics.schemas.statuses import (
    CAMPAIGN_STATUSES,
    FINAL_CAMPAIGN_STATUSES,
    KNOWN_MESSAGE_STATUSES,
)

from .common import (
    FREE,
    LOCALE_RE,
    Check,
    PathError,
    QuarantineRow,
    TransformReport,
    conform,
    fetched_series,
    float_text_to_money_text,
    get_path,
    int_expr,
    money_expr,
    page_file,
    parse_times,
    scalar_text,
    split_bad,
    text_frame,
    unknown_paths,
    unknown_status_counts,
)
from .merge import latest

_STATS2 = {"delivered": None, "sent": None}
LIST_RECORD_SPEC = {
    "id": None,
    "name": None,
    "sender": None,
    "status": None,
    "message_type": None,
    "type": None,
    "start_at": None,
    "real_start_at": None,
    "finished_at": None,
    "created_at": None,
    "statistics": _STATS2,
    "statistic": _STATS2,
    "calculated_price": None,
    "alternative_channels": {"sms": {"statistic": _STATS2, "statistics": _STATS2}},
}
LIST_PAGE_SPEC = {
    "data": LIST_RECORD_SPEC,
    "meta": {"page": {"total": None, "offset": None, "limit": None}},
    "links": FREE,
}
DETAIL_SPEC = {
    "id": None,
    "name": None,
    "sender": None,
    "status": None,
    "type": None,
    "message_type": None,
    "start_at": None,
    "real_start_at": None,
    "started_at": None,
    "actual_start_at": None,
    "finished_at": None,
    "created_at": None,
    # keys are statuses: unknown ones are reported as statuses, not as fields
    "statistics": FREE,
    "statistic": FREE,
    "alternative_channels": {"sms": {"statistics": FREE, "statistic": FREE}},
    "total_messages": None,
    "total_phones": None,
    "total_price": None,
    "total price": None,
    "currency": None,
}

_SHARED_TEXT = ["id", "name", "sender", "status", "channel", "start", "real_start", "finished"]
_SHARED_TEXT += ["created"]
LIST_COLUMNS = [*_SHARED_TEXT, "calc_price", "l_deliv", "l_sent", "f_deliv", "f_sent"]
DETAIL_COLUMNS = [*_SHARED_TEXT, "total_messages", "total_phones", "total_price", "currency"]


def unwrap_detail(body):
    """`{"en-US": {...}}` (any one locale-like key around an object) or the bare object."""
    if (
        isinstance(body, dict)
        and len(body) == 1
        and "id" not in body
        and isinstance(next(iter(body.values())), dict)
        and LOCALE_RE.match(next(iter(body)))
    ):
        return next(iter(body.values()))
    return body


def _list_row(rec: dict) -> dict:
    return {
        "id": scalar_text(rec.get("id")),
        "name": scalar_text(rec.get("name")),
        "sender": scalar_text(rec.get("sender")),
        "status": scalar_text(rec.get("status")),
        "channel": scalar_text(get_path(rec, "message_type", "type")),
        "start": scalar_text(rec.get("start_at")),
        "real_start": scalar_text(rec.get("real_start_at")),
        "finished": scalar_text(rec.get("finished_at")),
        "created": scalar_text(rec.get("created_at")),
        "calc_price": float_text_to_money_text(rec.get("calculated_price")),
        "l_deliv": scalar_text(get_path(rec, "statistics.delivered", "statistic.delivered")),
        "l_sent": scalar_text(get_path(rec, "statistics.sent", "statistic.sent")),
        "f_deliv": scalar_text(
            get_path(
                rec,
                "alternative_channels.sms.statistic.delivered",
                "alternative_channels.sms.statistics.delivered",
            )
        ),
        "f_sent": scalar_text(
            get_path(
                rec,
                "alternative_channels.sms.statistic.sent",
                "alternative_channels.sms.statistics.sent",
            )
        ),
    }


def _detail_row(rec: dict) -> dict:
    return {
        "id": scalar_text(rec.get("id")),
        "name": scalar_text(rec.get("name")),
        "sender": scalar_text(rec.get("sender")),
        "status": scalar_text(rec.get("status")),
        "channel": scalar_text(get_path(rec, "type", "message_type")),
        "start": scalar_text(get_path(rec, "started_at", "start_at")),
        "real_start": scalar_text(get_path(rec, "actual_start_at", "real_start_at")),
        "finished": scalar_text(rec.get("finished_at")),
        "created": scalar_text(rec.get("created_at")),
        "total_messages": scalar_text(rec.get("total_messages")),
        "total_phones": scalar_text(rec.get("total_phones")),
        "total_price": float_text_to_money_text(get_path(rec, "total_price", "total price")),
        "currency": scalar_text(rec.get("currency")),
    }


def _detail_stats(rec: dict) -> list[tuple[str, str, int]]:
    """(route, status, count) of a detail; a non-integer count raises PathError."""
    out = []
    routes = (
        ("primary", get_path(rec, "statistics", "statistic")),
        (
            "sms_fallback",
            get_path(
                rec, "alternative_channels.sms.statistics", "alternative_channels.sms.statistic"
            ),
        ),
    )
    for route, stats in routes:
        if stats is None:
            continue
        if not isinstance(stats, dict):
            raise PathError(f"wrong type {route} statistics: expected object")
        for status, n in stats.items():
            if isinstance(n, str) and n.strip().isdigit():
                n = int(n)
            if isinstance(n, bool) or not isinstance(n, int) or n < 0:
                raise PathError(f"wrong type statistics.{status}: {scalar_text(n)}")
            out.append((route, status, n))
    return out


def _shared_checks() -> list[Check]:
    return [
        Check("id", "id", "campaign_id", required=True),
        Check("created_at", "created", "created_at", required=True, kind="unparsable"),
        Check("start_at", "start", "start_at", kind="unparsable"),
        Check("real_start_at", "real_start", "real_start_at", kind="unparsable"),
        Check("finished_at", "finished", "finished_at", kind="unparsable"),
    ]


def _shared(df: pl.DataFrame, zone) -> pl.DataFrame:
    df = df.with_columns(campaign_id=int_expr("id"))
    return parse_times(
        df,
        {
            "created_at": "created",
            "start_at": "start",
            "real_start_at": "real_start",
            "finished_at": "finished",
        },
        zone,
    )


def transform_campaigns(
    list_pages: list, detail_pages: list, zone: tzinfo, report: TransformReport
):
    """-> (campaigns, campaign_statistics, quarantine rows)."""
    quarantine: list[QuarantineRow] = []
    lc = report.stream("campaigns")
    dc = report.stream("campaign_detail")

    def q(page, reason, raw, key, index=None):
        quarantine.append(
            QuarantineRow(page.endpoint, reason, raw, key, page_file(page), page.fetched_at, index)
        )

    # --- list pages ---
    rows: list[dict] = []
    raws: list = []
    where: list[tuple[int, int]] = []
    unknown: set[str] = set()
    for i, page in enumerate(list_pages):
        try:
            body = orjson.loads(page.body)
        except orjson.JSONDecodeError as exc:
            lc.records_in += 1
            lc.quarantined += 1
            report.pages_quarantined += 1
            q(page, f"not JSON: {exc}", page.body.decode("utf-8", "replace"), None)
            continue
        if not isinstance(body, dict) or not isinstance(body.get("data"), list):
            lc.records_in += 1
            lc.quarantined += 1
            report.pages_quarantined += 1
            q(page, "unexpected page shape: no `data` list", orjson.dumps(body).decode(), None)
            continue
        unknown |= {u.removeprefix("data[].") for u in unknown_paths(body, LIST_PAGE_SPEC)}
        for j, rec in enumerate(body["data"]):
            lc.records_in += 1
            key = scalar_text(rec.get("id")) if isinstance(rec, dict) else None
            if not isinstance(rec, dict):
                lc.quarantined += 1
                q(page, "wrong type record: expected object", orjson.dumps(rec).decode(), key, j)
                continue
            try:
                rows.append(_list_row(rec))
            except PathError as exc:
                lc.quarantined += 1
                q(page, str(exc), orjson.dumps(rec).decode(), key, j)
                continue
            raws.append(rec)
            where.append((i, j))
    report.add_unknown_fields("campaigns", unknown)

    lists = text_frame(rows, LIST_COLUMNS).with_columns(
        extracted_at=fetched_series(list_pages, [w[0] for w in where])
    )
    lists = _shared(lists, zone).with_columns(
        calculated_price=money_expr("calc_price"),
        list_delivered=int_expr("l_deliv"),
        list_sent=int_expr("l_sent"),
        fallback_delivered=int_expr("f_deliv"),
        fallback_sent=int_expr("f_sent"),
    )
    checks = [
        *_shared_checks(),
        Check("calculated_price", "calc_price", "calculated_price", kind="unparsable"),
        Check("statistics.delivered", "l_deliv", "list_delivered"),
        Check("statistics.sent", "l_sent", "list_sent"),
        Check("alternative_channels.sms.statistic.delivered", "f_deliv", "fallback_delivered"),
        Check("alternative_channels.sms.statistic.sent", "f_sent", "fallback_sent"),
    ]

    def bad_list(pos, why):
        i, j = where[pos]
        q(list_pages[i], why, orjson.dumps(raws[pos]).decode(), rows[pos]["id"], j)

    lists, n_bad = split_bad(lists, checks, bad_list)
    lc.quarantined += n_bad
    lists = lists.with_columns(list_extracted_at=pl.col("extracted_at"))
    n = lists.height
    lists = latest(conform(_finish(lists), "campaigns"), "campaigns")
    lc.duplicates += n - lists.height
    lc.rows_out += lists.height

    # --- detail bodies ---
    rows, raws, where, stats = [], [], [], []
    unknown = set()
    for i, page in enumerate(detail_pages):
        dc.records_in += 1
        try:
            body = orjson.loads(page.body)
        except orjson.JSONDecodeError as exc:
            dc.quarantined += 1
            report.pages_quarantined += 1
            q(page, f"not JSON: {exc}", page.body.decode("utf-8", "replace"), None)
            continue
        rec = unwrap_detail(body)
        key = scalar_text(rec.get("id")) if isinstance(rec, dict) else None
        if not isinstance(rec, dict):
            dc.quarantined += 1
            report.pages_quarantined += 1
            q(page, "unexpected page shape: expected an object", orjson.dumps(body).decode(), key)
            continue
        unknown |= unknown_paths(rec, DETAIL_SPEC)
        try:
            row = _detail_row(rec)
            st = _detail_stats(rec)
        except PathError as exc:
            dc.quarantined += 1
            q(page, str(exc), orjson.dumps(rec).decode(), key)
            continue
        rows.append(row)
        raws.append(rec)
        where.append((i, 0))
        stats.append(st)
    report.add_unknown_fields("campaign_detail", unknown)

    details = text_frame(rows, DETAIL_COLUMNS).with_columns(
        extracted_at=fetched_series(detail_pages, [w[0] for w in where]),
        _pos=pl.int_range(pl.len(), dtype=pl.Int64),
    )
    details = _shared(details, zone)
    details = details.rename(
        {"total_messages": "tm", "total_phones": "tp", "total_price": "tpr"}
    ).with_columns(
        total_messages=int_expr("tm"),
        total_phones=int_expr("tp"),
        total_price=money_expr("tpr"),
    )
    checks = [
        *_shared_checks(),
        Check("total_messages", "tm", "total_messages"),
        Check("total_phones", "tp", "total_phones"),
        Check("total_price", "tpr", "total_price", kind="unparsable"),
    ]

    def bad_detail(pos, why):
        page = detail_pages[where[pos][0]]
        q(page, why, orjson.dumps(raws[pos]).decode(), rows[pos]["id"])

    details, n_bad = split_bad(details, checks, bad_detail)
    dc.quarantined += n_bad
    details = _finish(details).with_columns(detail_extracted_at=pl.col("extracted_at"))
    # statistics of the detail rows that passed
    st_rows = []
    for pos, cid, created_month, ext in details.select(
        "_pos", "campaign_id", "created_month", "extracted_at"
    ).iter_rows():
        for route, status, n_msgs in stats[pos]:
            st_rows.append((cid, route, status, n_msgs, created_month, ext))
    statistics = pl.DataFrame(
        st_rows,
        schema={
            "campaign_id": pl.Int64,
            "route": pl.String,
            "status": pl.String,
            "messages": pl.Int64,
            "created_month": pl.String,
            "extracted_at": pl.Datetime("us", "UTC"),
        },
        orient="row",
    )
    statistics = latest(conform(statistics, "campaign_statistics"), "campaign_statistics")
    report.add_unknown_statuses(
        "campaign_detail", unknown_status_counts(statistics["status"], KNOWN_MESSAGE_STATUSES)
    )
    n = details.height
    details = latest(conform(details, "campaigns"), "campaigns")
    dc.duplicates += n - details.height
    dc.rows_out += details.height

    campaigns = latest(pl.concat([lists, details], how="vertical"), "campaigns")
    report.add_unknown_statuses(
        "campaigns", unknown_status_counts(campaigns["status"], frozenset(CAMPAIGN_STATUSES))
    )
    return campaigns, statistics, quarantine


def _finish(df: pl.DataFrame) -> pl.DataFrame:
    return df.with_columns(
        is_final=pl.col("status").is_in(list(FINAL_CAMPAIGN_STATUSES)),
        created_month=pl.col("created_at").dt.strftime("%Y-%m"),
    )
