"""Helpers for the transform tests: raw pages from fixtures or from Python objects."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson

from bsg_analytics.raw import RawPage

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "api"
T0 = datetime(2024, 4, 1, 12, 0, tzinfo=UTC)

ENDPOINTS = {
    "messages": "/api/messages",
    "campaigns": "/api/campaign",
    "campaign_detail": "/api/campaigns/1/detail",
    "legacy_sms": "/rest/sms/1",
    "legacy_task": "/rest/sms/task/1",
    "legacy_viber": "/rest/viber/1",
}


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def page(
    stream: str,
    body: bytes | dict | list | str,
    *,
    seq: int = 0,
    fetched_at: datetime = T0,
    endpoint: str | None = None,
    run_id: str = "run1",
    group: str = "g",
) -> RawPage:
    if isinstance(body, str) and (FIXTURES / body).exists():
        body = fixture(body)
    elif isinstance(body, str):
        body = body.encode()
    elif not isinstance(body, bytes):
        body = orjson.dumps(body)
    return RawPage(
        stream=stream,
        endpoint=endpoint or ENDPOINTS[stream],
        params={},
        fetched_at=fetched_at,
        status_code=200,
        body=body,
        run_id=run_id,
        group=group,
        seq=seq,
    )


def message(**overrides) -> dict:
    """A realistic SMS message record; `key=...` (Ellipsis) removes a key."""
    rec = {
        "id": 1,
        "campaign_id": 7,
        "reference_id": "ref",
        "type": "sms",
        "source": "rest",
        "text": "hi",
        "phone": 380661234567,
        "validity": 72,
        "status": "delivered",
        "amount": {"value": "0.2500000", "currency": "UAH"},
        "sender": "BSG",
        "created_at": "2024-03-31 01:30:00",
        "sent_at": "2024-03-31 01:30:05",
        "delivered_at": "2024-03-31 01:31:00",
    }
    for key, value in overrides.items():
        if value is ...:
            rec.pop(key, None)
        else:
            rec[key] = value
    return rec


def messages_page(records: list, **kw) -> RawPage:
    total = len(records)
    return page("messages", {"data": records, "meta": {"page": {"total": total}}}, **kw)
