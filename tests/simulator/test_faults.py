"""Injected faults: shapes, determinism, rate limit, dropped connections over a real socket."""

from __future__ import annotations

from email.utils import parsedate_to_datetime

import httpx
import orjson
import pytest

from bsg_simulator import FAULT_KINDS
from bsg_simulator.server import run_in_thread
from bsg_simulator.testing import make_simulator

from .conftest import BEARER, client_for


def _faulty(kind: str, **cfg):
    return make_simulator(messages=500, fault_rate=1.0, fault_kinds=(kind,), slow_ms=50, **cfg)


@pytest.mark.parametrize("kind", [k for k in FAULT_KINDS if k != "drop"])
def test_fault_shapes_inprocess(kind):
    with client_for(_faulty(kind)) as c:
        r = c.get("/api/messages", headers=BEARER)
    if kind == "429_retry_after":
        assert r.status_code == 429 and r.headers["retry-after"].isdigit()
        assert "message" in r.json()
    elif kind == "429_retry_after_date":
        assert r.status_code == 429
        assert parsedate_to_datetime(r.headers["retry-after"]).tzinfo is not None
    elif kind == "429_bare":
        assert r.status_code == 429 and "retry-after" not in r.headers
    elif kind == "500":
        assert r.status_code == 500 and r.json()["message"]
    elif kind in ("502_html", "503_html"):
        assert r.status_code == int(kind[:3])
        assert r.headers["content-type"].startswith("text/html") and "<html>" in r.text
    elif kind == "slow":
        assert r.status_code == 200 and r.json()["data"]
    elif kind == "truncated":
        assert r.status_code == 200
        assert int(r.headers["content-length"]) == len(r.content)
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(r.content)


def test_drop_inprocess_raises_transport_error():
    with client_for(_faulty("drop")) as c, pytest.raises(httpx.TransportError):
        c.get("/api/messages", headers=BEARER)


def test_drop_over_loopback_socket():
    sim = _faulty("drop")
    with run_in_thread(sim.app) as url, httpx.Client(base_url=url) as c:
        with pytest.raises(httpx.TransportError):
            c.get("/api/messages", headers=BEARER)
        # the server is still fine afterwards: faults off
        object.__setattr__(sim.config, "fault_rate", 0.0)
        assert c.get("/api/messages", headers=BEARER).status_code == 200


def test_auth_exempt_by_default_and_configurable():
    with client_for(_faulty("500")) as c:
        assert c.post("/api/auth/login", json={"api_key": "test_x"}).status_code == 200
    with client_for(_faulty("500", faults_exempt_auth=False)) as c:
        assert c.post("/api/auth/login", json={"api_key": "test_x"}).status_code == 500


def _sequence(sim, n=30):
    out = []
    with client_for(sim) as c:
        for i in range(n):
            path = "/api/messages"
            params = {"page[offset]": (i % 5) * 15, "page[limit]": 15}
            try:
                out.append(c.get(path, params=params, headers=BEARER).status_code)
            except httpx.TransportError:
                out.append("drop")
    return out


def test_faults_deterministic_and_retries_redraw():
    cfg = dict(fault_rate=0.5, slow_ms=1, fault_kinds=("500", "502_html", "429_bare", "drop"))
    a = _sequence(make_simulator(messages=500, **cfg))
    b = _sequence(make_simulator(messages=500, **cfg))
    assert a == b
    assert 200 in a and any(x != 200 for x in a)
    # the same request key repeated gets fresh draws, so it eventually succeeds
    sim = make_simulator(messages=500, **cfg)
    with client_for(sim) as c:
        codes = []
        for _ in range(20):
            try:
                codes.append(c.get("/api/campaigns", headers=BEARER).status_code)
            except httpx.TransportError:
                codes.append("drop")
    assert 200 in codes and len(set(codes)) > 1
    assert [k for k, _, _ in sim.app.faults.log][:1] == ["GET /api/campaigns?"]


def test_query_order_is_one_key():
    from bsg_simulator.app import FaultPlan

    assert FaultPlan.request_key("GET", "/x", b"b=2&a=1") == FaultPlan.request_key(
        "GET", "/x", b"a=1&b=2"
    )


def test_latency():
    import time

    sim = make_simulator(messages=300, latency_ms=30)
    with client_for(sim) as c:
        t = time.perf_counter()
        c.get("/api/messages", headers=BEARER)
        assert time.perf_counter() - t >= 0.03


def test_rate_limit_token_bucket():
    sim = make_simulator(messages=300, rate_limit=5)
    with client_for(sim) as c:
        codes = [c.get("/api/messages", headers=BEARER) for _ in range(12)]
    limited = [r for r in codes if r.status_code == 429]
    assert limited and codes[0].status_code == 200
    assert all(int(r.headers["retry-after"]) >= 1 for r in limited)
