"""The One API rules: auth, paging, windows, sorting, filters, detail."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from bsg_simulator import CAMPAIGN_ID_BASE
from bsg_simulator.testing import TEST_NOW, make_simulator

from .conftest import (
    BEARER,
    LAST_3_MONTHS,
    WINDOW,
    all_pages,
    amount_of,
    client_for,
    detail_body,
    every_campaign,
)


def _payload(token: str) -> dict:
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def _bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


# ------------------------------------------------------------------ auth
def test_bearer_required(client):
    assert client.get("/api/messages").status_code == 401
    r = client.get("/api/messages", headers={"Authorization": "Bearer "})
    assert r.status_code == 401 and "message" in r.json()
    assert client.get("/api/campaigns", headers={"Authorization": "Basic x"}).status_code == 401
    assert client.get("/api/campaigns/1001/detail").status_code == 401
    assert client.get("/api/messages", headers=BEARER).status_code == 200


def test_login_answers_a_jwt_that_lives_thirty_simulated_days():
    sim = make_simulator(messages=300)
    with client_for(sim) as c:
        tok = c.post("/api/auth/login", json={"api_key": "live_abc"}).json()["bearer"]
        head = json.loads(base64.urlsafe_b64decode(tok.split(".")[0] + "=="))
        assert head == {"typ": "JWT", "alg": "RS256"} and len(tok.split(".")) == 3
        p = _payload(tok)
        now = int(TEST_NOW.timestamp())
        assert (p["iat"], p["exp"]) == (now, now + 30 * 86400) and isinstance(p["id"], int)
        other = c.post("/api/auth/login", json={"api_key": "live_abc"}).json()["bearer"]
        assert other != tok
        assert c.get("/api/messages", headers=_bearer(tok)).status_code == 200
        sim.clock.set(p["exp"] - 1)
        assert c.get("/api/messages", headers=_bearer(tok)).status_code == 200
        sim.clock.set(p["exp"])
        r = c.get("/api/messages", headers=_bearer(tok))
        assert r.status_code == 401 and r.json() == {"message": "Token expired."}


def test_refresh_needs_a_valid_unexpired_bearer():
    sim = make_simulator(messages=300, token_ttl_seconds=3600, token="fixed")
    with client_for(sim) as c:
        tok = c.post("/api/auth/login", json={"api_key": "test_k"}).json()["bearer"]
        assert _payload(tok)["exp"] - _payload(tok)["iat"] == 3600
        assert c.post("/api/auth/refresh").status_code == 401
        assert c.post("/api/auth/refresh", headers=_bearer("unknown")).status_code == 401
        sim.clock.advance(3000)  # about to expire: refresh it
        new = c.post("/api/auth/refresh", headers=_bearer(tok)).json()["bearer"]
        assert _payload(new)["exp"] == int(TEST_NOW.timestamp()) + 3000 + 3600
        sim.clock.advance(600)  # the old one has expired, the new one lives on
        assert c.get("/api/messages", headers=_bearer(tok)).status_code == 401
        assert c.post("/api/auth/refresh", headers=_bearer(tok)).status_code == 401
        assert c.get("/api/messages", headers=_bearer(new)).status_code == 200
        assert c.post("/api/auth/refresh", headers=_bearer("fixed")).status_code == 200


def test_open_mode_refuses_a_jwt_past_its_exp():
    sim = make_simulator(messages=300)
    old = make_simulator(messages=10, start=datetime(2026, 1, 1, tzinfo=UTC)).issue_token()
    with client_for(sim) as c:
        assert c.get("/api/messages", headers=_bearer("whatever")).status_code == 200
        assert c.get("/api/messages", headers=_bearer(old)).status_code == 401
        assert c.post("/api/auth/refresh", headers=_bearer(old)).status_code == 401
        assert c.post("/api/auth/refresh", headers=_bearer("whatever")).status_code == 200


def test_configured_token_and_request_count_expiry():
    sim = make_simulator(messages=300, token="fixed", api_key="live_abc", token_ttl_requests=2)
    with client_for(sim) as c:
        assert c.get("/api/messages", headers=BEARER).status_code == 401
        assert c.get("/api/messages", headers=_bearer("fixed")).status_code == 200
        assert c.post("/api/auth/login", json={"api_key": "live_other"}).status_code == 401
        assert c.post("/api/auth/login", json={}).status_code == 422
        tok = c.post("/api/auth/login", json={"api_key": "live_abc"}).json()["bearer"]
        h = _bearer(tok)
        assert [c.get("/api/messages", headers=h).status_code for _ in range(3)] == [200, 200, 401]
        # one used up by requests (not by its exp) may still be refreshed
        new = c.post("/api/auth/refresh", headers=h).json()["bearer"]
        assert new != tok
        assert c.get("/api/messages", headers=_bearer(new)).status_code == 200


# --------------------------------------------------------------- paging
@pytest.mark.parametrize("limit,code", [(14, 422), (15, 200), (500, 200), (501, 422), ("x", 422)])
def test_message_limit_bounds(client, limit, code):
    r = client.get("/api/messages", params={"page[limit]": limit}, headers=BEARER)
    assert r.status_code == code
    if code == 422:
        assert set(r.json()) == {"message", "errors"}
        assert "page[limit]" in r.json()["errors"]
    else:
        assert r.json()["meta"]["page"]["limit"] == limit


@pytest.mark.parametrize("limit,code", [(15, 422), (29, 422), (30, 200), (500, 200), (501, 422)])
def test_campaign_limit_bounds(client, limit, code):
    r = client.get("/api/campaigns", params={"page[limit]": limit}, headers=BEARER)
    assert r.status_code == code
    if code == 422:
        assert "page[limit]" in r.json()["errors"]


def test_the_pages_campaign_path_keeps_its_limits():
    sim = make_simulator(messages=300, quirks=["campaign_list_path=campaign"])
    with client_for(sim) as c:
        assert c.get("/api/campaign", params={"page[limit]": 15}, headers=BEARER).status_code == 200
        assert c.get("/api/campaign", params={"page[limit]": 14}, headers=BEARER).status_code == 422


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
    end = client.get("/api/messages", params={"page[offset]": total}, headers=BEARER)
    assert end.json()["data"] == []
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
    for path in ("/api/messages", "/api/campaigns"):
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
    n = gt.filter(pl.col("created_at") >= datetime(2026, 8, 20, 12, tzinfo=UTC)).height
    assert body["meta"]["page"]["total"] == n


def test_timezone_shifts_window():
    sim = make_simulator(messages=2_000, timezone="Europe/Kyiv")
    with client_for(sim) as c:
        # 12:00 UTC is 14:00 in Kyiv (EET, winter): 13:30 local is not in the future
        ok = c.get("/api/messages", params={"filter[to]": "2026-11-20 13:30:00"}, headers=BEARER)
        assert ok.status_code == 200
        late = c.get("/api/messages", params={"filter[to]": "2026-11-20 14:00:01"}, headers=BEARER)
        assert late.status_code == 422
        rows = all_pages(c, "/api/messages", {"filter[from]": "2026-11-01 00:00:00"})
    by_id = {r["message_id"]: r for r in sim.ground_truth_messages().iter_rows(named=True)}
    assert rows
    for m in rows[:50]:
        utc = by_id[m["id"]]["created_at"]
        assert (
            utc.astimezone(ZoneInfo("Europe/Kyiv")).strftime("%Y-%m-%d %H:%M:%S")
            == (m["created_at"])
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
    phones = [m["phone"] for m in r["data"]]
    assert phones == sorted(phones) and all(isinstance(p, int) for p in phones)
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
    window = {"filter[from]": "2026-05-21 00:00:00", "filter[to]": "2026-08-20 00:00:00"}
    for sort, key in [
        ("sender", "sender"),
        ("date", "created_at"),
        ("status", "status"),
        ("id", "id"),
        ("type", "id"),
    ]:
        params = {"sort": sort, "page[limit]": 500, **window}
        data = client.get("/api/campaigns", params=params, headers=BEARER).json()["data"]
        assert len(data) >= 3
        vals = [c[key] for c in data]
        assert vals == sorted(vals), sort
        params = {"Sort": sort, "Way": "desc", "page[limit]": 500, **window}
        desc = client.get("/api/campaigns", params=params, headers=BEARER).json()["data"]
        assert [c["id"] for c in desc] == [c["id"] for c in data][::-1]


# -------------------------------------------------------------- filters
def test_message_filters(client, sim):
    page = all_pages(client, "/api/messages", WINDOW)
    m = [x for x in page if x["reference_id"] is not None][37]
    one = client.get("/api/messages", params={"filter[id]": m["id"], **WINDOW}, headers=BEARER)
    assert [x["id"] for x in one.json()["data"]] == [m["id"]]
    assert one.json()["meta"]["page"]["total"] == 1
    ref = client.get(
        "/api/messages", params={"filter[reference_id]": m["reference_id"], **WINDOW},
        headers=BEARER,
    ).json()  # fmt: skip
    assert [x["id"] for x in ref["data"]] == [m["id"]]
    none = client.get("/api/messages", params={"filter[reference_id]": "nope"}, headers=BEARER)
    assert none.json()["meta"]["page"]["total"] == 0
    rows = all_pages(client, "/api/messages", {"filter[campaign_id]": m["campaign_id"], **WINDOW})
    assert rows and {x["campaign_id"] for x in rows} == {m["campaign_id"]}
    gt = sim.ground_truth_messages().filter(pl.col("campaign_id") == m["campaign_id"])
    assert len(rows) <= gt.height
    assert (
        client.get("/api/messages", params={"filter[id]": "x"}, headers=BEARER).status_code == 422
    )


def test_a_message_without_reference_is_not_found_by_the_reference_of_its_id(client, sim):
    from bsg_simulator.common import reference_of

    gt = sim.ground_truth_messages().filter(pl.col("reference_id").is_null())
    mid = gt["message_id"][0]
    r = client.get("/api/messages", params={"filter[reference_id]": reference_of(mid)},
                   headers=BEARER)  # fmt: skip
    assert r.json()["meta"]["page"]["total"] == 0


def test_campaign_type_filter(client, sim):
    listed = {}
    for t in ("sms", "rcs", "whatsapp"):
        got = every_campaign(client, types=(t,))
        assert got and {c["message_type"] for c in got} == {t}
        listed[t] = [c["id"] for c in got]
    default = client.get("/api/campaigns", params={"page[limit]": 500}, headers=BEARER).json()
    assert {c["message_type"] for c in default["data"]} == {"sms"}
    for bad in ("viber", "hlr", "fax"):
        r = client.get("/api/campaigns", params={"filter[type]": bad}, headers=BEARER)
        assert r.status_code == 422 and "filter[type]" in r.json()["errors"]
    truth = sim.ground_truth_campaigns()
    for t, ids in listed.items():
        assert ids == truth.filter(pl.col("channel") == t)["campaign_id"].to_list()
    assert set(truth["channel"]) == {"sms", "viber", "rcs", "whatsapp", "hlr"}
    assert truth.filter(pl.col("listable"))["channel"].unique().sort().to_list() == [
        "rcs", "sms", "whatsapp"
    ]  # fmt: skip


def test_campaign_search(client):
    base = {"page[limit]": 500, **LAST_3_MONTHS}
    data = client.get("/api/campaigns", params=base, headers=BEARER).json()["data"]
    sender = data[0]["sender"]
    got = client.get(
        "/api/campaigns",
        params={"search[field]": "sender", "search[value]": sender.upper(), **base},
        headers=BEARER,
    ).json()["data"]
    assert got and all(sender.lower() in c["sender"].lower() for c in got)
    assert [c["id"] for c in got] == [c["id"] for c in data if sender in c["sender"]]
    # taskname: a part of the campaign name, or its id
    part = data[1]["name"].split(" / ")[1]
    got = client.get(
        "/api/campaigns", params={"search[field]": "taskname", "search[value]": part, **base},
        headers=BEARER,
    ).json()["data"]  # fmt: skip
    assert [c["id"] for c in got] == [data[1]["id"]]
    by_id = {"search[field]": "taskname", "search[value]": str(data[1]["id"]), **base}
    got = client.get("/api/campaigns", params=by_id, headers=BEARER).json()["data"]
    assert [c["id"] for c in got] == [data[1]["id"]]
    # the page's spelling is not read by the published server
    page = {"filter[field]": "sender", "filter[value]": "zzz", **base}
    assert len(client.get("/api/campaigns", params=page, headers=BEARER).json()["data"]) == len(
        data
    )
    for bad in ({"search[field]": "x", "search[value]": "y"}, {"search[field]": "sender"}):
        r = client.get("/api/campaigns", params=bad, headers=BEARER)
        assert r.status_code == 422


def test_campaign_list_record_shape(client):
    for c in every_campaign(client):
        assert list(c) == [
            "id", "name", "sender", "status", "message_type", "start_at", "real_start_at",
            "finished_at", "created_at", "statistics", "calculated_price", "currency",
        ]  # fmt: skip
        assert set(c["statistics"]) == {"delivered", "sent"}
        assert c["calculated_price"] is None or isinstance(c["calculated_price"], float)
        assert c["currency"] in ("UAH", "EUR", "USD")


# --------------------------------------------------------------- detail
def test_detail_totals_equal_sum_of_messages(client, sim, every_message):
    by_campaign: dict[int, list[dict]] = {}
    for m in every_message:
        by_campaign.setdefault(m["campaign_id"], []).append(m)
    truth = sim.ground_truth_campaigns()
    checked = 0
    for camp in truth.iter_rows(named=True):
        d = detail_body(client.get(f"/api/campaigns/{camp['campaign_id']}/detail",
                                   headers=BEARER).json())  # fmt: skip
        rows = by_campaign.get(camp["campaign_id"], [])
        assert d["type"] == camp["channel"]
        assert Decimal(d["total_price"]) == sum((Decimal(amount_of(m)["value"]) for m in rows),
                                                Decimal(0))  # fmt: skip
        assert len(d["total_price"].split(".")[1]) in (2, 7)
        assert {amount_of(m)["currency"] for m in rows} <= {d["currency"]}
        primary = [m for m in rows if m["type"] == camp["channel"]]
        fallback = [m for m in rows if m["type"] != camp["channel"]]
        assert d["total_messages"] == len(primary)
        assert sum(d["statistics"].values()) == len(primary)
        sms_fb = [m for m in fallback if m["type"] == "sms"]
        if camp["fallback_channel"] == "sms":
            assert sum(d["alternative_channels"]["sms"]["statistics"].values()) == len(sms_fb)
        else:
            assert d["alternative_channels"] == [] and not sms_fb
        checked += 1
    assert checked == truth.height >= 20


def test_detail_unknown(client):
    assert client.get("/api/campaigns/999999/detail", headers=BEARER).status_code == 404
    assert client.get("/api/campaigns/abc/detail", headers=BEARER).status_code == 404
    assert (
        client.get(f"/api/campaigns/{CAMPAIGN_ID_BASE}/detail", headers=BEARER).status_code == 200
    )
