"""The provider's published legacy REST bodies (`legacy-rest.yaml`: the schema examples and
each endpoint's examples, recorded as `tests/fixtures/api/legacy_published_*.json`) through
the legacy transform: exact rows, exact quarantine, statuses reported under their table."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import orjson
import pytest

from bsg_analytics.batch import transform_pages
from bsg_analytics.schemas.tables import TABLES
from tests.transforms.transform_helpers import T0, fixture, page


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0, us: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, us, tzinfo=UTC)


def run(*pages, zone="UTC"):
    return transform_pages(list(pages), zone)


def sms_row(**values) -> dict:
    row = dict.fromkeys(
        ["message_id", "msisdn", "reference", "time_in", "time_sent", "time_dr", "status"]
    )
    row.update(price=None, currency=None, extracted_at=T0)
    row.update(values)
    return row


ALT_NONE = dict.fromkeys(c for c in TABLES["legacy_viber"].columns if c.startswith("alt_"))


def viber_row(**values) -> dict:
    row = {k: v for k, v in sms_row().items() if k != "extracted_at"}
    row.update(ALT_NONE, extracted_at=T0)
    row.update(values)
    return row


def test_get_status_schema_example_one_row_per_item():
    # the example lists the same item twice: one row, one duplicate
    batch = run(
        page("legacy_sms", "legacy_published_get_status.json", endpoint="/rest/sms/getStatus")
    )
    assert batch["legacy_sms"].to_dicts() == [
        sms_row(
            message_id=123,
            msisdn="380953227271",
            reference="my_ref_123",  # external_id is the reference
            time_in=None,  # getStatus has no time_in
            time_sent=utc(2025, 1, 14, 15, 30, 20),
            time_dr=utc(2025, 1, 14, 15, 30, 25),
            status="delivered",
            price=Decimal("0.0500000"),
            currency="USD",
        )
    ]
    assert batch["quarantine"].is_empty()
    c = batch.report.counts["legacy_sms"]
    assert (c.records_in, c.rows_out, c.duplicates, c.quarantined) == (2, 1, 1, 0)
    assert batch.report.unknown_fields == {} and batch.report.unknown_statuses == {}


def test_get_status_endpoint_examples_answer_one_sms_each():
    batch = run(
        page("legacy_sms", "legacy_published_get_status_delivered.json", seq=0,
             endpoint="/rest/sms/getStatus"),
        page("legacy_sms", "legacy_published_get_status_unknown.json", seq=1,
             endpoint="/rest/sms/getStatus"),
        page("legacy_sms", "legacy_published_get_status_error.json", seq=2,
             endpoint="/rest/sms/getStatus"),
        zone="Europe/Kyiv",
    )  # fmt: skip
    same = dict(time_in=utc(2025, 11, 13, 6, 34, 38), time_sent=utc(2025, 11, 13, 6, 34, 38))
    same |= dict(time_dr=utc(2025, 11, 13, 6, 34, 38), currency="USD")
    assert batch["legacy_sms"].to_dicts() == [
        sms_row(message_id=380953227271, msisdn="380953227271", reference="ref_002",
                status="delivered", price=Decimal("0.0500000"), **same),
        sms_row(message_id=380953227272, msisdn="380953227272", reference="ref_003",
                status="unknown", price=Decimal("0.0000000"), **same),
    ]  # fmt: skip
    assert batch["quarantine"].select("endpoint", "reason", "record_key", "raw").rows() == [
        (
            "/rest/sms/getStatus",
            "api error 20: SMS not found",
            None,
            '{"error":20,"errorDescription":"SMS not found"}',
        )
    ]
    assert batch.report.unknown_statuses == {}  # `unknown` is a published legacy status


def test_sms_schema_example_with_offset_times():
    batch = run(page("legacy_sms", "legacy_published_sms.json", endpoint="/rest/sms/12345"),
                zone="Europe/Kyiv")  # fmt: skip
    t = utc(2000, 1, 23, 4, 56, 7)  # "2000-01-23T04:56:07.000+00:00": its own offset wins
    assert batch["legacy_sms"].to_dicts() == [
        sms_row(message_id=12345, msisdn="380953227271", reference="unique_ref_123",
                time_in=t, time_sent=t, time_dr=t, status="delivered",
                price=Decimal("0.0500000"), currency="USD")
    ]  # fmt: skip
    assert batch["quarantine"].is_empty()


def test_reference_example_without_an_id_is_quarantined_not_lost():
    # the reference endpoint's example carries no `id`, the key of legacy_sms
    batch = run(page("legacy_sms", "legacy_published_sms_reference.json",
                     endpoint="/rest/sms/reference/unique_ref_123"))  # fmt: skip
    assert batch["legacy_sms"].is_empty()
    assert batch["quarantine"].select("reason", "raw").rows() == [
        (
            "missing key: id",
            '{"error":0,"errorDescription":"No errors","status":"delivered",'
            '"reference":"unique_ref_123"}',
        )
    ]


def test_task_schema_example_with_the_new_counters():
    batch = run(page("legacy_task", "legacy_published_task.json", endpoint="/rest/sms/task/123"))
    assert batch["legacy_tasks"].to_dicts() == [
        {
            "task_id": 123,  # from the path: the body carries no id
            "originator": "BSG",
            "body": "Bulk SMS message text",
            "validity": 72,
            "total_price": Decimal("5.2500000"),
            "currency": "USD",
            "sent": 100,
            "delivered": 92,
            "expired": 2,
            "undeliverable": 3,
            "unknown": 0,
            "total": 100,
            "queued": 0,
            "accepted": 95,
            "enroute": 3,
            "extracted_at": T0,
        }
    ]
    assert batch["quarantine"].is_empty() and batch.report.unknown_fields == {}


def test_viber_with_sms_fallback_example():
    batch = run(
        page("legacy_viber", "legacy_published_viber_with_sms_fallback.json",
             endpoint="/rest/viber/16"),
        zone="Europe/Kyiv",
    )  # fmt: skip
    assert batch["legacy_viber"].to_dicts() == [
        viber_row(
            message_id=16,
            msisdn="380953227272",
            reference="viber_ref_124",
            time_in=utc(2025, 1, 15, 8, 30, 0),
            time_sent=utc(2025, 1, 15, 8, 30, 1),
            time_dr=utc(2025, 1, 15, 8, 30, 10),
            status="not_viber_user",
            price=Decimal("0.0800000"),
            currency="USD",
            alt_channel="sms",
            alt_message_id=17,
            alt_status="delivered",
            alt_price=Decimal("0.0500000"),
            alt_currency="USD",
            alt_time_in=utc(2025, 1, 15, 8, 30, 11),
            alt_time_sent=utc(2025, 1, 15, 8, 30, 12),
            alt_time_dr=utc(2025, 1, 15, 8, 30, 15),
            alt_sender="BSG",
            alt_text="SMS fallback message",
        )
    ]
    assert batch["legacy_sms"].is_empty() and batch["quarantine"].is_empty()
    assert batch.report.unknown_statuses == {} and batch.report.unknown_fields == {}
    c = batch.report.counts["legacy_viber"]
    assert (c.records_in, c.rows_out) == (1, 1)


def test_viber_delivered_example_and_the_error_example():
    batch = run(
        page("legacy_viber", "legacy_published_viber_delivered.json", seq=0,
             endpoint="/rest/viber/reference/viber_ref_123"),
        page("legacy_viber", "legacy_published_viber_error.json", seq=1,
             endpoint="/rest/viber/77"),
    )  # fmt: skip
    assert batch["legacy_viber"].to_dicts() == [
        viber_row(message_id=15, msisdn="380953227271", reference="viber_ref_123",
                  time_in=utc(2025, 1, 15, 10, 30, 0), time_sent=utc(2025, 1, 15, 10, 30, 1),
                  time_dr=utc(2025, 1, 15, 10, 30, 5), status="delivered",
                  price=Decimal("0.0800000"), currency="USD")
    ]  # fmt: skip
    assert batch["quarantine"].select("reason", "record_key").rows() == [
        ("api error 40: Message not found", "77")
    ]


def test_viber_schema_example_takes_the_first_route_and_its_message_of_the_same_id():
    # the generated example: two identical routes (id 10) and messages of another id (11)
    batch = run(page("legacy_viber", "legacy_published_viber.json", endpoint="/rest/viber/9"))
    assert batch["legacy_viber"].to_dicts() == [
        viber_row(message_id=9, msisdn="380953227271", reference="viber_ref_125",
                  time_in=utc(2025, 11, 10, 17, 30, 20), time_sent=utc(2025, 11, 10, 17, 30, 20),
                  time_dr=utc(2025, 11, 10, 17, 30, 20), status="delivered",
                  price=Decimal("0.0500000"), currency="USD", alt_channel="sms",
                  alt_message_id=10, alt_status="delivered", alt_price=Decimal("0.0300000"))
    ]  # fmt: skip
    assert batch["quarantine"].is_empty()


def test_every_published_body_passes_clean_but_the_id_less_reference_example():
    names = {
        "legacy_published_get_status.json": ("legacy_sms", "/rest/sms/getStatus"),
        "legacy_published_get_status_delivered.json": ("legacy_sms", "/rest/sms/getStatus"),
        "legacy_published_get_status_unknown.json": ("legacy_sms", "/rest/sms/getStatus"),
        "legacy_published_sms.json": ("legacy_sms", "/rest/sms/12345"),
        "legacy_published_task.json": ("legacy_task", "/rest/sms/task/1"),
        "legacy_published_viber.json": ("legacy_viber", "/rest/viber/9"),
        "legacy_published_viber_delivered.json": ("legacy_viber", "/rest/viber/15"),
        "legacy_published_viber_with_sms_fallback.json": ("legacy_viber", "/rest/viber/16"),
    }
    pages = [
        page(stream, name, seq=i, endpoint=endpoint)
        for i, (name, (stream, endpoint)) in enumerate(names.items())
    ]
    batch = run(*pages, zone="America/New_York")
    assert batch["quarantine"].is_empty()
    assert batch.report.unknown_fields == {} and batch.report.unknown_statuses == {}
    assert (batch["legacy_sms"].height, batch["legacy_tasks"].height) == (4, 1)
    assert batch["legacy_viber"].height == 3


def _viber(**overrides) -> dict:
    body = orjson.loads(fixture("legacy_published_viber_with_sms_fallback.json"))
    body.update(overrides)
    return body


def test_unknown_statuses_are_kept_and_reported_under_their_own_table():
    batch = run(
        page("legacy_sms", {"id": 5, "msisdn": "380501", "status": "teleported"}, seq=0,
             endpoint="/rest/sms/5"),
        page("legacy_sms", {"result": [{"id": "6", "status": "vanished"}]}, seq=1,
             endpoint="/rest/sms/getStatus"),
        page("legacy_viber", _viber(status="beamed"), seq=2, endpoint="/rest/viber/16"),
        page("legacy_viber",
             _viber(id="18", alt_route=[{"channel": "sms", "id": "17", "status": "lost"}]),
             seq=3, endpoint="/rest/viber/18"),
    )  # fmt: skip
    assert batch["legacy_sms"]["status"].to_list() == ["teleported", "vanished"]
    assert batch["legacy_viber"].select("message_id", "status", "alt_status").rows() == [
        (16, "beamed", "delivered"),
        (18, "not_viber_user", "lost"),
    ]
    assert batch.report.unknown_statuses == {
        "legacy_sms": {"teleported": 1, "vanished": 1},
        "legacy_viber": {"beamed": 1},
        "legacy_viber.alt_route": {"lost": 1},
    }
    assert batch["quarantine"].is_empty()


def test_viber_without_fallback_or_with_a_broken_one():
    batch = run(
        page("legacy_viber", _viber(id="20", alt_route=None, alt_route_messages=None), seq=0,
             endpoint="/rest/viber/20"),
        # no route: the first fallback message still says what the SMS did
        page("legacy_viber", _viber(id="21", alt_route=[]), seq=1, endpoint="/rest/viber/21"),
        page("legacy_viber", _viber(id="22", alt_route={"id": 1}), seq=2,
             endpoint="/rest/viber/22"),
        page("legacy_viber", _viber(id="23", alt_route=[{"id": "x1", "channel": "sms"}]), seq=3,
             endpoint="/rest/viber/23"),
        page("legacy_viber", _viber(id="24", alt_route_messages=["x"]), seq=4,
             endpoint="/rest/viber/24"),
    )  # fmt: skip
    rows = {r["message_id"]: r for r in batch["legacy_viber"].to_dicts()}
    assert sorted(rows) == [20, 21]
    assert {k: rows[20][k] for k in ALT_NONE} == ALT_NONE
    assert (rows[21]["alt_channel"], rows[21]["alt_message_id"], rows[21]["alt_text"]) == (
        None, 17, "SMS fallback message",
    )  # fmt: skip
    assert batch["quarantine"].select("reason", "record_key").rows() == [
        ("wrong type alt_route: expected a list", "22"),
        ("wrong type alt_route_messages[]: expected objects", "24"),
        ("wrong type alt_route.id: x1", "23"),
    ]
    batch.report.check()


def test_get_status_item_errors_bad_fields_and_shapes():
    body = {
        "result": [
            {"id": "1", "external_id": "r1", "msisdn": "380501", "status": "sent",
             "price": 0.1, "currency": "EUR", "colour": "red"},
            {"id": "2", "error": 20, "errorDescription": "SMS not found"},
            {"id": "3", "msisdn": "not a phone"},
            "not an object",
            {"id": "4", "time_sent": "yesterday"},
        ],
        "extra": 1,
    }  # fmt: skip
    batch = run(
        page("legacy_sms", body, seq=0, endpoint="/rest/sms/getStatus"),
        page("legacy_sms", {"result": {"id": 1}}, seq=1, endpoint="/rest/sms/getStatus"),
    )
    assert batch["legacy_sms"].select("message_id", "reference", "price").rows() == [
        (1, "r1", Decimal("0.1000000"))
    ]
    assert batch["quarantine"].select("reason", "record_key", "record_index").rows() == [
        ("api error 20: SMS not found", "2", 1),
        ("wrong type record: expected object", None, 3),
        ("wrong type result: expected a list of SMS statuses", None, None),
        ("unparsable msisdn: not a phone", "3", 2),
        ("unparsable time_sent: yesterday", "4", 4),
    ]
    assert batch.report.unknown_fields == {"legacy_sms": ["extra", "result[].colour"]}
    c = batch.report.counts["legacy_sms"]
    assert (c.records_in, c.rows_out, c.quarantined) == (6, 1, 5)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-01-15 10:30:00", utc(2025, 1, 15, 8, 30)),  # the account's wall clock
        ("2025-01-15T10:30:00", utc(2025, 1, 15, 8, 30)),
        ("2025-01-15T10:30:00Z", utc(2025, 1, 15, 10, 30)),
        ("2025-01-15T10:30:00.250+01:00", utc(2025, 1, 15, 9, 30, 0, 250000)),
        ("2025-01-15 10:30:00-05:00", utc(2025, 1, 15, 15, 30)),
        ("", None),
        ("  ", None),
    ],
)
def test_legacy_times_in_the_zone_or_with_their_own_offset(text, expected):
    batch = run(page("legacy_sms", {"id": 1, "time_in": text}), zone="Europe/Kyiv")
    assert batch["legacy_sms"]["time_in"].to_list() == [expected]
