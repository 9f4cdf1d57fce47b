"""`GET /api/messages` as the provider publishes it (`MessageApiSchema` of one-api.yaml), through
the messages transform: recorded bodies under tests/fixtures/api/messages_published_*.json
(the `single` example, the schema example, and one file per shape written from the schema),
exact rows asserted; nothing published is quarantined, malformed values still are."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import orjson
import pytest

from bsg_analytics.batch import Batch, transform_pages
from bsg_analytics.schemas.statuses import CHANNELS, MESSAGE_STATUSES, SOURCES
from bsg_analytics.schemas.tables import TABLES
from tests.transforms.transform_helpers import T0, fixture, message, messages_page, page


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def clean(*names: str, zone: str = "UTC") -> Batch:
    """The fixtures' pages transformed: nothing quarantined, no field or status unknown."""
    batch = transform_pages([page("messages", n, seq=i) for i, n in enumerate(names)], zone)
    assert batch["quarantine"].select("record_key", "reason").rows() == []
    assert batch.report.unknown_fields == {}
    assert batch.report.unknown_statuses == {}
    batch.report.check()
    return batch


def by_id(batch: Batch, table: str = "messages") -> dict[int, dict[str, Any]]:
    return {r["message_id"]: r for r in batch[table].to_dicts()}


FALLBACK_COLUMNS = (
    "fallback_channel",
    "fallback_parts",
    "fallback_ids",
    "fallback_sms_parts",
    "fallback_sms_ids",
)


def fallbacks(batch: Batch) -> dict[int, tuple]:
    return {
        r["message_id"]: tuple(r[c] for c in FALLBACK_COLUMNS) for r in batch["messages"].to_dicts()
    }


def row(**fields: Any) -> dict[str, Any]:
    """A messages row: every column, `fields` over nulls, `extracted_at` T0."""
    out: dict[str, Any] = dict.fromkeys(TABLES["messages"].columns)
    out["extracted_at"] = T0
    out.update(fields)
    assert list(out) == TABLES["messages"].columns
    return out


# --- the provider's two examples -----------------------------------------------------------


def test_the_single_example():
    batch = clean("messages_published_single.json")
    assert batch["messages"].to_dicts() == [
        row(
            message_id=4419393338,
            campaign_id=58982653,
            reference_id=None,
            channel="sms",
            source="web",
            sender="testsms",
            phone="380981171206",  # an integer in the body
            text="Test",
            validity_hours=72,
            status="delivered",
            created_at=utc(2025, 3, 20, 5, 11, 15),
            sent_at=utc(2025, 3, 20, 5, 11, 16),
            delivered_at=utc(2025, 3, 20, 5, 11, 21),
            amount_value=Decimal("0.0100000"),
            amount_currency="UAH",
            country="UA",
            parts=1,
            created_date=date(2025, 3, 20),
        )
    ]
    assert batch["rcs_cards"].is_empty() and batch["rcs_suggestions"].is_empty()


@pytest.mark.parametrize("zone", ["UTC", "Europe/Kyiv"])
def test_the_schema_example(zone):
    """Two copies of one record (one row, one duplicate); RFC 3339 times with their own offset
    (the same instant whatever the account's zone); "0.10" (2 decimals); an SMS fallback; a
    text `rcs_options` beside the record's own `text`, which wins."""
    batch = clean("messages_published_schema_example.json", zone=zone)
    t = utc(2000, 1, 23, 4, 56, 7)
    assert batch["messages"].to_dicts() == [
        row(
            message_id=26130,
            campaign_id=53651994,
            reference_id="f2d37bf77f6242daa83f23b0cc84b627",
            channel="sms",
            source="rest",
            sender="testsms",
            phone="380661231231",
            text="Hello! It’s just test message. Please ignore it!",
            validity_hours=6,
            status="scheduled",
            created_at=t,
            sent_at=t,
            delivered_at=t,
            amount_value=Decimal("0.1000000"),
            amount_currency="USD",
            fallback_sms_parts=1,
            fallback_sms_ids=[12345],
            country="UA",
            parts=1,
            fallback_channel="sms",
            fallback_parts=1,
            fallback_ids=[12345],
            created_date=date(2000, 1, 23),
        )
    ]
    c = batch.report.counts["messages"]
    assert (c.records_in, c.rows_out, c.quarantined, c.duplicates) == (2, 1, 0, 1)
    assert batch["rcs_cards"].is_empty()


# --- every channel, source, status; money; phone; reference ---------------------------------


