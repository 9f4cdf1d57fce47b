"""Golden cases: each quirk of the reference pages, recorded as JSON bodies under
tests/fixtures/api/, fed through RawPage objects; exact rows asserted."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import orjson
import polars as pl
import pytest

from bsg_analytics.batch import transform_pages
from bsg_analytics.schemas.tables import TABLES
from tests.transforms.transform_helpers import T0, fixture, message, messages_page, page


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def by_id(df: pl.DataFrame, key: str = "message_id") -> dict:
    return {r[key]: r for r in df.to_dicts()}


def test_every_table_has_exactly_its_schema():
    batch = transform_pages([page("messages", "messages_variants_one_per_quirk.json")], "UTC")
    assert set(batch.tables) == set(TABLES)
    for name, df in batch.tables.items():
        assert dict(df.schema) == dict(TABLES[name].schema), name


def test_seed_samples_are_read_and_their_placeholder_money_is_quarantined():
    # Both samples send `"amount": {"value": "string"}`: not money, so a contract breach.
    batch = transform_pages(
        [
            page("messages", "messages_rcs_seed000.json", seq=0),
            page("messages", "messages_sms_seed001.json", seq=1),
        ],
        "UTC",
    )
    q = batch["quarantine"]
    assert q["reason"].to_list() == ["unparsable amount.value: string"] * 2
    assert q["record_key"].to_list() == ["26130", "26130"]
    raw = orjson.loads(q["raw"][0])
    assert raw == orjson.loads(fixture("messages_rcs_seed000.json"))["data"][0]
    assert batch["messages"].is_empty()
    c = batch.report.counts["messages"]
    assert (c.records_in, c.rows_out, c.quarantined, c.duplicates) == (2, 0, 2, 0)


def test_seed_rcs_sample_with_real_money_gives_cards_suggestions_and_fallback():
    body = orjson.loads(fixture("messages_rcs_seed000.json"))
    body["data"][0]["amount"]["value"] = "0.3000000"
    batch = transform_pages([page("messages", body)], "UTC")
    (m,) = batch["messages"].to_dicts()
    assert m == {
        "message_id": 26130,
        "campaign_id": 1,
        "reference_id": "string",
        "channel": "rcs",
        "source": "web",
        "sender": "sender",
        "phone": "380661234567",
        "text": "text",
        "validity_hours": 72,
        "status": "scheduled",
        "created_at": utc(2021, 4, 27, 19, 44, 6),
        "sent_at": utc(2021, 4, 27, 19, 44, 6),
        "delivered_at": utc(2021, 4, 27, 19, 44, 6),
        "amount_value": Decimal("0.3000000"),
        "amount_currency": "UAH",
        "fallback_sms_parts": 0,
        "fallback_sms_ids": [0],
        "country": None,
        "parts": None,
        "options_json": None,
        "fallback_channel": "sms",
        "fallback_parts": 0,
        "fallback_ids": [0],
        "created_date": date(2021, 4, 27),
        "extracted_at": T0,
    }
    assert batch["rcs_cards"].drop("extracted_at").to_dicts() == [
        {
            "message_id": 26130,
            "card_index": 0,
            "text": "string",
            "media_url": "string",
            "title": None,
            "created_date": date(2021, 4, 27),
        },
        {
            "message_id": 26130,
            "card_index": 1,
            "text": "string",
            "media_url": "string",
            "title": None,
            "created_date": date(2021, 4, 27),
        },
    ]
    assert batch["rcs_suggestions"].select(
        "card_index", "suggestion_index", "text", "kind", "phone", "url"
    ).rows() == [(0, 0, "string", "call", "string", None), (1, 0, "string", "link", None, "string")]


def test_seed_sms_sample_send_at_and_numeric_phone():
    body = orjson.loads(fixture("messages_sms_seed001.json"))
    body["data"][0]["amount"]["value"] = "0.0100000"
    (m,) = transform_pages([page("messages", body)], "UTC")["messages"].to_dicts()
    assert m["sent_at"] == utc(2021, 4, 27, 19, 44, 6)  # from `send_at`
    assert m["phone"] == "12345678900"
    assert m["fallback_sms_ids"] is None  # no alternative_channels at all
    assert m["fallback_sms_parts"] is None


@pytest.fixture(scope="module")
def variants():
    return transform_pages(
        [page("messages", "messages_variants_one_per_quirk.json")], "Europe/Kyiv"
    )


def test_variants_rows(variants):
    rows = by_id(variants["messages"])
    assert sorted(rows) == [101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111]
    # Kyiv is UTC+2 until 03:00 local on 2024-03-31
    assert rows[101]["created_at"] == utc(2024, 3, 30, 23, 30)
    assert rows[101]["created_date"] == date(2024, 3, 30)
    # the record repeated later in the same page wins
    assert rows[101]["status"] == "expired"
    # `amont` as an object, and as a list of one object
    assert (rows[102]["amount_value"], rows[102]["amount_currency"]) == (
        Decimal("0.1000000"),
        "EUR",
    )
    assert (rows[103]["amount_value"], rows[103]["amount_currency"]) == (
        Decimal("1.2345678"),
        "EUR",
    )
    assert rows[104]["sent_at"] == utc(2024, 3, 30, 23, 30, 9)  # `send_at`
    assert rows[105]["phone"] == "380661234567"  # "+380 66 123 45 67", id as a string
    # alternative_channels present with an empty id list: [] (not null)
    assert rows[106]["fallback_sms_ids"] == []
    assert rows[106]["fallback_sms_parts"] == 2
    assert rows[107]["fallback_sms_ids"] == [9001, 9002]
    assert rows[101]["fallback_sms_ids"] is None
    assert rows[108]["status"] == "not_rcs_user"
    assert rows[109]["status"] == "teleported"
    assert (rows[110]["country"], rows[110]["parts"]) == ("UA", 2)
    assert orjson.loads(rows[110]["options_json"]) == {"any": {"thing": 1}}
    assert rows[111]["sent_at"] is None and rows[111]["delivered_at"] is None
    assert rows[111]["amount_value"] == Decimal("99999999999.9999999")


def test_variants_quarantine_and_report(variants):
    q = variants["quarantine"].sort("record_key")
    assert q.select("record_key", "reason").rows() == [
        ("#12", "missing key: id"),
        ("112", "unparsable phone: 38066abc"),
        ("114", "unparsable created_at: 27.04.2021 19:44"),
        ("115", "unparsable amount.value: 12.5x"),
        ("116", "wrong type campaign_id: seven"),
        ("117", "wrong type amount: expected object"),
    ]
    recs = orjson.loads(fixture("messages_variants_one_per_quirk.json"))["data"]
    assert orjson.loads(q.filter(pl.col("record_key") == "117")["raw"][0]) == recs[16]
    assert set(q["endpoint"]) == {"/api/messages"}
    assert set(q["extracted_date"]) == {date(2024, 4, 1)}
    r = variants.report
    c = r.counts["messages"]
    assert (c.records_in, c.rows_out, c.quarantined, c.duplicates) == (18, 11, 6, 1)
    assert r.unknown_fields == {"messages": ["colour"]}
    assert r.unknown_statuses == {"messages": {"teleported": 1}}


def test_rcs_cards_and_suggestion_kinds(variants):
    assert variants["rcs_cards"].select("message_id", "card_index", "text", "media_url").rows() == [
        (107, 0, "Card", "https://x/y.png")
    ]
    assert variants["rcs_suggestions"].select(
        "suggestion_index", "text", "kind", "phone", "url"
    ).rows() == [
        (0, "Call", "call", "+380661234567", None),
        (1, "Open", "link", None, "https://bsg.world"),
        (2, "Ok", "reply", None, None),
    ]


def test_page_that_is_not_json_is_quarantined_whole():
    batch = transform_pages(
        [messages_page([message(id=1)], seq=0), page("messages", "not_json.txt", seq=1)], "UTC"
    )
    assert batch["messages"]["message_id"].to_list() == [1]
    (q,) = batch["quarantine"].to_dicts()
    assert q["reason"].startswith("not JSON")
    assert q["raw"] == fixture("not_json.txt").decode()
    assert q["record_key"] is None
    assert batch.report.pages_quarantined == 1
    c = batch.report.counts["messages"]
    assert (c.records_in, c.rows_out, c.quarantined) == (2, 1, 1)


def test_page_shapes_and_records_that_are_not_objects():
    batch = transform_pages(
        [
            page("messages", {"message": "Unprocessable"}, seq=0),
            page("messages", {"data": [message(id=5), 7, "x", None]}, seq=1),
            page("messages", {"data": []}, seq=2),
        ],
        "UTC",
    )
    assert batch["messages"]["message_id"].to_list() == [5]
    reasons = sorted(batch["quarantine"]["reason"].to_list())
    assert reasons == [
        "missing key: id",
        "unexpected page shape: no `data` list",
        "wrong type record: expected object",
        "wrong type record: expected object",
    ]
    batch.report.check()


def test_duplicates_keep_the_newest_extracted_at_then_the_later_page():
    old = datetime(2024, 4, 1, 10, tzinfo=UTC)
    new = datetime(2024, 4, 1, 11, tzinfo=UTC)
    batch = transform_pages(
        [
            messages_page([message(id=1, status="sent")], seq=0, fetched_at=new),
            messages_page([message(id=1, status="accepted")], seq=1, fetched_at=old),
            messages_page([message(id=2, status="sent")], seq=2, fetched_at=new),
            messages_page([message(id=2, status="delivered")], seq=3, fetched_at=new),
        ],
        "UTC",
    )
    rows = by_id(batch["messages"])
    assert rows[1]["status"] == "sent" and rows[1]["extracted_at"] == new
    assert rows[2]["status"] == "delivered"
    assert batch.report.counts["messages"].duplicates == 2


def test_campaign_list_merged_with_detail_in_envelope():
    batch = transform_pages(
        [
            page("campaigns", "campaigns_seed003.json", seq=0),
            page("campaign_detail", "campaign_detail_seed002.json", seq=1),
        ],
        "UTC",
    )
    (c,) = batch["campaigns"].to_dicts()
    assert c == {
        "campaign_id": 1,
        "name": "string",
        "sender": "string",
        "channel": "rcs",
        "status": "creation",
        "is_final": False,
        "start_at": utc(2021, 4, 27, 19, 44, 6),
        "real_start_at": utc(2021, 4, 27, 19, 44, 6),
        "finished_at": utc(2021, 4, 27, 19, 44, 6),
        "created_at": utc(2021, 4, 27, 19, 44, 6),
        "calculated_price": Decimal("123.4000000"),
        "total_messages": 1,
        "total_phones": 1,
        "total_price": Decimal("0.3000000"),
        "currency": "UAH",
        "list_delivered": 0,
        "list_sent": 0,
        "fallback_delivered": 0,
        "fallback_sent": 0,
        "list_currency": None,
        "detail_extracted_at": T0,
        "list_extracted_at": T0,
        "created_month": "2021-04",
        "extracted_at": T0,
    }
    stats = batch["campaign_statistics"]
    assert stats.height == 11 + 10
    assert set(stats.filter(pl.col("route") == "primary")["status"]) == {
        "delivered",
        "sent",
        "scheduled",
        "moderation",
        "accepted",
        "sending",
        "expired",
        "failed",
        "undelivered",
        "unknown",
        "read",
    }
    assert "read" not in set(stats.filter(pl.col("route") == "sms_fallback")["status"])
    assert batch.report.counts["campaigns"].rows_out == 1
    assert batch.report.counts["campaign_detail"].rows_out == 1


def test_bare_detail_with_list_names_total_price_with_a_space_and_zone():
    batch = transform_pages(
        [
            page("campaigns", "campaigns_list_sms.json", seq=0),
            page("campaign_detail", "campaign_detail_bare_odd_names.json", seq=1),
        ],
        "Europe/Kyiv",
    )
    (c,) = batch["campaigns"].to_dicts()
    # 2024-01-31 23:30 in Kyiv (UTC+2) is 21:30 UTC, still January
    assert c["created_at"] == utc(2024, 1, 31, 21, 30)
    assert c["created_month"] == "2024-01"
    assert c["start_at"] == utc(2024, 1, 31, 21, 30)
    assert c["real_start_at"] == utc(2024, 1, 31, 21, 31)  # from the detail (newer, later page)
    assert c["status"] == "done" and c["is_final"] is True
    assert c["finished_at"] is None
    assert c["total_price"] == Decimal("1.2000000")  # "total price"
    # 0.30000000000000004 (a float) -> its repr -> Decimal rounded to 7 places
    assert c["calculated_price"] == Decimal("0.3000000")
    assert (c["list_delivered"], c["list_sent"]) == (5, 9)
    stats = batch["campaign_statistics"].select("route", "status", "messages").rows()
    assert stats == [
        ("primary", "delivered", 5),
        ("primary", "sent", 2),
        ("primary", "failed", 1),
        ("primary", "not_rcs_user", 1),
        ("primary", "vanished", 3),
    ]
    assert batch.report.unknown_statuses == {"campaign_detail": {"vanished": 1}}


def test_detail_with_bad_statistics_is_quarantined():
    body = orjson.loads(fixture("campaign_detail_bare_odd_names.json"))
    body["statistic"]["sent"] = "many"
    batch = transform_pages([page("campaign_detail", body)], "UTC")
    assert batch["campaigns"].is_empty()
    assert batch["quarantine"]["reason"].to_list() == ["wrong type statistics.sent: many"]


def test_legacy_sms_task_and_errors():
    batch = transform_pages(
        [
            page("legacy_sms", "legacy_sms_seed004.json", seq=0, endpoint="/rest/sms/211"),
            page("legacy_task", "legacy_task_seed004.json", seq=1, endpoint="/rest/sms/task/555"),
            # the seed's `/rest/sms/{task_id}` path: a task body landed on the SMS stream
            page("legacy_sms", "legacy_task_seed004.json", seq=2, endpoint="/rest/sms/556"),
            page("legacy_sms", "legacy_error_string.json", seq=3, endpoint="/rest/sms/999"),
            page(
                "legacy_task",
                "legacy_error_not_found_number.json",
                seq=4,
                endpoint="/rest/sms/task/9",
            ),
            page(
                "legacy_sms",
                "legacy_sms_numeric_ids_price_1e-07.json",
                seq=5,
                endpoint="/rest/sms/reference/x",
            ),
        ],
        "Europe/Kyiv",
    )
    assert batch["legacy_sms"].to_dicts() == [
        {
            "message_id": 211,
            "msisdn": "380972000001",
            "reference": "ext_id_19",
            "time_in": utc(2017, 1, 17, 7, 11, 41),
            "time_sent": utc(2017, 1, 17, 7, 11, 41),
            "time_dr": utc(2017, 1, 17, 7, 11, 41),
            "status": "delivered",
            "price": Decimal("0.2300000"),
            "currency": "EUR",
            "extracted_at": T0,
        },
        {
            "message_id": 212,
            "msisdn": "380972000002",
            "reference": "ext_id_20",
            "time_in": utc(2017, 1, 17, 7, 11, 41),
            "time_sent": utc(2017, 1, 17, 7, 11, 42),
            "time_dr": None,
            "status": "sent",
            "price": Decimal("0.0000001"),  # 1e-07 as a JSON float
            "currency": "EUR",
            "extracted_at": T0,
        },
    ]
    tasks = batch["legacy_tasks"]
    assert tasks["task_id"].to_list() == [555, 556]
    assert tasks.row(0, named=True)["total_price"] == Decimal("0.2300000")
    assert tasks.row(0, named=True)["validity"] == 72
    assert batch["quarantine"].select("reason", "record_key").rows() == [
        ("api error 25: Invalid originator", "999"),
        ("api error 20: SMS not found", "9"),
    ]
    r = batch.report.counts
    assert (r["legacy_sms"].records_in, r["legacy_sms"].rows_out) == (4, 3)
    assert (r["legacy_task"].records_in, r["legacy_task"].rows_out) == (2, 1)


def test_unknown_stream_is_kept_in_quarantine():
    batch = transform_pages([page("messages", {"data": []}), _other_stream()], "UTC")
    assert batch["quarantine"]["reason"].to_list() == ["unknown stream: webhooks"]
    assert batch.report.counts["webhooks"].quarantined == 1


def _other_stream():
    p = page("messages", {"x": 1})
    p.stream = "webhooks"
    return p


def test_money_sums_are_exact_to_seven_places():
    values = ["0.1000000", "0.2000000", "0.0000001", "99999999999.9999999", "-0.3000000"]
    pages = [
        messages_page(
            [message(id=i, amount={"value": v, "currency": "EUR"}) for i, v in enumerate(values)]
        )
    ]
    df = transform_pages(pages, "UTC")["messages"]
    assert df["amount_value"].sum() == sum(Decimal(v) for v in values)
    assert str(df["amount_value"].sum()) == "100000000000.0000000"


def test_money_with_more_than_seven_places_or_too_big_is_quarantined():
    pages = [
        messages_page(
            [
                message(id=1, amount={"value": "0.12345678", "currency": "EUR"}),
                message(id=2, amount={"value": "123456789012.5", "currency": "EUR"}),
                message(id=3, amount={"value": 0.5, "currency": "EUR"}),  # a number: its text
            ]
        )
    ]
    batch = transform_pages(pages, "UTC")
    assert batch["messages"]["amount_value"].to_list() == [Decimal("0.5000000")]
    assert batch["quarantine"].height == 2
