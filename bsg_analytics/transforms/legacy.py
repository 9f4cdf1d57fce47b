"""Legacy REST bodies -> `legacy_sms`, `legacy_tasks`, `legacy_viber`.

The bodies, as the provider publishes them (`legacy-rest.yaml`) and as the older page shows:

- `POST /rest/sms/getStatus`: ``{"result": [{id, external_id, msisdn, time_sent, time_dr,
  status, price, currency}, ...]}``, one `legacy_sms` row per item (`external_id` is the
  reference; there is no `time_in`). The description's own examples answer one SMS body
  instead: that is read as below.
- `GET /rest/sms/{id}`, `/rest/sms/reference/{ref}` (SmsStatusResponse): one SMS.
- `GET /rest/sms/task/{taskId}` and the page's `/rest/sms/{task_id}`: one task, with the
  counters `sent`, `total`, `queued`, `accepted`, `enroute`, `delivered`, `expired`,
  `undeliverable`, `unknown`.
- `GET /rest/viber/{id}`, `/rest/viber/reference/{ref}` (ViberStatusResponse): one Viber
  message and its SMS fallback: the `alt_*` columns come from the first `alt_route` entry and
  the `alt_route_messages` entry of the same id (with no `alt_route`, the first
  `alt_route_messages` entry).

`/rest/sms/{id}` and `/rest/sms/{task_id}` share a path, so the body's keys decide: a task
has `originator`/`totalprice`/`body`/`undeliverable`, an SMS has `msisdn`/`time_in`/
`reference`. A page of the `legacy_viber` stream (or of a `/rest/viber/` path) is a Viber
body. An error body (`error` other than 0, as a number or a string) is not a row: it is
quarantined with reason `api error <code>: <description>`. A task body carries no id:
`task_id` comes from the body if present (`task_id`, `id`), else from the last path segment
of the endpoint, else from the request params.

Times are the account's wall clock (`yyyy-mm-dd hh:mm:ss`, a `T` allowed between date and
time), or carry their own offset (`2025-01-15T10:30:00.000+00:00`, `...Z`: the description's
`date-time`). A status nobody published (`LEGACY_SMS_STATUSES`, `LEGACY_VIBER_STATUSES`) is
kept and reported under its table (`legacy_sms`, `legacy_viber`; an SMS fallback's under
`legacy_viber.alt_route`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import TYPE_CHECKING

import orjson
import polars as pl

from bsg_analytics.schemas.statuses import LEGACY_SMS_STATUSES, LEGACY_VIBER_STATUSES

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
    phone_expr,
    scalar_text,
    split_bad,
    unknown_paths,
    unknown_status_counts,
)

if TYPE_CHECKING:
    from bsg_analytics.raw import RawPage

VIBER_STREAM = "legacy_viber"  # the stream whose pages are Viber bodies
ALT_STATUS_REPORT = "legacy_viber.alt_route"  # where a fallback's unknown statuses are reported

_TIMES = ("time_in", "time_sent", "time_dr")
_SMS_FIELDS = ("error", "errorDescription", "id", "msisdn", "reference", *_TIMES, "status")
SMS_SPEC: dict[str, Spec] = dict.fromkeys((*_SMS_FIELDS, "price", "currency"))
# one item of getStatus's `result` (the published names, and an SMS body's, tolerated)
STATUS_ITEM_SPEC: dict[str, Spec] = {**SMS_SPEC, "external_id": None}
STATUS_SPEC: dict[str, Spec] = {"error": None, "errorDescription": None, "result": STATUS_ITEM_SPEC}
_TASK_COUNTS = ["sent", "total", "queued", "accepted", "enroute", "delivered", "expired"]
_TASK_COUNTS += ["undeliverable", "unknown"]
_TASK_FIELDS = ("error", "errorDescription", "id", "task_id", "originator", "body", "validity")
TASK_SPEC: dict[str, Spec] = dict.fromkeys((*_TASK_FIELDS, "totalprice", "currency", *_TASK_COUNTS))
ALT_ROUTE_SPEC: dict[str, Spec] = dict.fromkeys(("channel", "id", "status", "price"))
_ALT_FIELDS = ("id", *_TIMES, "status", "price", "currency", "message", "sender")
ALT_MESSAGE_SPEC: dict[str, Spec] = dict.fromkeys(_ALT_FIELDS)
VIBER_SPEC: dict[str, Spec] = {
    **SMS_SPEC,
    "alt_route": ALT_ROUTE_SPEC,
    "alt_route_messages": ALT_MESSAGE_SPEC,
}

_TASK_KEYS = frozenset({"originator", "totalprice", "body", "undeliverable"})
_SMS_KEYS = frozenset({"msisdn", "time_in", "time_sent", "time_dr", "reference"})
_VIBER_KEYS = _SMS_KEYS | {"id", "status", "alt_route", "alt_route_messages"}
_ID_IN_PATH = re.compile(r"/(\d+)/?$")

SMS_COLUMNS = ["id", "msisdn", "reference", *_TIMES, "status", "price", "currency"]
TASK_COLUMNS = ["task_id", "originator", "body", "validity", "totalprice", "currency"]
TASK_COLUMNS += _TASK_COUNTS
ALT_COLUMNS = ["alt_channel", "alt_id", "alt_status", "alt_price", "alt_currency"]
ALT_COLUMNS += ["alt_time_in", "alt_time_sent", "alt_time_dr", "alt_sender", "alt_text"]
VIBER_COLUMNS = SMS_COLUMNS + ALT_COLUMNS

# an offset-bearing time, once a `T` is a space and `Z` is `+00:00`
UTC_AWARE = pl.Datetime("us", "UTC")
_AWARE_FORMAT = "%Y-%m-%d %H:%M:%S%.f%:z"


def kind_of(body: dict[str, JSON], stream: str | None = None, endpoint: str = "") -> str:
    """``status_list``, ``task``, ``sms``, ``viber`` or ``unknown``, from the body's keys
    (and, for a Viber body, the stream or path it came from)."""
    keys = body.keys()
    if "result" in keys and not (_TASK_KEYS | _SMS_KEYS) & keys:
        return "status_list"
    if stream == VIBER_STREAM or "/rest/viber/" in endpoint:
        return "viber" if _VIBER_KEYS & keys else "unknown"
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


@dataclass
class _Sorted:
    """The records of a batch, by the table they go to."""

    sms: Records = field(default_factory=Records)
    tasks: Records = field(default_factory=Records)
    viber: Records = field(default_factory=Records)


def transform_legacy(
    pages: list[RawPage], zone: tzinfo, report: TransformReport
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, list[QuarantineRow]]:
    """-> (legacy_sms, legacy_tasks, legacy_viber, quarantine rows). Counts go to each page's
    stream; a getStatus body counts one record per `result` item."""
    quarantine = Quarantine(report)
    out = _Sorted()
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
            items = _status_items(rec, page, report)
            if items is None:
                counts.records_in += 1
                _sort_record(rec, i, page, report, quarantine, out)
                continue
            for n, item in enumerate(items):
                counts.records_in += 1
                _sort_record(item, i, page, report, quarantine, out, index=n)
    legacy_sms = _sms_table(out.sms, pages, zone, report, quarantine)
    legacy_tasks = _task_table(out.tasks, pages, report, quarantine)
    legacy_viber = _viber_table(out.viber, pages, zone, report, quarantine)
    return legacy_sms, legacy_tasks, legacy_viber, quarantine.rows


def _status_items(rec: JSON, page: RawPage, report: TransformReport) -> list[JSON] | None:
    """The `result` items of a getStatus body (its unknown top-level fields reported), or
    None when `rec` is not one: an error body, a `result` that is not a list, any other body
    (one record, sorted as such)."""
    if not isinstance(rec, dict) or api_error(rec) or not isinstance(rec.get("result"), list):
        return None
    if kind_of(rec, page.stream, page.endpoint) != "status_list":
        return None
    extra = {k: v for k, v in rec.items() if k != "result"}
    report.add_unknown_fields(page.stream, unknown_paths(extra, STATUS_SPEC))
    return rec["result"]


def _sort_record(
    rec: JSON,
    i: int,
    page: RawPage,
    report: TransformReport,
    quarantine: Quarantine,
    out: _Sorted,
    index: int | None = None,
) -> None:
    """One record of page `i` (an item of its `result` list when `index` is given) -> the
    SMS, task or Viber records, or quarantine (not an object, an API error, no known kind)."""
    if not isinstance(rec, dict):
        raw = orjson.dumps(rec).decode()
        quarantine.add(page, "wrong type record: expected object", raw, None, index)
        return
    raw = orjson.dumps(rec).decode()
    key = scalar_text(rec.get("id"))
    if err := api_error(rec):
        quarantine.add(page, err, raw, key or _task_id_from(page), index)
        return
    if index is not None:  # an item of getStatus's `result`
        report.add_unknown_fields(page.stream, unknown_paths(rec, STATUS_ITEM_SPEC, "result[]"))
        row = _sms_row(rec)
        ref = rec.get("external_id")
        row["reference"] = scalar_text(rec.get("reference") if ref is None else ref)
        out.sms.add(row, i, raw, index)
        return
    kind = kind_of(rec, page.stream, page.endpoint)
    if kind == "status_list":
        why = "wrong type result: expected a list of SMS statuses"
        quarantine.add(page, why, raw, key)
    elif kind == "unknown":
        why = "unrecognised legacy body: neither an SMS, a task nor a Viber message"
        quarantine.add(page, why, raw, key)
    elif kind == "sms":
        report.add_unknown_fields(page.stream, unknown_paths(rec, SMS_SPEC))
        out.sms.add(_sms_row(rec), i, raw, None)
    elif kind == "viber":
        alt = _alt_fields(rec)
        if isinstance(alt, str):
            quarantine.add(page, alt, raw, key)
            return
        report.add_unknown_fields(page.stream, unknown_paths(rec, VIBER_SPEC))
        out.viber.add({**_sms_row(rec), **alt}, i, raw, None)
    else:
        report.add_unknown_fields(page.stream, unknown_paths(rec, TASK_SPEC))
        row = {c: scalar_text(rec.get(c)) for c in TASK_COLUMNS}
        row["task_id"] = scalar_text(rec.get("task_id") or rec.get("id")) or _task_id_from(page)
        row["totalprice"] = float_text_to_money_text(rec.get("totalprice"))
        out.tasks.add(row, i, raw, None)


def _sms_row(rec: dict[str, JSON]) -> dict[str, str | None]:
    row = {c: scalar_text(rec.get(c)) for c in SMS_COLUMNS}
    row["price"] = float_text_to_money_text(rec.get("price"))
    return row


def _alt_fields(rec: dict[str, JSON]) -> dict[str, str | None] | str:
    """The `alt_*` text of a Viber body: its first `alt_route` entry and the
    `alt_route_messages` entry of the same id (with no route, the first message). A reason
    (str) when either is not a list of objects."""
    routes, messages = rec.get("alt_route"), rec.get("alt_route_messages")
    for name, value in (("alt_route", routes), ("alt_route_messages", messages)):
        if value is not None and not isinstance(value, list):
            return f"wrong type {name}: expected a list"
        if value and not all(isinstance(v, dict) for v in value):
            return f"wrong type {name}[]: expected objects"
    route: dict[str, JSON] = routes[0] if routes else {}
    message: dict[str, JSON] = {}
    if route:
        rid = (scalar_text(route.get("id")) or "").strip()
        same = [m for m in messages or () if (scalar_text(m.get("id")) or "").strip() == rid]
        message = same[0] if same and rid else {}
    elif messages:
        message = messages[0]

    def pick(name: str) -> JSON:
        value = route.get(name)
        return message.get(name) if value is None else value

    return {
        "alt_channel": scalar_text(route.get("channel")),
        "alt_id": scalar_text(pick("id")),
        "alt_status": scalar_text(pick("status")),
        "alt_price": float_text_to_money_text(pick("price")),
        "alt_currency": scalar_text(message.get("currency")),
        "alt_time_in": scalar_text(message.get("time_in")),
        "alt_time_sent": scalar_text(message.get("time_sent")),
        "alt_time_dr": scalar_text(message.get("time_dr")),
        "alt_sender": scalar_text(message.get("sender")),
        "alt_text": scalar_text(message.get("message")),
    }


def _times(df: pl.DataFrame, cols: dict[str, str], zone: tzinfo) -> pl.DataFrame:
    """`parse_times` for legacy times (cols maps out -> src): the account's wall clock, a `T`
    allowed between date and time; a time with its own offset (`+02:00`, `Z`) is that
    instant; an empty or blank text is null. The source text columns stay, for the checks."""
    blank = [pl.col(src).replace("", None).alias(src) for src in cols.values()]
    df = df.with_columns(pl.when(e.str.strip_chars() != "").then(e) for e in blank)
    norm = {
        out: pl.col(src)
        .str.strip_chars()
        .str.replace(r"^(\d{4}-\d{2}-\d{2})T", "${1} ")
        .str.replace(r"Z$", "+00:00")
        for out, src in cols.items()
    }
    df = df.with_columns(
        [e.alias(f"__n_{out}") for out, e in norm.items()]
        + [
            e.str.strptime(UTC_AWARE, _AWARE_FORMAT, strict=False).alias(f"__a_{out}")
            for out, e in norm.items()
        ]
    )
    df = parse_times(df, {out: f"__n_{out}" for out in cols}, zone)
    return df.with_columns(pl.coalesce(out, f"__a_{out}").alias(out) for out in cols).drop(
        [f"__n_{out}" for out in cols] + [f"__a_{out}" for out in cols]
    )


_BASE_CHECKS = [
    Check("id", "id_t", "message_id", required=True),
    Check("msisdn", "msisdn_t", "msisdn", kind="unparsable"),
    Check("price", "price_t", "price", kind="unparsable"),
    Check("time_in", "ti", "time_in", kind="unparsable"),
    Check("time_sent", "ts", "time_sent", kind="unparsable"),
    Check("time_dr", "td", "time_dr", kind="unparsable"),
]
SMS_CHECKS = _BASE_CHECKS
VIBER_CHECKS = [
    *_BASE_CHECKS,
    Check("alt_route.id", "alt_id", "alt_message_id"),
    Check("alt_route.price", "alt_price_t", "alt_price", kind="unparsable"),
    Check("alt_route_messages.time_in", "ati", "alt_time_in", kind="unparsable"),
    Check("alt_route_messages.time_sent", "ats", "alt_time_sent", kind="unparsable"),
    Check("alt_route_messages.time_dr", "atd", "alt_time_dr", kind="unparsable"),
]
TASK_CHECKS = [
    Check("task_id", "task_id_t", "task_id", required=True),
    Check("validity", "validity_t", "validity"),
    Check("totalprice", "totalprice", "total_price", kind="unparsable"),
    *(Check(c, f"{c}_t", c) for c in _TASK_COUNTS),
]
_BASE_TIMES = {"time_in": "ti", "time_sent": "ts", "time_dr": "td"}
_ALT_TIMES = {"alt_time_in": "ati", "alt_time_sent": "ats", "alt_time_dr": "atd"}


def _typed_base(df: pl.DataFrame, zone: tzinfo) -> pl.DataFrame:
    """The columns an SMS and a Viber message share, typed (text kept for the checks)."""
    df = df.rename({"id": "id_t", "msisdn": "msisdn_t", "price": "price_t"}).with_columns(
        message_id=int_expr("id_t"),
        msisdn=phone_expr("msisdn_t"),
        price=money_expr("price_t"),
    )
    df = df.rename({out: src for out, src in _BASE_TIMES.items()})
    return _times(df, _BASE_TIMES, zone)


def _sms_table(
    sms: Records,
    pages: list[RawPage],
    zone: tzinfo,
    report: TransformReport,
    quarantine: Quarantine,
) -> pl.DataFrame:
    """SMS records -> `legacy_sms` (failing records to quarantine)."""
    df = _typed_base(sms.frame(SMS_COLUMNS, pages), zone)
    df, _ = split_bad(df, SMS_CHECKS, sms.on_bad(pages, quarantine, "id"))
    legacy_sms = latest_counted(df, "legacy_sms", report)
    if not legacy_sms.is_empty():  # reported under the table, whichever stream a row came from
        known = frozenset(LEGACY_SMS_STATUSES)
        report.add_unknown_statuses(
            "legacy_sms", unknown_status_counts(legacy_sms["status"], known)
        )
    return legacy_sms


def _viber_table(
    viber: Records,
    pages: list[RawPage],
    zone: tzinfo,
    report: TransformReport,
    quarantine: Quarantine,
) -> pl.DataFrame:
    """Viber records -> `legacy_viber` (failing records to quarantine)."""
    df = _typed_base(viber.frame(VIBER_COLUMNS, pages), zone)
    df = df.rename({"alt_price": "alt_price_t", **{o: s for o, s in _ALT_TIMES.items()}})
    df = df.with_columns(alt_message_id=int_expr("alt_id"), alt_price=money_expr("alt_price_t"))
    df = _times(df, _ALT_TIMES, zone)
    df, _ = split_bad(df, VIBER_CHECKS, viber.on_bad(pages, quarantine, "id"))
    legacy_viber = latest_counted(df, "legacy_viber", report)
    if not legacy_viber.is_empty():
        viber_known = frozenset(LEGACY_VIBER_STATUSES)
        report.add_unknown_statuses(
            "legacy_viber", unknown_status_counts(legacy_viber["status"], viber_known)
        )
        sms_known = frozenset(LEGACY_SMS_STATUSES)
        report.add_unknown_statuses(
            ALT_STATUS_REPORT, unknown_status_counts(legacy_viber["alt_status"], sms_known)
        )
    return legacy_viber


def _task_table(
    tasks: Records,
    pages: list[RawPage],
    report: TransformReport,
    quarantine: Quarantine,
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
    return latest_counted(df, "legacy_tasks", report)
