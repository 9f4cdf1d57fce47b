"""The unknown-field report: keys the reference pages do not declare, by path, while the
free-form parts (a record's `options`, a page's `links`) may hold any key."""

from __future__ import annotations

import pytest

from bsg_analytics.batch import transform_pages
from tests.transforms.transform_helpers import fixture, message, page


def unknown(*bodies: dict | bytes) -> list[str]:
    batch = transform_pages([page("messages", b, seq=i) for i, b in enumerate(bodies)])
    return batch.report.unknown_fields.get("messages", [])


def test_free_form_keys_are_not_unknown():
    body = {
        "data": [message(id=1, options={"ttl": 60, "tag": "x", "nested": {"deep": [{"k": 1}]}})],
        "links": {"next": "/api/messages?page[offset]=500", "self": "/api/messages"},
        "meta": {"page": {"total": 1, "offset": 0, "limit": 500}},
    }
    assert unknown(body) == []


@pytest.mark.parametrize(
    "extra, path",
    [
        ({"colour": "red"}, "colour"),
        ({"amount": {"value": "1.0", "currency": "UAH", "vat": "0.2"}}, "amount.vat"),
        (
            {"alternative_channels": {"sms": {"id": [2], "parts": 1, "x": 1}}},
            "alternative_channels.sms.x",
        ),
    ],
)
def test_unknown_keys_are_found_beside_free_form_ones(extra, path):
    # the same page also carries free-form keys: the count must discount them and only them
    body = {
        "data": [
            message(id=1, options={"ttl": 60, "colour": "blue"}),
            message(id=2, **extra),
        ],
        "links": {"next": None},
    }
    assert unknown(body) == [path]


def test_a_key_spelt_with_a_space_before_the_colon_is_still_checked():
    raw = b'{"data": [{"id": 1, "created_at": "2024-04-01 10:00:00", "colour" : "red"}]}'
    assert unknown(raw) == ["colour"]


def test_clean_pages_are_not_walked(monkeypatch):
    """The per-record walk is the slow path: pages whose key counts match skip it."""
    import bsg_analytics.transforms.messages as messages

    walked = []
    real = messages.unknown_paths
    monkeypatch.setattr(messages, "unknown_paths", lambda v, s: walked.append(1) or real(v, s))
    clean = {"data": [message(id=1, options={"ttl": 60, "k": {"x": 1}})], "links": {"a": "b"}}
    dirty = {"data": [message(id=2, colour="red")]}
    assert unknown(clean, clean, dirty) == ["colour"]
    assert len(walked) == 1


PUBLISHED_FIXTURES = [
    "messages_published_single.json",
    "messages_published_schema_example.json",
    "messages_published_channels.json",
    "messages_published_alternative_channels.json",
    "messages_published_rcs_options.json",
]


def test_published_fields_are_declared_and_their_pages_are_not_walked(monkeypatch):
    """Every field of the provider's `MessageApiSchema` (card `title`, suggestion `type` and
    `postback_data`, `rcs_options.text`, `alternative_channels.viber`) is declared: none is
    reported, and the key count clears the pages without the per-record walk."""
    import bsg_analytics.transforms.messages as messages

    walked = []
    real = messages.unknown_paths
    monkeypatch.setattr(messages, "unknown_paths", lambda v, s: walked.append(1) or real(v, s))
    assert unknown(*(fixture(name) for name in PUBLISHED_FIXTURES)) == []
    assert walked == []


@pytest.mark.parametrize(
    "extra, path",
    [
        (
            {"alternative_channels": {"viber": {"id": [2], "parts": 1, "x": 1}}},
            "alternative_channels.viber.x",
        ),
        ({"alternative_channels": {"whatsapp": {"id": [2]}}}, "alternative_channels.whatsapp"),
        ({"rcs_options": {"text": "hi", "colour": "red"}}, "rcs_options.colour"),
        (
            {"rcs_options": {"cards": [{"title": "t", "subtitle": "s"}]}},
            "rcs_options.cards[].subtitle",
        ),
        (
            {
                "rcs_options": {
                    "cards": [{"suggestions": [{"type": "link", "url": "u", "icon": "i"}]}]
                }
            },
            "rcs_options.cards[].suggestions[].icon",
        ),
    ],
)
def test_unknown_keys_beside_the_published_ones_are_reported_by_path(extra, path):
    body = {"data": [message(id=1), message(id=2, type="rcs", **extra)]}
    assert unknown(body) == [path]
