"""`GET /api/campaigns` (or `/api/campaign`) list pages + `GET /api/campaigns/{id}/detail`
bodies -> `campaigns`, `campaign_statistics`.

Low volume (one row per campaign), so pages are decoded with orjson and flattened to text in
Python; the typing and validation are the same column-wise rules as for messages.

- the list gives `message_type` (any of the five types), `start_at`/`real_start_at`,
  `statistics {delivered, sent}`, `calculated_price` (a nullable JSON float, the provider's
  estimate, not the spend: shortest repr -> Decimal), `currency` (-> `list_currency`) and, on
  the pages, the SMS fallback's `statistic` (sample) or `statistics` (table)
  `{delivered, sent}`;
- the detail comes as published, `{"data": {...}}`, or in the pages' locale envelope
  (`{"en-US": {...}}`, any single locale-like key that wraps an object) or bare; it names
  the start times `started_at`/`actual_start_at` (or the list's names), gives its `type`,
  `total_messages`, `total_phones`, `total_price` (a decimal string, 2 or 7 places; also
  spelt `total price`), `currency`, and one count per status (the 13 of
  `CAMPAIGN_STATISTIC_STATUSES`, an unknown one is kept and reported) for `primary` and
  `sms_fallback`. `alternative_channels` is `[]` or null when there was no fallback (no
  `sms_fallback` rows), or `{sms: {statistics}}` (the pages: `statistic`).

`campaigns.currency` is the detail's currency, else the list's (`merge.FALLBACKS`). A campaign
no list shows (Viber, HLR: their ids come from messages) gets its row from its detail alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import TYPE_CHECKING

import orjson
import polars as pl

from bsg_analytics.schemas.statuses import (
    CAMPAIGN_STATUSES,
    FINAL_CAMPAIGN_STATUSES,
    KNOWN_MESSAGE_STATUSES,
)

from .common import (
    FREE,
    JSON,
    LOCALE_RE,
    Check,
    PathError,
    QuarantineRow,
    Spec,
    TransformReport,
    conform,
    fetched_series,
    float_text_to_money_text,
    get_path,
    int_expr,
    money_expr,
    page_object,
    parse_times,
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

_STATS2: dict[str, Spec] = {"delivered": None, "sent": None}
LIST_RECORD_SPEC: dict[str, Spec] = {
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
    "currency": None,
    "alternative_channels": {"sms": {"statistic": _STATS2, "statistics": _STATS2}},
}
LIST_PAGE_SPEC: dict[str, Spec] = {
    "data": LIST_RECORD_SPEC,
    "meta": {"page": {"total": None, "offset": None, "limit": None}},
    "links": FREE,
}
DETAIL_SPEC: dict[str, Spec] = {
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
LIST_COLUMNS += ["list_currency"]  # the list's `currency` (`campaigns.list_currency`)
DETAIL_COLUMNS = [*_SHARED_TEXT, "total_messages", "total_phones", "total_price", "currency"]


DATA_ENVELOPE = "data"  # the published detail: `{"data": {...}}`


def unwrap_detail(body: JSON) -> JSON:
    """A detail body's campaign object: `{"data": {...}}` (published), `{"en-US": {...}}`
    (the pages: any one locale-like key around an object), or the bare object."""
    if not isinstance(body, dict) or "id" in body:
        return body
    if isinstance(body.get(DATA_ENVELOPE), dict):
        return body[DATA_ENVELOPE]
    if (
        len(body) == 1
        and isinstance(next(iter(body.values())), dict)
        and LOCALE_RE.match(next(iter(body)))
    ):
        return next(iter(body.values()))
    return body


def _envelope_extras(body: JSON) -> set[str]:
    """Keys beside `data` in a published detail body (reported as unknown fields)."""
    if isinstance(body, dict) and "id" not in body and isinstance(body.get(DATA_ENVELOPE), dict):
        return {str(k) for k in body if k != DATA_ENVELOPE}
    return set()


def _without_empty_fallback(rec: dict[str, JSON]) -> dict[str, JSON]:
    """`alternative_channels: []` (the published detail when nothing fell back) read as null;
    any other list stays a wrong type."""
    alt = rec.get("alternative_channels")
    if isinstance(alt, list) and not alt:
        return {**rec, "alternative_channels": None}
    return rec


def _list_row(rec: dict[str, JSON]) -> dict[str, str | None]:
    rec = _without_empty_fallback(rec)
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
        "list_currency": scalar_text(rec.get("currency")),
    }


def _detail_row(rec: dict[str, JSON]) -> dict[str, str | None]:
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


def _detail_stats(rec: dict[str, JSON]) -> list[tuple[str, str, int]]:
    """(route, status, count) of a detail; a non-integer count raises PathError."""
    rec = _without_empty_fallback(rec)
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


def _shared(df: pl.DataFrame, zone: tzinfo) -> pl.DataFrame:
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


@dataclass
class _Parsed:
    """Records decoded from raw pages and flattened to text, before typing: `rows[n]` is the
    text of record `raws[n]`, which came from page `where[n][0]` (at `where[n][1]` in its
    `data` list; None for a detail body); `stats[n]`: a detail's statistics."""

    rows: list[dict[str, str | None]] = field(default_factory=list)
    raws: list[JSON] = field(default_factory=list)
    where: list[tuple[int, int | None]] = field(default_factory=list)
    stats: list[list[tuple[str, str, int]]] = field(default_factory=list)

    def on_bad(
        self, pages: list[RawPage], quarantine: list[QuarantineRow]
    ) -> Callable[[int, str], None]:
        """`split_bad`'s callback: the record at a row position goes to quarantine."""

        def bad(pos: int, why: str) -> None:
            i, j = self.where[pos]
            raw = orjson.dumps(self.raws[pos]).decode()
            quarantine.append(quarantine_row(pages[i], why, raw, self.rows[pos]["id"], j))

        return bad


