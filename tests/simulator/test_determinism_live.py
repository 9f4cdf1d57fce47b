"""Same seed and day -> same bytes; the clock drives statuses and arrivals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

from bsg_simulator import Clock
from bsg_simulator.testing import TEST_NOW, make_simulator

from .conftest import BEARER, KEY, WINDOW, all_pages, client_for

PATHS = [
    ("/api/messages", {"page[limit]": 500, **WINDOW}),
    ("/api/messages", {"sort": "phone", "way": "desc", "page[limit]": 100}),
    ("/api/campaigns", {"filter[type]": "rcs"}),
    ("/api/campaigns", {"filter[type]": "whatsapp"}),
    ("/api/campaigns/1010/detail", {}),
]


def _bytes(sim):
    sms = sim.ground_truth_legacy_sms()["message_id"].to_list()[:50]
    viber = sim.ground_truth_legacy_viber()["message_id"].to_list()[:5]
    with client_for(sim) as c:
        out = [c.get(p, params=q, headers=BEARER).content for p, q in PATHS]
        for cid in sim.ground_truth_campaigns()["campaign_id"].to_list():
            out.append(c.get(f"/api/campaigns/{cid}/detail", headers=BEARER).content)
        out.append(c.get(f"/rest/sms/task/{sim.task_ids()[0]}", headers=KEY).content)
        out.append(c.post("/rest/sms/getStatus", json={"ids": sms}, headers=KEY).content)
        out += [c.get(f"/rest/viber/{v}", headers=KEY).content for v in viber]
        return out


def test_same_seed_same_day_same_bytes():
    a, b = make_simulator(messages=3_000, seed=11), make_simulator(messages=3_000, seed=11)
    assert _bytes(a) == _bytes(b)
    for table in ("messages", "campaigns", "rcs_suggestions", "legacy_viber"):
        assert getattr(a, f"ground_truth_{table}")().equals(getattr(b, f"ground_truth_{table}")())
    c = make_simulator(messages=3_000, seed=12)
    assert _bytes(a)[0] != _bytes(c)[0]


def test_anchor_defaults_to_today_midnight_utc():
    from bsg_simulator import Simulator, SimulatorConfig

    a = Simulator(SimulatorConfig(messages=500))
    b = Simulator(SimulatorConfig(messages=500, start=datetime.now(UTC) - timedelta(hours=1)))
    assert a.data.anchor == datetime.now(UTC).date()
    assert (a.data.m_created == b.data.m_created).all()


def test_frozen_clock_is_stable(sim):
    t = sim.clock.now()
    assert sim.clock.now() == t


def test_clock_advances_statuses_and_arrivals():
    sim = make_simulator(messages=20_000, start=TEST_NOW)
    # put the clock in the middle of the biggest campaign's sending
    camps = sim.ground_truth_campaigns(TEST_NOW + timedelta(days=3))
    big = camps.filter(pl.col("status") == "done").sort("total_messages").row(-1, named=True)
    mid = big["real_start_at"] + (big["finished_at"] - big["real_start_at"]) / 2
    sim.clock.set(mid)
    fmt = "%Y-%m-%d %H:%M:%S"
    with client_for(sim) as c:
        q = {"filter[from]": (mid - timedelta(hours=1)).strftime(fmt)}
        before = {m["id"]: m for m in all_pages(c, "/api/messages", q)}
        sim.clock.advance(3 * 3600)
        q["filter[to]"] = (mid + timedelta(hours=3)).strftime(fmt)
        after = {m["id"]: m for m in all_pages(c, "/api/messages", q)}
    assert set(before) < set(after)  # new messages appeared
    changed = [i for i in before if before[i]["status"] != after[i]["status"]]
    assert changed
    order = ["scheduled", "moderation", "sending", "sent", "accepted"]
    for i in changed:
        # a status only moves forward: from an in-flight one, or delivered -> read
        assert before[i]["status"] in order or (before[i]["status"], after[i]["status"]) == (
            "delivered",
            "read",
        )
    # delivered_at only once delivered
    for m in after.values():
        assert (m["delivered_at"] is not None) == (m["status"] in ("delivered", "read"))


def test_status_trajectory_of_one_message():
    sim = make_simulator(messages=5_000)
    gt = sim.ground_truth_messages()
    row = gt.filter(pl.col("status") == "read").row(0, named=True)
    created = row["created_at"]
    seen = []
    for dt in (0, 1, 5, 15, 30, 60, 600, 3600, 86400 * 4):
        df = sim.ground_truth_messages(created + timedelta(seconds=dt))
        seen.append(df.filter(pl.col("message_id") == row["message_id"])["status"][0])
    assert seen[-1] == "read" and seen[0] in ("scheduled", "moderation", "sending")
    assert (
        sim.ground_truth_messages(created - timedelta(seconds=1))
        .filter(pl.col("message_id") == row["message_id"])
        .is_empty()
    )


def test_campaign_status_follows_clock():
    sim = make_simulator(messages=5_000)
    camp = sim.ground_truth_campaigns().filter(pl.col("status") == "done").row(-1, named=True)
    start, end = camp["real_start_at"], camp["finished_at"]
    st = lambda t: sim.ground_truth_campaigns(t).filter(  # noqa: E731
        pl.col("campaign_id") == camp["campaign_id"]
    )["status"]
    assert st(camp["created_at"] + timedelta(seconds=1))[0] == "creation"
    assert st(start - timedelta(seconds=1))[0] in ("scheduled", "creation")
    if end > start + timedelta(seconds=1):
        assert st(start + timedelta(seconds=1))[0] == "sending"
    assert st(end)[0] == "done"


def test_live_clock_moves():
    clock = Clock(TEST_NOW, live=True, speed=1000.0)
    t0 = clock.now()
    import time

    time.sleep(0.02)
    assert clock.now() - t0 >= 10
    clock.freeze()
    t1 = clock.now()
    time.sleep(0.01)
    assert clock.now() == t1
    clock.set(TEST_NOW)
    assert clock.now_s() == int(TEST_NOW.timestamp())


def test_live_simulator_serves_arrivals():
    sim = make_simulator(messages=20_000, live=True, speed=3600.0)
    with client_for(sim) as c:
        n0 = c.get("/api/messages", headers=BEARER).json()["meta"]["page"]["total"]
        import time

        time.sleep(0.3)  # ~18 simulated minutes
        n1 = c.get("/api/messages", headers=BEARER).json()["meta"]["page"]["total"]
    assert n1 >= n0
