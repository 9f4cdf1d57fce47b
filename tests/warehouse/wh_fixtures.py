"""Small Parquet fixture tables for the warehouse and report tests.

`make_frame` builds a frame with exactly a table's declared schema from a list of dicts:
money is cast from strings with `.cast(pl.Decimal(18, 7))` (never through `from_dicts`
schema overrides, which turn strings into nulls), times are UTC.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl

from bsg_analytics.schemas.tables import TABLES

UTC = dt.UTC
EXTRACTED_AT = dt.datetime(2026, 3, 5, 12, 0, tzinfo=UTC)


def ts(text: str | None) -> dt.datetime | None:
    """'2026-03-01 10:00:00' (UTC) -> an aware datetime."""
    if text is None:
        return None
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def _derived(table_name: str, row: dict) -> dict:
    row = dict(row)
    row.setdefault("extracted_at", EXTRACTED_AT)
    part = TABLES[table_name].partition
    created = row.get("created_at")
    if part == "created_date" and "created_date" not in row and created is not None:
        row["created_date"] = created.astimezone(UTC).date()
    if part == "created_month" and "created_month" not in row:
        row["created_month"] = created.strftime("%Y-%m") if created else "2026-03"
    if part == "extracted_date" and "extracted_date" not in row:
        row["extracted_date"] = row["extracted_at"].date()
    return row


def make_frame(table_name: str, rows: list[dict]) -> pl.DataFrame:
    """A frame with exactly `TABLES[table_name].schema`; absent keys are null."""
    table = TABLES[table_name]
    unknown = {k for r in rows for k in r} - set(table.schema)
    assert not unknown, f"not columns of {table_name}: {unknown}"
    rows = [_derived(table_name, r) for r in rows]
    columns = []
    for name, dtype in table.schema.items():
        values = [r.get(name) for r in rows]
        if isinstance(dtype, pl.Decimal):
            strings = [None if v is None else str(v) for v in values]
            series = pl.Series(name, strings, dtype=pl.String).cast(dtype)
        elif isinstance(dtype, pl.Datetime):
            naive = [None if v is None else v.astimezone(UTC).replace(tzinfo=None) for v in values]
            series = pl.Series(name, naive, dtype=pl.Datetime("us")).dt.replace_time_zone("UTC")
        else:
            series = pl.Series(name, values, dtype=dtype)
        columns.append(series)
    frame = pl.DataFrame(columns)
    assert frame.schema == table.polars_schema
    return frame


def write_table(
    root: Path | str, table_name: str, rows: list[dict], include_key: bool = True
) -> pl.DataFrame:
    """Write rows under `root/parquet/<table>/` hive-partitioned as the table declares."""
    table = TABLES[table_name]
    frame = make_frame(table_name, rows)
    base = Path(root) / "parquet" / table_name
    base.mkdir(parents=True, exist_ok=True)
    if table.partition is None:
        frame.write_parquet(base / "part-0.parquet")
        return frame
    for (value,), part in frame.group_by([table.partition], maintain_order=True):
        folder = base / f"{table.partition}={value}"
        folder.mkdir(parents=True, exist_ok=True)
        out = part if include_key else part.drop(table.partition)
        out.write_parquet(folder / "part-0.parquet")
    return frame


def message(message_id: int, **fields) -> dict:
    """A messages row with times given as 'YYYY-MM-DD hh:mm:ss' UTC strings."""
    row = {"message_id": message_id, "source": "rest", "phone": "380661234567"}
    for key, value in fields.items():
        row[key] = ts(value) if key.endswith("_at") and isinstance(value, str) else value
    if "created_at" not in row:
        row["created_at"] = row.get("sent_at")
    return row


# --- the hand-computed fixture (see the expected values in test_metric_views.py) ----------

MESSAGES = [
    # 2026-03-01, SMS from Acme, campaign 100 (EUR)
    message(1, campaign_id=100, channel="sms", sender="Acme", status="delivered",
            created_at="2026-03-01 09:59:00", sent_at="2026-03-01 10:00:00",
            delivered_at="2026-03-01 10:00:10", amount_value="0.0350000", amount_currency="EUR"),
    message(2, campaign_id=100, channel="sms", sender="Acme", status="undelivered",
            sent_at="2026-03-01 11:00:00", amount_value="0.035", amount_currency="EUR"),
    message(3, campaign_id=100, channel="sms", sender="Acme", status="scheduled",
            created_at="2026-03-01 12:00:00"),
    message(4, campaign_id=100, channel="sms", sender="Acme", status="delivered",
            sent_at="2026-03-01 23:30:00", delivered_at="2026-03-01 23:30:30",
            amount_value="0.035", amount_currency="EUR"),
    message(5, campaign_id=100, channel="sms", sender="Acme", status="sent",
            sent_at="2026-03-01 13:00:00", amount_value="0.035", amount_currency="EUR"),
    # created the day before, sent on 03-01: its day is the sent day
    message(6, campaign_id=100, channel="sms", sender="Acme", status="delivered",
            created_at="2026-02-28 23:50:00", sent_at="2026-03-01 00:10:00",
            delivered_at="2026-03-01 00:11:40", amount_value="0.04", amount_currency="EUR"),
    # 2026-03-01, RCS from AcmeBot, campaign 200 (USD)
    message(7, campaign_id=200, channel="rcs", sender="AcmeBot", status="read",
            sent_at="2026-03-01 08:00:00", delivered_at="2026-03-01 08:00:20",
            amount_value="0.05", amount_currency="USD"),
    message(8, campaign_id=200, channel="rcs", sender="AcmeBot", status="delivered",
            sent_at="2026-03-01 09:00:00", delivered_at="2026-03-01 09:01:00",
            amount_value="0.05", amount_currency="USD"),
    message(9, campaign_id=200, channel="rcs", sender="AcmeBot", status="undelivered",
            sent_at="2026-03-01 10:00:00", amount_value="0.05", amount_currency="USD",
            fallback_sms_parts=1, fallback_sms_ids=[901],
            fallback_channel="sms", fallback_parts=1, fallback_ids=[901]),
    message(10, campaign_id=200, channel="rcs", sender="AcmeBot", status="failed",
            sent_at="2026-03-01 10:05:00", amount_value="0.05", amount_currency="USD",
            fallback_sms_parts=2, fallback_sms_ids=[902, 903],
            fallback_channel="sms", fallback_parts=2, fallback_ids=[902, 903]),
    message(11, campaign_id=200, channel="rcs", sender="AcmeBot", status="expired",
            sent_at="2026-03-01 10:10:00", amount_value="0.05", amount_currency="USD",
            fallback_sms_parts=1, fallback_sms_ids=[904],
            fallback_channel="sms", fallback_parts=1, fallback_ids=[904]),
    # the SMS those RCS messages fell back to (904 never arrived in the table)
    message(901, campaign_id=200, channel="sms", sender="Acme", status="delivered",
            sent_at="2026-03-01 10:01:00", delivered_at="2026-03-01 10:01:05",
            amount_value="0.03", amount_currency="USD"),
    message(902, campaign_id=200, channel="sms", sender="Acme", status="delivered",
            sent_at="2026-03-01 10:06:00", delivered_at="2026-03-01 10:06:05",
            amount_value="0.03", amount_currency="USD"),
    message(903, campaign_id=200, channel="sms", sender="Acme", status="undelivered",
            sent_at="2026-03-01 10:06:00", amount_value="0.03", amount_currency="USD"),
    # 2026-03-02
    message(12, campaign_id=300, channel="sms", sender="Acme", status="delivered",
            sent_at="2026-03-02 10:00:00", delivered_at="2026-03-02 10:00:40",
            amount_value="0.035", amount_currency="EUR"),
    message(13, campaign_id=300, channel="sms", sender="Acme", status="moderation",
            created_at="2026-03-02 11:00:00"),
    message(14, channel="sms", sender="Solo", status="scheduled", created_at="2026-03-02 12:00:00"),
]  # fmt: skip

CAMPAIGNS = [
    {"campaign_id": 100, "name": "Spring sale", "sender": "Acme", "channel": "sms",
     "status": "done", "is_final": True, "created_at": ts("2026-02-28 20:00:00"),
     "list_sent": 6, "list_delivered": 3, "currency": "EUR", "total_price": "0.2150000"},
    {"campaign_id": 200, "name": "Bot promo", "sender": "AcmeBot", "channel": "rcs",
     "status": "done", "is_final": True, "created_at": ts("2026-03-01 07:00:00"),
     "list_sent": 5, "list_delivered": 2, "fallback_sent": 3, "fallback_delivered": 2},
    {"campaign_id": 400, "name": "Old", "sender": "Acme", "channel": "sms", "status": "done",
     "is_final": True, "created_at": ts("2026-01-10 07:00:00"), "list_sent": 10,
     "list_delivered": 9},
]  # fmt: skip

CAMPAIGN_STATISTICS = [
    {"campaign_id": 100, "route": "primary", "status": s, "messages": n,
     "created_month": "2026-02"}
    for s, n in [("delivered", 3), ("undelivered", 1), ("sent", 1), ("scheduled", 1),
                 ("expired", 1)]
] + [
    {"campaign_id": 200, "route": "primary", "status": s, "messages": n,
     "created_month": "2026-03"}
    for s, n in [("read", 1), ("delivered", 1), ("undelivered", 1), ("failed", 1),
                 ("expired", 1)]
] + [
    {"campaign_id": 200, "route": "sms_fallback", "status": s, "messages": n,
     "created_month": "2026-03"}
    for s, n in [("delivered", 2), ("undelivered", 1)]
]  # fmt: skip


# --- fallbacks to both channels (see test_metric_views.py::test_fallback_effectiveness_*) ----
# All on 2026-03-03. Primaries: RCS from AcmeBot, Viber from ShopViber, an SMS from Acme, a
# WhatsApp and an HLR message; their fallbacks are listed messages themselves (1xx), but 133.


def _fb(message_id: int, to: str, ids: list[int], **fields) -> dict:
    """A primary whose `alternative_channels` names `to` with `ids` (written as today)."""
    sms = to == "sms"
    return message(
        message_id, fallback_channel=to, fallback_parts=len(ids) or 1, fallback_ids=ids,
        fallback_sms_parts=(len(ids) or 1) if sms else None, fallback_sms_ids=ids if sms else None,
        **fields,
    )  # fmt: skip


D3 = "2026-03-03 10:00:00"
FALLBACK_MESSAGES = [
    _fb(21, "sms", [121], campaign_id=210, channel="rcs", sender="AcmeBot",
        status="undelivered", sent_at=D3),
    _fb(22, "viber", [122], campaign_id=210, channel="rcs", sender="AcmeBot", status="failed",
        sent_at=D3),
    _fb(23, "viber", [123], campaign_id=210, channel="rcs", sender="AcmeBot", status="failed",
        sent_at=D3),
    # a Viber alternative without ids yet: in the viber group, not fallen back
    _fb(24, "viber", [], campaign_id=210, channel="rcs", sender="AcmeBot", status="delivered",
        sent_at=D3),
    # written before fallback_channel existed: an SMS fallback from fallback_sms_ids alone
    message(61, campaign_id=210, channel="rcs", sender="AcmeBot", status="undelivered",
            sent_at=D3, fallback_sms_parts=1, fallback_sms_ids=[161]),
    message(62, campaign_id=210, channel="rcs", sender="AcmeBot", status="delivered",
            sent_at=D3, fallback_sms_parts=1, fallback_sms_ids=[]),
    # Viber to SMS: 31 in two parts (both delivered), 32's SMS never arrived
    _fb(31, "sms", [131, 132], campaign_id=300, channel="viber", sender="ShopViber",
        status="not_viber_user", sent_at=D3),
    _fb(32, "sms", [133], campaign_id=300, channel="viber", sender="ShopViber",
        status="not_viber_user", sent_at=D3),
    message(33, campaign_id=300, channel="viber", sender="ShopViber", status="delivered",
            sent_at=D3),
    # SMS to Viber
    _fb(41, "viber", [141], campaign_id=410, channel="sms", sender="Acme", status="undelivered",
        sent_at=D3),
    message(51, campaign_id=510, channel="whatsapp", sender="AcmeWA", status="delivered",
            sent_at=D3),
    message(71, campaign_id=710, channel="hlr", sender="hlr", status="delivered", sent_at=D3),
    # the fallbacks
    message(121, campaign_id=210, channel="sms", sender="Acme", status="delivered", sent_at=D3),
    message(161, campaign_id=210, channel="sms", sender="Acme", status="delivered", sent_at=D3),
    message(122, campaign_id=210, channel="viber", sender="AcmeViber", status="delivered",
            sent_at=D3),
    message(123, campaign_id=210, channel="viber", sender="AcmeViber", status="not_viber_user",
            sent_at=D3),
    message(131, campaign_id=300, channel="sms", sender="ShopSMS", status="delivered",
            sent_at=D3),
    message(132, campaign_id=300, channel="sms", sender="ShopSMS", status="delivered",
            sent_at=D3),
    message(141, campaign_id=410, channel="viber", sender="AcmeViber", status="read",
            sent_at=D3),
]  # fmt: skip


OLD_MESSAGE_IDS = (61, 62)  # written to a file of their own without the new columns
NEW_FALLBACK_COLUMNS = ("fallback_channel", "fallback_parts", "fallback_ids")


def write_fallback_fixture(root: Path | str) -> None:
    """Messages of all five channels with SMS and Viber fallbacks (no campaigns); 61 and 62
    in a Parquet file as an older version wrote it, without the `fallback_*` columns."""
    new = [r for r in FALLBACK_MESSAGES if r["message_id"] not in OLD_MESSAGE_IDS]
    old = [r for r in FALLBACK_MESSAGES if r["message_id"] in OLD_MESSAGE_IDS]
    write_table(root, "messages", new)
    frame = make_frame("messages", old).drop(NEW_FALLBACK_COLUMNS)
    folder = Path(root) / "parquet" / "messages" / "created_date=2026-03-03"
    frame.write_parquet(folder / "part-old.parquet")


def write_fixture(root: Path | str) -> None:
    """The hand-computed fixture: messages, campaigns, campaign_statistics."""
    write_table(root, "messages", MESSAGES)
    write_table(root, "campaigns", CAMPAIGNS)
    write_table(root, "campaign_statistics", CAMPAIGN_STATISTICS)