def transform_campaigns(
    list_pages: list[RawPage],
    detail_pages: list[RawPage],
    zone: tzinfo,
    report: TransformReport,
) -> tuple[pl.DataFrame, pl.DataFrame, list[QuarantineRow]]:
    """-> (campaigns, campaign_statistics, quarantine rows)."""
    quarantine: list[QuarantineRow] = []
    lists = _campaigns_from_lists(list_pages, zone, report, quarantine)
    details, statistics = _campaigns_from_details(detail_pages, zone, report, quarantine)
    # list and detail merged: each column group from its own newest source, `currency` the
    # detail's else the list's (`merge.latest`, `merge.FALLBACKS`)
    campaigns = latest(pl.concat([lists, details], how="vertical"), "campaigns")
    report.add_unknown_statuses(
        "campaigns", unknown_status_counts(campaigns["status"], frozenset(CAMPAIGN_STATUSES))
    )
    return campaigns, statistics, quarantine


# --- list pages ------------------------------------------------------------------------------

LIST_CHECKS = [
    *_shared_checks(),
    Check("calculated_price", "calc_price", "calculated_price", kind="unparsable"),
    Check("statistics.delivered", "l_deliv", "list_delivered"),
    Check("statistics.sent", "l_sent", "list_sent"),
    Check("alternative_channels.sms.statistic.delivered", "f_deliv", "fallback_delivered"),
    Check("alternative_channels.sms.statistic.sent", "f_sent", "fallback_sent"),
]


def _campaigns_from_lists(
    pages: list[RawPage], zone: tzinfo, report: TransformReport, quarantine: list[QuarantineRow]
) -> pl.DataFrame:
    """List pages -> `campaigns` rows with the list's columns, one per campaign."""
    counts = report.stream("campaigns")
    parsed = _parse_list_pages(pages, report, quarantine)
    lists = text_frame(parsed.rows, LIST_COLUMNS).with_columns(
        extracted_at=fetched_series(pages, [w[0] for w in parsed.where])
    )
    lists = _shared(lists, zone).with_columns(
        calculated_price=money_expr("calc_price"),
        list_delivered=int_expr("l_deliv"),
        list_sent=int_expr("l_sent"),
        fallback_delivered=int_expr("f_deliv"),
        fallback_sent=int_expr("f_sent"),
    )
    lists, n_bad = split_bad(lists, LIST_CHECKS, parsed.on_bad(pages, quarantine))
    counts.quarantined += n_bad
    lists = lists.with_columns(list_extracted_at=pl.col("extracted_at"))
    n = lists.height
    lists = latest(conform(_finish(lists), "campaigns"), "campaigns")
    counts.duplicates += n - lists.height
    counts.rows_out += lists.height
    return lists


def _parse_list_pages(
    pages: list[RawPage], report: TransformReport, quarantine: list[QuarantineRow]
) -> _Parsed:
    """List pages -> their records as text; bad pages and records go to quarantine."""
    counts = report.stream("campaigns")
    parsed = _Parsed()
    unknown: set[str] = set()
    for i, page in enumerate(pages):
        body = _list_body(page, report, quarantine)
        if body is None:
            continue
        unknown |= {u.removeprefix("data[].") for u in unknown_paths(body, LIST_PAGE_SPEC)}
        for j, rec in enumerate(body["data"]):
            counts.records_in += 1
            if not isinstance(rec, dict):
                counts.quarantined += 1
                reason = "wrong type record: expected object"
                quarantine.append(quarantine_row(page, reason, orjson.dumps(rec).decode(), None, j))
                continue
            key = scalar_text(rec.get("id"))
            try:
                row = _list_row(rec)
            except PathError as exc:
                counts.quarantined += 1
                quarantine.append(
                    quarantine_row(page, str(exc), orjson.dumps(rec).decode(), key, j)
                )
                continue
            parsed.rows.append(row)
            parsed.raws.append(rec)
            parsed.where.append((i, j))
    report.add_unknown_fields("campaigns", unknown)
    return parsed


