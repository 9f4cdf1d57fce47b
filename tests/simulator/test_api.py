"""The One API rules: auth, paging, windows, sorting, filters, detail."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bsg_simulator import CAMPAIGN_ID_BASE
from bsg_simulator.testing import make_simulator

from .conftest import BEARER, WINDOW, all_pages, client_for


def amount_of(m: dict) -> Decimal:
    cost = m["amount"] if "amount" in m else m["amont"][0]
    return Decimal(cost["value"])


# ------------------------------------------------------------------ auth
def test_bearer_required(client):
    assert client.get("/api/messages").status_code == 401
    r = client.get("/api/messages", headers={"Authorization": "Bearer "})
    assert r.status_code == 401 and "message" in r.json()
    assert client.get("/api/campaign", headers={"Authorization": "Basic x"}).status_code == 401
    assert client.get("/api/campaigns/1001/detail").status_code == 401
    assert client.get("/api/messages", headers=BEARER).status_code == 200


def test_configured_token_and_login_refresh_expiry():
    sim = make_simulator(messages=300, token="fixed", api_key="live_abc", token_ttl_requests=2)
    with client_for(sim) as c:
        assert c.get("/api/messages", headers=BEARER).status_code == 401
        assert c.get("/api/messages", headers={"Authorization": "Bearer fixed"}).status_code == 200
        assert c.post("/api/auth/login", json={"api_key": "live_other"}).status_code == 401
        assert c.post("/api/auth/login", json={}).status_code == 422
        tok = c.post("/api/auth/login", json={"api_key": "live_abc"}).json()["bearer"]
        h = {"Authorization": f"Bearer {tok}"}
        assert [c.get("/api/messages", headers=h).status_code for _ in range(3)] == [200, 200, 401]
        assert c.post("/api/auth/refresh").status_code == 401
        new = c.post("/api/auth/refresh", headers=h).json()["bearer"]
        assert new != tok
        assert c.get("/api/messages", headers={"Authorization": f"Bearer {new}"}).status_code == 200


def test_open_mode_accepts_any_but_expired_issued():
    sim = make_simulator(messages=300, token_ttl_requests=1)
    with client_for(sim) as c:
        assert (
            c.get("/api/campaign", headers={"Authorization": "Bearer whatever"}).status_code == 200
        )
        tok = c.post("/api/auth/login", json={"api_key": "test_1"}).json()["bearer"]
        h = {"Authorization": f"Bearer {tok}"}
        assert c.get("/api/campaign", headers=h).status_code == 200
        assert c.get("/api/campaign", headers=h).status_code == 401


def test_api_key_required_for_rest():
    sim = make_simulator(messages=300, api_key="live_k")
    with client_for(sim) as c:
        assert c.get("/rest/sms/100000001").status_code == 401
        assert c.get("/rest/sms/100000001", headers={"X-API-KEY": "test_k"}).status_code == 401
        r = c.get("/rest/sms/100000001", headers={"X-API-KEY": "live_k"})
        assert r.status_code in (200, 404)
    with client_for(make_simulator(messages=300)) as c:
        assert c.get("/rest/sms/1", headers={"X-API-KEY": "nope"}).status_code == 401
        assert c.get("/rest/sms/1", headers={"X-API-KEY": "test_x"}).status_code == 404


# --------------------------------------------------------------- paging
@pytest.mark.parametrize("limit,code", [(14, 422), (15, 200), (500, 200), (501, 422), ("x", 422)])
def test_limit_bounds(client, limit, code):
    r = client.get("/api/messages", params={"page[limit]": limit}, headers=BEARER)
    assert r.status_code == code
    if code == 422:
        assert set(r.json()) == {"message", "errors"}
        assert "page[limit]" in r.json()["errors"]
    else:
        assert r.json()["meta"]["page"]["limit"] == limit
    r = client.get("/api/campaign", params={"page[limit]": limit}, headers=BEARER)
    assert r.status_code == code


def test_defaults_and_offsets(client):
    body = client.get("/api/messages", headers=BEARER).json()
    assert body["meta"]["page"]["limit"] == 50 and body["meta"]["page"]["offset"] == 0
    assert len(body["data"]) == 50
    total = body["meta"]["page"]["total"]
    second = client.get("/api/messages", params={"page[offset]": 50}, headers=BEARER).json()
    assert second["meta"]["page"]["total"] == total
    assert second["data"][0]["id"] > body["data"][-1]["id"]
    tail = client.get("/api/messages", params={"page[offset]": total - 3}, headers=BEARER)
    assert len(tail.json()["data"]) == 3
    assert (
        client.get("/api/messages", params={"page[offset]": total}, headers=BEARER).json()["data"]
        == []
    )
    assert (
        client.get("/api/messages", params={"page[offset]": -1}, headers=BEARER).status_code == 422
    )


def test_pages_cover_window_exactly(client):
    rows = all_pages(client, "/api/messages", WINDOW)
    ids = [m["id"] for m in rows]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert all(WINDOW["filter[from]"] <= m["created_at"] <= WINDOW["filter[to]"] for m in rows)


# -------------------------------------------------------------- windows
@pytest.mark.parametrize(
    "params,field",
    [
        ({"filter[to]": "2026-11-20 12:00:01"}, "filter[to]"),
        ({"filter[from]": "2026-11-21 00:00:00"}, "filter[from]"),
        (
            {"filter[from]": "2026-08-19 23:59:59", "filter[to]": "2026-11-20 00:00:00"},
            "filter[from]",
        ),
        ({"filter[from]": "2026-13-01 00:00:00"}, "filter[from]"),
        ({"filter[from]": "2026-09-01"}, "filter[from]"),
        ({"filter[to]": "2026-09-01T00:00:00"}, "filter[to]"),
        (
            {"filter[from]": "2026-11-02 00:00:00", "filter[to]": "2026-11-01 00:00:00"},
            "filter[from]",
        ),
    ],
)
def test_window_refusals(client, params, field):
    for path in ("/api/messages", "/api/campaign"):
        r = client.get(path, params=params, headers=BEARER)
        assert r.status_code == 422, (path, params)
        body = r.json()
        assert isinstance(body["message"], str) and isinstance(body["errors"][field], list)


def test_three_calendar_months_is_allowed(client):
    ok = {"filter[from]": "2026-08-20 00:00:00", "filter[to]": "2026-11-20 00:00:00"}
    assert client.get("/api/messages", params=ok, headers=BEARER).status_code == 200
    # month-end clamping: 2026-05-31 - 3 months = 2026-02-28
    end = {"filter[from]": "2026-02-28 00:00:00", "filter[to]": "2026-05-31 00:00:00"}
    assert client.get("/api/messages", params=end, headers=BEARER).status_code == 200
    end["filter[from]"] = "2026-02-27 23:59:59"
    assert client.get("/api/messages", params=end, headers=BEARER).status_code == 422


def test_default_window_is_three_months_back(client, sim):
    body = client.get("/api/messages", params={"page[limit]": 15}, headers=BEARER).json()
    gt = sim.ground_truth_messages()
    from datetime import UTC, datetime

    import polars as pl

    n = gt.filter(pl.col("created_at") >= datetime(2026, 8, 20, 12, tzinfo=UTC)).height
    assert body["meta"]["page"]["total"] == n


def test_timezone_shifts_window():
    sim = make_simulator(messages=2_000, timezone="Europe/Kyiv")
    with client_for(sim) as c:
        # 12:00 UTC is 14:00 in Kyiv (EET, winter): 13:30 local is not in the future
        assert (
            c.get(
                "/api/messages", params={"filter[to]": "2026-11-20 13:30:00"}, headers=BEARER
            ).status_code
            == 200
        )
        assert (
            c.get(
                "/api/messages", params={"filter[to]": "2026-11-20 14:00:01"}, headers=BEARER
            ).status_code
            == 422
        )
        rows = all_pages(c, "/api/messages", {"filter[from]": "2026-11-01 00:00:00"})
    gt = sim.ground_truth_messages()
    by_id = {r["message_id"]: r for r in gt.iter_rows(named=True)}
    for m in rows[:50]:
        utc = by_id[m["id"]]["created_at"]
        from zoneinfo import ZoneInfo

        assert (
            utc.astimezone(ZoneInfo("Europe/Kyiv")).strftime("%Y-%m-%d %H:%M:%S") == m["created_at"]
        )


# -------------------------------------------------------------- sorting
@pytest.mark.parametrize("s,w", [("sort", "way"), ("Sort", "Way")])
def test_sort_way_spellings(client, s, w):
    r = client.get("/api/messages", params={s: "id", w: "desc", **WINDOW}, headers=BEARER).json()
    ids = [m["id"] for m in r["data"]]
    assert ids == sorted(ids, reverse=True)
    r = client.get(
        "/api/messages", params={s: "phone", w: "asc", "page[limit]": 500, **WINDOW}, headers=BEARER
    ).json()
    phones = [int(m["phone"]) for m in r["data"]]
    assert phones == sorted(phones)
    assert client.get("/api/messages", params={s: "bogus"}, headers=BEARER).status_code == 422
    assert client.get("/api/messages", params={w: "up"}, headers=BEARER).status_code == 422


def test_sort_delivered(client):
    p = {"sort": "delivered", "page[limit]": 500, **WINDOW}
    asc = all_pages(client, "/api/messages", p)
    keys = [(m["delivered_at"] is not None, m["delivered_at"] or "") for m in asc]
    assert keys == sorted(keys)  # never-delivered first (MySQL NULL order), then by time
    desc = all_pages(client, "/api/messages", {**p, "way": "desc"})
    assert [m["id"] for m in desc] == [m["id"] for m in asc][::-1]
    assert len({m["id"] for m in asc}) == len(asc)


def test_campaign_sorts(client):
    for sort, key in [
        ("sender", "sender"),
        ("date", "created_at"),
        ("status", "status"),
        ("id", "id"),
        ("type", "id"),
    ]:
        data = client.get(
            "/api/campaign", params={"sort": sort, "page[limit]": 500}, headers=BEARER
        ).json()["data"]
        vals = [c[key] for c in data]
        assert vals == sorted(vals), sort
        desc = client.get(
            "/api/campaign",
            params={"Sort": sort, "Way": "desc", "page[limit]": 500},
            headers=BEARER,
        ).json()["data"]
        assert [c["id"] for c in desc] == [c["id"] for c in data][::-1]


# -------------------------------------------------------------- filters
def test_message_filters(client, sim):
    page = client.get("/api/messages", params={"page[limit]": 100, **WINDOW}, headers=BEARER).json()
    m = page["data"][37]
    one = client.get(
        "/api/messages", params={"filter[id]": m["id"], **WINDOW}, headers=BEARER
    ).json()
    assert [x["id"] for x in one["data"]] == [m["id"]] and one["meta"]["page"]["total"] == 1
    ref = client.get(
        "/api/messages",
        params={"filter[reference_id]": m["reference_id"], **WINDOW},
        headers=BEARER,
    ).json()
    assert [x["id"] for x in ref["data"]] == [m["id"]]
    none = client.get("/api/messages", params={"filter[reference_id]": "nope"}, headers=BEARER)
    assert none.json()["meta"]["page"]["total"] == 0
    rows = all_pages(client, "/api/messages", {"filter[campaign_id]": m["campaign_id"], **WINDOW})
    assert rows and {x["campaign_id"] for x in rows} == {m["campaign_id"]}
    import polars as pl

    gt = sim.ground_truth_messages().filter(pl.col("campaign_id") == m["campaign_id"])
    assert len(rows) <= gt.height
    assert (
        client.get("/api/messages", params={"filter[id]": "x"}, headers=BEARER).status_code == 422
    )


def test_campaign_type_filter_and_alias(client):
    sms = client.get("/api/campaign", params={"page[limit]": 500}, headers=BEARER).json()
    assert sms["data"] and {c["message_type"] for c in sms["data"]} == {"sms"}
    rcs = client.get(
        "/api/campaigns", params={"filter[type]": "rcs", "page[limit]": 500}, headers=BEARER
    ).json()
    assert rcs["data"] and {c["message_type"] for c in rcs["data"]} == {"rcs"}
    assert (
        client.get("/api/campaign", params={"filter[type]": "viber"}, headers=BEARER).status_code
        == 422
    )


def test_campaign_search(client):
    data = client.get("/api/campaign", params={"page[limit]": 500}, headers=BEARER).json()["data"]
    sender = data[0]["sender"]
    got = client.get(
        "/api/campaign",
        params={"filter[field]": "sender", "filter[value]": sender, "page[limit]": 500},
        headers=BEARER,
    ).json()
    assert got["data"] and all(sender.lower() in c["sender"].lower() for c in got["data"])
    got = client.get(
        "/api/campaign",
        params={"filter[field]": "taskname", "filter[value]": str(data[1]["id"])},
        headers=BEARER,
    ).json()
    assert [c["id"] for c in got["data"]] == [data[1]["id"]]
    bad = client.get(
        "/api/campaign", params={"filter[field]": "x", "filter[value]": "y"}, headers=BEARER
    )
    assert bad.status_code == 422


# --------------------------------------------------------------- detail
def test_detail_totals_equal_sum_of_messages(client, sim):
    rcs = client.get(
        "/api/campaigns", params={"filter[type]": "rcs", "page[limit]": 500}, headers=BEARER
    ).json()["data"]
    sms = client.get("/api/campaigns", params={"page[limit]": 500}, headers=BEARER).json()["data"]
    for camp in rcs[:4] + sms[:4]:
        d = client.get(f"/api/campaigns/{camp['id']}/detail", headers=BEARER).json()
        d = d.get("en-US", d)
        rows = all_pages(
            client,
            "/api/messages",
            {
                "filter[campaign_id]": camp["id"],
                "filter[to]": "2026-11-20 12:00:00",
                "filter[from]": "2026-08-20 12:00:00",
            },
        )
        if camp["created_at"] < "2026-08-20 12:00:00":
            continue
        assert Decimal(d["total_price"]) == sum((amount_of(m) for m in rows), Decimal(0))
        assert d["total_price"].split(".")[1].__len__() == 7
        assert d["currency"] == {amount_cur(m) for m in rows}.pop() if rows else True
        primary = [m for m in rows if m["type"] == camp["message_type"]]
        assert d["total_messages"] == len(primary)
        st = d["statistics"]
        assert sum(st.values()) == len(primary)
        assert camp["statistics"]["delivered"] == st["delivered"] + st["read"]
        fb = d["alternative_channels"]["sms"]["statistics"]
        assert sum(fb.values()) == len(rows) - len(primary)


def amount_cur(m):
    return (m["amount"] if "amount" in m else m["amont"][0])["currency"]


def test_detail_unknown(client):
    assert client.get("/api/campaigns/999999/detail", headers=BEARER).status_code == 404
    assert client.get("/api/campaigns/abc/detail", headers=BEARER).status_code == 404
    assert (
        client.get(f"/api/campaigns/{CAMPAIGN_ID_BASE}/detail", headers=BEARER).status_code == 200
    )