def test_one_message_per_channel():
    batch = clean("messages_published_channels.json")
    got = by_id(batch)
    assert got[5001] == row(
        message_id=5001,
        campaign_id=58982653,
        reference_id="a1b2c3d4e5f6",
        channel="sms",
        source="rest",
        sender="testsms",
        phone="380661231231",
        text="Your code is 1234",
        validity_hours=72,
        status="delivered",
        created_at=utc(2025, 3, 20, 5, 11, 15),
        sent_at=utc(2025, 3, 20, 5, 11, 16),
        delivered_at=utc(2025, 3, 20, 5, 11, 21),
        amount_value=Decimal("0.0100000"),
        amount_currency="UAH",
        country="UA",
        parts=1,
        created_date=date(2025, 3, 20),
    )
    assert got[5002] == row(
        message_id=5002,
        campaign_id=58982700,
        reference_id=None,
        channel="viber",
        source="twoway_api",
        sender="ShopViber",
        phone="380661231232",
        text="Spring sale: -20% today",
        validity_hours=24,
        status="not_viber_user",
        created_at=utc(2025, 3, 20, 6, 0, 0),
        sent_at=utc(2025, 3, 20, 6, 0, 1),
        amount_value=Decimal("0.0200000"),  # "0.02": two decimals, exact
        amount_currency="USD",
        fallback_sms_parts=1,
        fallback_sms_ids=[5006],
        country="UA",
        parts=1,
        fallback_channel="sms",
        fallback_parts=1,
        fallback_ids=[5006],
        created_date=date(2025, 3, 20),
    )
    assert got[5003] == row(
        message_id=5003,
        campaign_id=58982800,
        reference_id="f2d37bf77f6242daa83f23b0cc84b627",
        channel="rcs",
        source="web",
        sender="AcmeBot",
        phone="380661231233",
        text="Spring offer",
        validity_hours=6,
        status="read",
        created_at=utc(2025, 3, 20, 7, 0, 0),
        sent_at=utc(2025, 3, 20, 7, 0, 2),
        delivered_at=utc(2025, 3, 20, 7, 0, 5),
        amount_value=Decimal("0.0450000"),
        amount_currency="EUR",
        country="UA",
        parts=1,
        created_date=date(2025, 3, 20),
    )
    assert got[5004] == row(
        message_id=5004,
        campaign_id=58982900,
        reference_id=None,
        channel="whatsapp",
        source="2fa",
        sender="AcmeWA",
        phone="48500100200",
        text="Your login code: 778899",
        validity_hours=1,
        status="not_service_user",
        created_at=utc(2025, 3, 20, 8, 0, 0),
        amount_value=Decimal("0.1000000"),
        amount_currency="USD",
        country="PL",
        parts=1,
        created_date=date(2025, 3, 20),
    )
    assert got[5005] == row(
        message_id=5005,
        campaign_id=58983000,
        reference_id="hlr0001",
        channel="hlr",
        source="voicebot",
        sender="hlr",
        phone="100000000",  # the schema's minimum
        text="",
        validity_hours=72,
        status="unknown",
        created_at=utc(2025, 3, 20, 9, 0, 0),
        sent_at=utc(2025, 3, 20, 9, 0, 0),
        amount_value=Decimal("0.0030000"),
        amount_currency="EUR",
        country="UA",
        parts=1,
        created_date=date(2025, 3, 20),
    )
    # the Viber message's SMS fallback is itself a listed message
    assert got[5006]["channel"] == "sms" and got[5006]["fallback_channel"] is None
    assert sorted(got) == [5001, 5002, 5003, 5004, 5005, 5006]
    assert batch["rcs_cards"].select("message_id", "card_index", "title").rows() == [
        (5003, 0, "Spring offer")
    ]
    assert batch["rcs_suggestions"].select("message_id", "kind", "postback_data").rows() == [
        (5003, "link", "press_activate")
    ]


def test_every_published_channel_source_and_status_is_kept_and_none_is_reported():
    recs = [
        message(
            id=i + 1,
            type=CHANNELS[i % len(CHANNELS)],
            source=SOURCES[i % len(SOURCES)],
            status=MESSAGE_STATUSES[i % len(MESSAGE_STATUSES)],
        )
        for i in range(len(CHANNELS) * len(SOURCES) * len(MESSAGE_STATUSES))
    ]
    batch = transform_pages([messages_page(recs)], "UTC")
    assert batch["quarantine"].is_empty()
    assert batch.report.unknown_statuses == {} and batch.report.unknown_fields == {}
    df = batch["messages"].sort("message_id")
    assert df.height == len(recs)
    assert set(df["channel"]) == set(CHANNELS)
    assert set(df["source"]) == set(SOURCES)
    assert set(df["status"]) == set(MESSAGE_STATUSES)


