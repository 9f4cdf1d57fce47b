"""The provider's own example bodies (tests/fixtures/provider, copied from its OpenAPI files)
through the product's transforms: nothing quarantined, no field or status reported unknown,
and the rows the provider's data means (exact rows for the messages `single` example, the
campaign detail `details` example, the getStatus examples, the task and the Viber fallback).

Each page is landed as the pipeline lands it: under the stream the registry declares for the
endpoint, with the endpoint's path (and for getStatus the ids asked, as its params)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from bsg_analytics.batch import Batch, transform_pages
from bsg_analytics.raw import RawPage
from bsg_analytics.schemas.statuses import CAMPAIGN_STATISTIC_STATUSES
from bsg_analytics.streams import REGISTRY
from bsg_client.client import LEGACY_NOT_FOUND, legacy_error_code

from .spec import FIXTURES, template_key

T0 = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)  # when the example was "fetched"


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0, sec: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, sec, tzinfo=UTC)


def stream_of(template: str) -> str:
    """The registry's stream that reads `template` (parameter names aside)."""
    names = [
        s.name
        for s in REGISTRY.values()
        if template_key(template) in {template_key(e) for e in s.endpoints}
    ]
    assert names, f"no stream reads {template}"
    return names[0]


def body(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def page(name: str, template: str, endpoint: str, params: dict[str, str] | None = None):
    return RawPage(
        stream=stream_of(template),
        endpoint=endpoint,
        params=params or {},
        fetched_at=T0,
        status_code=200,
        body=body(name),
        run_id="20260301T093000-provider",
        group="g",
        seq=0,
    )


def clean(*pages: RawPage) -> Batch:
    """The pages transformed: nothing quarantined, nothing unknown."""
    batch = transform_pages(list(pages), "UTC")
    assert batch["quarantine"].to_dicts() == []
    assert batch.report.unknown_fields == {}
    assert batch.report.unknown_statuses == {}
    return batch


def rows(batch: Batch, table: str) -> list[dict[str, Any]]:
    return batch[table].to_dicts()


# -------------------------------------------------------------------------------- messages
MESSAGES = ("/api/messages", "/api/messages")


def test_messages_single_example():
    batch = clean(page("messages__single", *MESSAGES))
    assert rows(batch, "messages") == [
        {
            "message_id": 4419393338,
            "campaign_id": 58982653,
            "reference_id": None,
            "channel": "sms",
            "source": "web",
            "sender": "testsms",
            "phone": "380981171206",
            "text": "Test",
            "validity_hours": 72,
            "status": "delivered",
            "created_at": utc(2025, 3, 20, 5, 11, 15),
            "sent_at": utc(2025, 3, 20, 5, 11, 16),
            "delivered_at": utc(2025, 3, 20, 5, 11, 21),
            "amount_value": Decimal("0.0100000"),
            "amount_currency": "UAH",
            "fallback_sms_parts": None,
            "fallback_sms_ids": None,
            "country": "UA",
            "parts": 1,
            "options_json": None,
            "fallback_channel": None,
            "fallback_parts": None,
            "fallback_ids": None,
            "created_date": date(2025, 3, 20),
            "extracted_at": T0,
        }
    ]
    assert rows(batch, "rcs_cards") == rows(batch, "rcs_suggestions") == []


def test_messages_schema_example():
    """Two copies of one record (one row), RFC 3339 times, a 2-decimal amount, an SMS fallback
    and a text `rcs_options`."""
    batch = clean(page("messages__schema_example", *MESSAGES))
    assert rows(batch, "messages") == [
        {
            "message_id": 26130,
            "campaign_id": 53651994,
            "reference_id": "f2d37bf77f6242daa83f23b0cc84b627",
            "channel": "sms",
            "source": "rest",
            "sender": "testsms",
            "phone": "380661231231",
            "text": "Hello! It’s just test message. Please ignore it!",
            "validity_hours": 6,
            "status": "scheduled",
            "created_at": utc(2000, 1, 23, 4, 56, 7),
            "sent_at": utc(2000, 1, 23, 4, 56, 7),
            "delivered_at": utc(2000, 1, 23, 4, 56, 7),
            "amount_value": Decimal("0.1000000"),
            "amount_currency": "USD",
            "fallback_sms_parts": 1,
            "fallback_sms_ids": [12345],
            "country": "UA",
            "parts": 1,
            "options_json": None,
            "fallback_channel": "sms",
            "fallback_parts": 1,
            "fallback_ids": [12345],
            "created_date": date(2000, 1, 23),
            "extracted_at": T0,
        }
    ]
    counts = batch.report.counts["messages"]
    assert (counts.records_in, counts.rows_out, counts.duplicates) == (2, 1, 1)
    assert rows(batch, "rcs_cards") == []


# ------------------------------------------------------------------------------- campaigns
DETAIL = ("/api/campaigns/{id}/detail", "/api/campaigns/53651994/detail")


def _stats(route: str, counts: dict[str, int], month: str) -> list[dict[str, Any]]:
    return [
        {
            "campaign_id": 53651994,
            "route": route,
            "status": status,
            "messages": counts.get(status, 0),
            "created_month": month,
            "extracted_at": T0,
        }
        for status in CAMPAIGN_STATISTIC_STATUSES
    ]


def _sorted(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(items, key=lambda r: (r["route"], r["status"]))


def test_campaign_detail_details_example():
    """`{"data": {...}}`, 13 counts, `alternative_channels: []` (no fallback), a 2-decimal
    total price."""
    batch = clean(page("campaign_detail__details", *DETAIL))
    assert rows(batch, "campaigns") == [
        {
            "campaign_id": 53651994,
            "name": "SMS api campaign / 2024-04-03 12:14:49",
            "sender": "testsms",
            "channel": "sms",
            "status": "done",
            "is_final": True,
            "start_at": utc(2024, 4, 3, 12, 14, 49),
            "real_start_at": utc(2024, 4, 3, 12, 15, 6),
            "finished_at": utc(2024, 4, 3, 12, 15, 7),
            "created_at": utc(2024, 4, 3, 12, 14, 49),
            "calculated_price": None,
            "total_messages": 10,
            "total_phones": 10,
            "total_price": Decimal("0.1600000"),
            "currency": "USD",
            "list_delivered": None,
            "list_sent": None,
            "fallback_delivered": None,
            "fallback_sent": None,
            "list_currency": None,
            "detail_extracted_at": T0,
            "list_extracted_at": None,
            "created_month": "2024-04",
            "extracted_at": T0,
        }
    ]
    assert _sorted(rows(batch, "campaign_statistics")) == _sorted(
        _stats("primary", {"delivered": 7, "undelivered": 3}, "2024-04")
    )


def test_campaign_detail_schema_example():
    """An SMS fallback's 13 counts, RFC 3339 times, a 7-decimal total price."""
    batch = clean(page("campaign_detail__schema_example", *DETAIL))
    (row,) = rows(batch, "campaigns")
    assert row["channel"] == "sms" and row["status"] == "creation" and not row["is_final"]
    assert (row["total_messages"], row["total_phones"]) == (1, 1)
    assert (row["total_price"], row["currency"]) == (Decimal("0.3000000"), "USD")
    assert row["start_at"] == row["real_start_at"] == row["finished_at"] == row["created_at"]
    assert row["created_at"] == utc(2000, 1, 23, 4, 56, 7)
    primary = {
        "read": 4,
        "scheduled": 1,
        "accepted": 5,
        "undelivered": 3,
        "delivered": 0,
        "failed": 9,
        "sent": 6,
        "unknown": 2,
        "not_viber_user": 7,
        "expired": 7,
        "moderation": 5,
        "sending": 2,
        "not_rcs_user": 1,
    }
    assert _sorted(rows(batch, "campaign_statistics")) == _sorted(
        _stats("primary", primary, "2000-01") + _stats("sms_fallback", {}, "2000-01")
    )


def test_campaigns_schema_example():
    """The list record: `currency`, a nullable estimate `calculated_price`, no fallback."""
    batch = clean(
        page(
            "campaigns__schema_example",
            "/api/campaigns",
            "/api/campaigns",
            {"filter[type]": "sms"},
        )
    )
    assert rows(batch, "campaigns") == [
        {
            "campaign_id": 53651994,
            "name": "SMS api campaign / 2024-04-03 12:14:49",
            "sender": "testsms",
            "channel": "sms",
            "status": "creation",
            "is_final": False,
            "start_at": utc(2000, 1, 23, 4, 56, 7),
            "real_start_at": utc(2000, 1, 23, 4, 56, 7),
            "finished_at": utc(2000, 1, 23, 4, 56, 7),
            "created_at": utc(2000, 1, 23, 4, 56, 7),
            "calculated_price": Decimal("0.0527088"),
            "total_messages": None,
            "total_phones": None,
            "total_price": None,
            "currency": "USD",
            "list_delivered": 0,
            "list_sent": 6,
            "fallback_delivered": None,
            "fallback_sent": None,
            "list_currency": "USD",
            "detail_extracted_at": None,
            "list_extracted_at": T0,
            "created_month": "2000-01",
            "extracted_at": T0,
        }
    ]
    assert rows(batch, "campaign_statistics") == []


# ---------------------------------------------------------------------------------- legacy
GET_STATUS = ("/rest/sms/getStatus", "/rest/sms/getStatus")


def _sms(mid: int, msisdn: str, ref: str, times: tuple, status: str, price: str):
    return {
        "message_id": mid,
        "msisdn": msisdn,
        "reference": ref,
        "time_in": times[0],
        "time_sent": times[1],
        "time_dr": times[2],
        "status": status,
        "price": Decimal(price),
        "currency": "USD",
        "extracted_at": T0,
    }


def test_get_status_schema_example():
    """`{result: [...]}`: `external_id` is the reference, no `time_in`; two copies, one row."""
    batch = clean(page("sms_get_status__schema_example", *GET_STATUS, {"ids": "123"}))
    times = (None, utc(2025, 1, 14, 15, 30, 20), utc(2025, 1, 14, 15, 30, 25))
    assert rows(batch, "legacy_sms") == [
        _sms(123, "380953227271", "my_ref_123", times, "delivered", "0.0500000")
    ]


def test_get_status_path_examples():
    """The path's own examples answer one SMS body each (its schema says a `result` list)."""
    batch = clean(
        page("sms_get_status__delivered_status", *GET_STATUS, {"ids": "380953227271"}),
        page("sms_get_status__unknown_status", *GET_STATUS, {"ids": "380953227272"}),
    )
    t = utc(2025, 11, 13, 8, 34, 38)
    assert sorted(rows(batch, "legacy_sms"), key=lambda r: r["message_id"]) == [
        _sms(380953227271, "380953227271", "ref_002", (t, t, t), "delivered", "0.0500000"),
        _sms(380953227272, "380953227272", "ref_003", (t, t, t), "unknown", "0"),
    ]


@pytest.mark.parametrize(("name", "code"), [("sms_get_status__error", 20), ("viber_id__error", 40)])
def test_error_examples_are_not_found(name, code):
    """An error example is a "not found" answer: never landed, never a row."""
    data = json.loads(body(name))
    assert legacy_error_code(data) == code and code in LEGACY_NOT_FOUND


def test_sms_by_id_schema_example():
    batch = clean(page("sms_id__schema_example", "/rest/sms/{id}", "/rest/sms/12345"))
    t = utc(2000, 1, 23, 4, 56, 7)
    assert rows(batch, "legacy_sms") == [
        _sms(12345, "380953227271", "unique_ref_123", (t, t, t), "delivered", "0.0500000")
    ]


def test_task_schema_example():
    """The task's id is the path's (the body has none); the counters total, queued, accepted,
    enroute too."""
    batch = clean(page("sms_task__schema_example", "/rest/sms/task/{taskId}", "/rest/sms/task/123"))
    assert rows(batch, "legacy_tasks") == [
        {
            "task_id": 123,
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


VIBER = "/rest/viber/{id}"
NO_ALT = dict.fromkeys(
    (
        "alt_channel",
        "alt_message_id",
        "alt_status",
        "alt_price",
        "alt_currency",
        "alt_time_in",
        "alt_time_sent",
        "alt_time_dr",
        "alt_sender",
        "alt_text",
    )
)


def _viber(mid: int, msisdn: str, ref: str, times: tuple, status: str, price: str, **alt):
    return {**_sms(mid, msisdn, ref, times, status, price), **NO_ALT, **alt}


def test_viber_examples():
    batch = clean(
        page("viber_id__delivered", VIBER, "/rest/viber/15"),
        page("viber_id__with_sms_fallback", VIBER, "/rest/viber/16"),
    )
    t_in, t_sent = utc(2025, 1, 15, 10, 30, 0), utc(2025, 1, 15, 10, 30, 1)
    delivered = (t_in, t_sent, utc(2025, 1, 15, 10, 30, 5))
    failed = (delivered[0], delivered[1], utc(2025, 1, 15, 10, 30, 10))
    assert sorted(rows(batch, "legacy_viber"), key=lambda r: r["message_id"]) == [
        _viber(15, "380953227271", "viber_ref_123", delivered, "delivered", "0.0800000"),
        _viber(
            16,
            "380953227272",
            "viber_ref_124",
            failed,
            "not_viber_user",
            "0.0800000",
            alt_channel="sms",
            alt_message_id=17,
            alt_status="delivered",
            alt_price=Decimal("0.0500000"),
            alt_currency="USD",
            alt_time_in=utc(2025, 1, 15, 10, 30, 11),
            alt_time_sent=utc(2025, 1, 15, 10, 30, 12),
            alt_time_dr=utc(2025, 1, 15, 10, 30, 15),
            alt_sender="BSG",
            alt_text="SMS fallback message",
        ),
    ]


def test_viber_schema_example():
    """Two copies of one SMS route (id 10); its messages list a message 11 (the example's
    ids do not meet): the row takes the route."""
    batch = clean(page("viber__schema_example", VIBER, "/rest/viber/9"))
    (row,) = rows(batch, "legacy_viber")
    t = utc(2025, 11, 10, 17, 30, 20)
    base = _sms(9, "380953227271", "viber_ref_125", (t, t, t), "delivered", "0.0500000")
    assert {k: row[k] for k in base} == base
    assert (row["alt_channel"], row["alt_message_id"], row["alt_status"], row["alt_price"]) == (
        "sms",
        10,
        "delivered",
        Decimal("0.0300000"),
    )
