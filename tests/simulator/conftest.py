from __future__ import annotations

import httpx
import pytest

from bsg_simulator.testing import inprocess_transport, make_simulator

BEARER = {"Authorization": "Bearer test-token"}
KEY = {"X-API-KEY": "test_key"}
# a window inside the fixed test data (TEST_NOW is 2026-11-20 12:00 UTC)
WINDOW = {"filter[from]": "2026-09-01 00:00:00", "filter[to]": "2026-11-20 12:00:00"}


@pytest.fixture(scope="session")
def sim():
    """A read-only simulator shared by the tests that do not change its state."""
    return make_simulator(messages=5_000)


@pytest.fixture(scope="session")
def client(sim):
    with httpx.Client(transport=inprocess_transport(sim), base_url="http://bsg.test") as c:
        yield c


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
