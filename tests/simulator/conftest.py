from __future__ import annotations

import calendar

import httpx
import pytest

from bsg_simulator.testing import inprocess_transport, make_simulator

BEARER = {"Authorization": "Bearer test-token"}
KEY = {"X-API-KEY": "test_key"}
# a window inside the fixed test data (TEST_NOW is 2026-11-20 12:00 UTC)
WINDOW = {"filter[from]": "2026-09-01 00:00:00", "filter[to]": "2026-11-20 12:00:00"}
# the three months before TEST_NOW (the longest window one request may ask)
LAST_3_MONTHS = {"filter[from]": "2026-08-20 12:00:00", "filter[to]": "2026-11-20 12:00:00"}
# month-long windows, disjoint (both ends are inclusive), covering the whole fixed test data
# (183 days before 2026-11-20)
MONTHS = [
    {"filter[from]": f"2026-{m:02d}-01 00:00:00",
     "filter[to]": f"2026-{m:02d}-{calendar.monthrange(2026, m)[1]:02d} 23:59:59"}
    for m in range(5, 11)
] + [{"filter[from]": "2026-11-01 00:00:00", "filter[to]": "2026-11-20 12:00:00"}]  # fmt: skip


@pytest.fixture(scope="session")
def sim():
    """A read-only simulator shared by the tests that do not change its state."""
    return make_simulator(messages=5_000)


@pytest.fixture(scope="session")
def client(sim):
    with httpx.Client(transport=inprocess_transport(sim), base_url="http://bsg.test") as c:
        yield c


@pytest.fixture(scope="session")
def every_message(client) -> list[dict]:
    """Every message record of the shared simulator (month by month, ids ascending)."""
    out: list[dict] = []
    for w in MONTHS:
        out += all_pages(client, "/api/messages", w)
    ids = [m["id"] for m in out]
    assert ids == sorted(set(ids))
    return out


def client_for(sim) -> httpx.Client:
    return httpx.Client(transport=inprocess_transport(sim), base_url="http://bsg.test")


def all_pages(client, path: str, params: dict, headers=BEARER, limit: int = 500) -> list[dict]:
    out, offset = [], 0
    while True:
        r = client.get(
            path, params={**params, "page[limit]": limit, "page[offset]": offset}, headers=headers
        )
        assert r.status_code == 200, r.text
        body = r.json()
        out.extend(body["data"])
        offset += limit
        if offset >= body["meta"]["page"]["total"]:
            return out


def every_campaign(client, types=("sms", "rcs", "whatsapp"), path="/api/campaigns") -> list[dict]:
    """Every listed campaign of these types, month by month."""
    out: list[dict] = []
    for t in types:
        for w in MONTHS:
            out += all_pages(client, path, {**w, "filter[type]": t})
    return sorted(out, key=lambda c: c["id"])


def detail_body(d: dict) -> dict:
    """A detail's object, whatever its wrapper."""
    return d.get("data", d.get("en-US", d))


def amount_of(m: dict) -> dict:
    return m["amount"] if "amount" in m else m["amont"][0]


def sent_at_of(m: dict):
    return m["sent_at"] if "sent_at" in m else m["send_at"]