@pytest.mark.parametrize(
    "value, expected",
    [
        ("0.10", "0.1000000"),
        ("0.0100000", "0.0100000"),
        ("12.34", "12.3400000"),
        ("0.0000001", "0.0000001"),
        ("99999999999.99", "99999999999.9900000"),
    ],
)
def test_two_and_seven_decimal_amounts_are_exact(value, expected):
    batch = transform_pages(
        [messages_page([message(id=1, amount={"value": value, "currency": "USD"})])], "UTC"
    )
    (got,) = batch["messages"]["amount_value"].to_list()
    assert got == Decimal(expected) and format(got, "f") == expected


def test_integer_phone_and_null_reference():
    batch = transform_pages(
        [messages_page([message(id=1, phone=999999999999999, reference_id=None)])], "UTC"
    )
    (r,) = batch["messages"].to_dicts()
    assert (r["phone"], r["reference_id"]) == ("999999999999999", None)


def test_rfc3339_without_offset_is_the_account_wall_clock():
    batch = transform_pages(
        [
            messages_page(
                [
                    message(
                        id=1,
                        created_at="2025-03-20T05:11:15",
                        sent_at="2025-03-20T05:11:16.250",
                        delivered_at="2025-03-20T05:11:21Z",
                    )
                ]
            )
        ],
        "Europe/Kyiv",
    )
    (r,) = batch["messages"].to_dicts()
    assert r["created_at"] == utc(2025, 3, 20, 3, 11, 15)  # Kyiv is UTC+2 in March
    assert r["sent_at"] == datetime(2025, 3, 20, 3, 11, 16, 250000, tzinfo=UTC)
    assert r["delivered_at"] == utc(2025, 3, 20, 5, 11, 21)  # `Z`: that instant


# --- alternative_channels ---------------------------------------------------------------------


def test_each_alternative_channels_shape():
    batch = clean("messages_published_alternative_channels.json")
    # (fallback_channel, fallback_parts, fallback_ids, fallback_sms_parts, fallback_sms_ids)
    assert fallbacks(batch) == {
        6001: (None, None, None, None, None),  # null
        6002: ("sms", 2, [6101, 6102], 2, [6101, 6102]),  # to SMS, in two parts
        6003: ("viber", 1, [6103], None, None),  # to Viber: the SMS columns stay null
        6004: ("sms", 1, [], 1, []),  # an SMS fallback without ids: [] as before
        6005: ("viber", 1, [], None, None),
        6006: (None, None, None, None, None),  # no key at all
        6007: (None, None, None, None, None),  # `[]`, the detail's "no fallback"
    }


def test_an_empty_object_keeps_todays_sms_semantics():
    recs = [
        message(id=1, alternative_channels={}),
        message(id=2, alternative_channels={"sms": None}),
        message(id=3, alternative_channels={"viber": None}),
        message(id=4, alternative_channels={"viber": {"parts": 1}}),
    ]
    batch = transform_pages([messages_page(recs)], "UTC")
    assert batch["quarantine"].is_empty()
    assert fallbacks(batch) == {
        1: (None, None, None, None, []),
        2: (None, None, None, None, []),
        3: (None, None, None, None, []),
        4: ("viber", 1, [], None, None),
    }


def test_both_channels_present_the_sms_one_is_the_fallback():
    both = {"sms": {"parts": 1, "id": [11]}, "viber": {"parts": 1, "id": [12]}}
    batch = transform_pages([messages_page([message(id=1, alternative_channels=both)])], "UTC")
    assert fallbacks(batch) == {1: ("sms", 1, [11], 1, [11])}


def test_ids_as_numeric_strings_are_read():
    ac = {"viber": {"parts": "2", "id": ["21", " 22 "]}}
    batch = transform_pages([messages_page([message(id=1, alternative_channels=ac)])], "UTC")
    assert fallbacks(batch) == {1: ("viber", 2, [21, 22], None, None)}