def _with_data_list(body: JSON) -> dict[str, JSON] | None:
    return body if isinstance(body, dict) and isinstance(body.get("data"), list) else None


def _detail_body(body: JSON) -> dict[str, JSON] | None:
    """The body when it holds a campaign object (`unwrap_detail`), else None."""
    return body if isinstance(body, dict) and isinstance(unwrap_detail(body), dict) else None


def _list_body(
    page: RawPage, report: TransformReport, quarantine: list[QuarantineRow]
) -> dict[str, JSON] | None:
    """A list page's body (an object with a `data` list), or None: quarantined whole."""
    body, reason, raw = page_object(page, _with_data_list, "unexpected page shape: no `data` list")
    if body is not None:
        return body
    counts = report.stream("campaigns")
    counts.records_in += 1
    counts.quarantined += 1
    report.pages_quarantined += 1
    quarantine.append(quarantine_row(page, reason, raw))
    return None


# --- detail bodies ---------------------------------------------------------------------------

DETAIL_CHECKS = [
    *_shared_checks(),
    Check("total_messages", "tm", "total_messages"),
    Check("total_phones", "tp", "total_phones"),
    Check("total_price", "tpr", "total_price", kind="unparsable"),
]


def _campaigns_from_details(
    pages: list[RawPage], zone: tzinfo, report: TransformReport, quarantine: list[QuarantineRow]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Detail bodies -> (`campaigns` rows with the detail's columns, `campaign_statistics`)."""
    counts = report.stream("campaign_detail")
    parsed = _parse_detail_pages(pages, report, quarantine)
    details = text_frame(parsed.rows, DETAIL_COLUMNS).with_columns(
        extracted_at=fetched_series(pages, [w[0] for w in parsed.where]),
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
    details, n_bad = split_bad(details, DETAIL_CHECKS, parsed.on_bad(pages, quarantine))
    counts.quarantined += n_bad
    details = _finish(details).with_columns(detail_extracted_at=pl.col("extracted_at"))
    statistics = _statistics(details, parsed.stats)
    report.add_unknown_statuses(
        "campaign_detail", unknown_status_counts(statistics["status"], KNOWN_MESSAGE_STATUSES)
    )
    n = details.height
    details = latest(conform(details, "campaigns"), "campaigns")
    counts.duplicates += n - details.height
    counts.rows_out += details.height
    return details, statistics


def _parse_detail_pages(
    pages: list[RawPage], report: TransformReport, quarantine: list[QuarantineRow]
) -> _Parsed:
    """Detail bodies (one record each) -> their records as text and their statistics; bad
    bodies go to quarantine."""
    counts = report.stream("campaign_detail")
    parsed = _Parsed()
    unknown: set[str] = set()
    for i, page in enumerate(pages):
        counts.records_in += 1
        body = _detail_record(page, report, quarantine)
        if body is None:
            continue
        rec = unwrap_detail(body)
        assert isinstance(rec, dict)  # `_detail_body` made sure
        unknown |= unknown_paths(rec, DETAIL_SPEC) | _envelope_extras(body)
        try:
            row = _detail_row(rec)
            stats = _detail_stats(rec)
        except PathError as exc:
            counts.quarantined += 1
            key = scalar_text(rec.get("id"))
            quarantine.append(quarantine_row(page, str(exc), orjson.dumps(rec).decode(), key))
            continue
        parsed.rows.append(row)
        parsed.raws.append(rec)
        parsed.where.append((i, None))
        parsed.stats.append(stats)
    report.add_unknown_fields("campaign_detail", unknown)
    return parsed


def _detail_record(
    page: RawPage, report: TransformReport, quarantine: list[QuarantineRow]
) -> dict[str, JSON] | None:
    """A detail body holding a campaign object (`unwrap_detail`), or None: quarantined."""
    body, reason, raw = page_object(page, _detail_body, "unexpected page shape: expected an object")
    if body is not None:
        return body
    report.stream("campaign_detail").quarantined += 1
    report.pages_quarantined += 1
    quarantine.append(quarantine_row(page, reason, raw))
    return None


def _statistics(details: pl.DataFrame, stats: list[list[tuple[str, str, int]]]) -> pl.DataFrame:
    """`campaign_statistics` rows of the detail rows that passed their checks (`_pos`: the
    detail's position in `stats`)."""
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
    return latest(conform(statistics, "campaign_statistics"), "campaign_statistics")


def _finish(df: pl.DataFrame) -> pl.DataFrame:
    return df.with_columns(
        is_final=pl.col("status").is_in(list(FINAL_CAMPAIGN_STATUSES)),
        created_month=pl.col("created_at").dt.strftime("%Y-%m"),
    )
