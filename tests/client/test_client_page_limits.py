"""page[limit] per list endpoint: the configured page_limit clamped into the endpoint's range
(`bsg_client.servers.PAGE_LIMITS`), logged once per path."""

import logging

import pytest

from bsg_client.servers import PAGE_LIMITS
from tests.fixtures.fakebsg import FakeBSG, make_client

WINDOW = {"filter[from]": "2026-01-01 00:00:00", "filter[to]": "2026-12-31 23:59:59"}


def test_the_published_ranges():
    assert PAGE_LIMITS == {
        "/api/messages": (15, 500),
        "/api/campaigns": (30, 500),
        "/api/campaign": (30, 500),
    }


@pytest.mark.parametrize(
    ("configured", "messages", "campaigns", "other"),
    [(15, 15, 30, 15), (20, 20, 30, 20), (30, 30, 30, 30), (500, 500, 500, 500),
     (800, 500, 500, 800), (10, 15, 30, 10)],
)  # fmt: skip
def test_page_limit_for_each_path(configured, messages, campaigns, other):
    with make_client(FakeBSG(0), page_limit=configured) as client:
        assert client.page_limit_for("/api/messages") == messages
        assert client.page_limit_for("/api/campaigns") == campaigns
        assert client.page_limit_for("/api/campaign") == campaigns
        assert client.page_limit_for("/api/campaigns/1/detail") == other  # not a list
        assert client.page_limit_for("/api/messages", 1000) == 500  # an explicit limit too


def test_paginations_ask_for_the_clamped_limit_and_log_it_once(caplog):
    caplog.set_level(logging.INFO, "bsg_client")
    fake = FakeBSG(40)
    fake.campaigns = [
        {"id": i, "message_type": "sms", "created_at": "2026-03-02 10:00:00"} for i in range(1, 41)
    ]
    with make_client(fake, page_limit=20) as client:
        messages = list(client.paginate("/api/messages", WINDOW))
        for kind in ("sms", "sms"):
            campaigns = list(client.paginate("/api/campaign", {**WINDOW, "filter[type]": kind}))
    asked = [(r.url.path, r.url.params["page[limit]"], r.url.params["page[offset]"])
             for r in fake.requests]  # fmt: skip
    assert asked == [
        ("/api/messages", "20", "0"),
        ("/api/messages", "20", "20"),
        *[("/api/campaign", "30", "0"), ("/api/campaign", "30", "30")] * 2,
    ]
    assert [len(p.records) for p in messages] == [20, 20]
    assert [len(p.records) for p in campaigns] == [30, 10]
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "page limit 20 is outside the 30..500 that GET /api/campaign accepts: asking for 30"
    ]