@pytest.mark.parametrize(
    "field, value, reason",
    [
        (
            "alternative_channels",
            {"viber": {"parts": "two", "id": [1]}},
            "wrong type alternative_channels.viber.parts: two",
        ),
        (
            "alternative_channels",
            {"viber": {"parts": 1, "id": ["x1"]}},
            "wrong type alternative_channels.viber.id: x1",
        ),
        (
            "alternative_channels",
            {"sms": {"parts": 1, "id": [1, "y"]}},
            "wrong type alternative_channels.sms.id: 1,y",
        ),
        (
            "alternative_channels",
            {"viber": [1]},
            "wrong type alternative_channels.viber: expected object",
        ),
        ("alternative_channels", "sms", "wrong type alternative_channels: sms"),
        ("rcs_options", {"cards": "x"}, "wrong type rcs_options.cards: expected list"),
        (
            "rcs_options",
            {"cards": [{"suggestions": {"text": "a"}}]},
            "wrong type rcs_options.cards[].suggestions: expected list",
        ),
        ("rcs_options", [], "wrong type rcs_options: expected object"),
    ],
)
def test_malformed_nested_values_are_quarantined_with_a_reason(field, value, reason):
    good = message(id=1)
    bad = message(id=2, **{field: value})
    batch = transform_pages([messages_page([good, bad])], "UTC")
    assert batch["messages"]["message_id"].to_list() == [1]
    assert batch["quarantine"].select("record_key", "reason").rows() == [("2", reason)]
    assert orjson.loads(batch["quarantine"]["raw"][0]) == bad
    batch.report.check()


# --- rcs_options ------------------------------------------------------------------------------


def test_each_rcs_options_shape():
    batch = clean("messages_published_rcs_options.json")
    texts = {m: r["text"] for m, r in by_id(batch).items()}
    assert texts == {
        7001: "Carousel",
        7002: "Typeless buttons",
        7003: "Hello! Test message",  # `{text}` and no text of its own: the message keeps it
        7004: "Own text",  # its own text wins over `rcs_options.text`
        7005: None,  # cards, no text anywhere
    }
    assert all(r["options_json"] is None for r in batch["messages"].to_dicts())
    day = date(2025, 3, 22)
    assert batch["rcs_cards"].to_dicts() == [
        {
            "message_id": 7001,
            "card_index": 0,
            "text": "Hello! ☺️",
            "media_url": "https://example.com/a.png",
            "title": "Spring sale",
            "created_date": day,
            "extracted_at": T0,
        },
        {
            "message_id": 7001,
            "card_index": 1,
            "text": None,
            "media_url": "https://example.com/b.mp4",
            "title": None,
            "created_date": day,
            "extracted_at": T0,
        },
        {
            "message_id": 7002,
            "card_index": 0,
            "text": "Pick one",
            "media_url": "https://example.com/c.png",
            "title": None,
            "created_date": day,
            "extracted_at": T0,
        },
        {
            "message_id": 7005,
            "card_index": 0,
            "text": "Go there",
            "media_url": None,
            "title": "Only a link",
            "created_date": day,
            "extracted_at": T0,
        },
    ]
    cols = ("message_id", "card_index", "suggestion_index", "text", "kind", "phone", "url")
    assert batch["rcs_suggestions"].select(*cols, "postback_data").rows() == [
        # typed, as published
        (7001, 0, 0, "Activate", "link", None, "https://example.com", "press_activate"),
        (7001, 0, 1, "Call us", "call", "380661231231", None, "press_call"),
        # typeless, as the RCS page shows them: call with a phone, link with a url, else reply
        (7002, 0, 0, "Call", "call", "380661231231", None, None),
        (7002, 0, 1, "Open", "link", None, "https://bsg.world", None),
        (7002, 0, 2, "Example text", "reply", None, None, None),
        # typed without postback_data
        (7005, 0, 0, "Go", "link", None, "https://example.com/go", None),
    ]
    assert set(batch["rcs_suggestions"]["created_date"]) == {day}


def test_a_type_nobody_published_is_kept_as_the_kind():
    opts = {"cards": [{"text": "x", "suggestions": [{"type": "share", "text": "Share"}]}]}
    batch = transform_pages([messages_page([message(id=1, type="rcs", rcs_options=opts)])], "UTC")
    assert batch["quarantine"].is_empty()
    assert batch["rcs_suggestions"]["kind"].to_list() == ["share"]


def test_seed_rcs_sample_suggestions_are_now_call_and_link():
    """The seed 000 sample's typeless `{text, phone}` / `{text, url}`: kinds call and link
    (they were `phone` and `url` before the published kinds)."""
    body = orjson.loads(fixture("messages_rcs_seed000.json"))
    body["data"][0]["amount"]["value"] = "0.3000000"
    batch = transform_pages([page("messages", body)], "UTC")
    assert batch["rcs_suggestions"].select("card_index", "kind", "phone", "url").rows() == [
        (0, "call", "string", None),
        (1, "link", None, "string"),
    ]
    (m,) = batch["messages"].to_dicts()
    assert [m[c] for c in FALLBACK_COLUMNS] == ["sms", 0, [0], 0, [0]]
