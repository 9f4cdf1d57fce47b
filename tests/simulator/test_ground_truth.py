"""Ground truth equals what paging returns; totals equal sums, exactly."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import polars as pl

from bsg_analytics.schemas.tables import MESSAGES
from bsg_simulator.testing import make_simulator

from .conftest import KEY, WINDOW, all_pages, client_for


def _amount(m):
    return (m["amount"] if "amount" in m else m["amont"][0])["value"]


def test_ground_truth_matches_paging(client, sim):
    gt = sim.ground_truth_messages().filter(
        (pl.col("created_at") >= datetime(2026, 9, 1, tzinfo=UTC))
        & (pl.col("created_at") <= datetime(2026, 11, 20, 12, tzinfo=UTC))
    )
    rows = all_pages(client, "/api/messages", WINDOW)
    assert [m["id"] for m in rows] == gt["message_id"].to_list()
    by_id = {r["message_id"]: r for r in gt.iter_rows(named=True)}
    for m in rows:
        g = by_id[m["id"]]
        assert m["status"] == g["status"] and m["campaign_id"] == g["campaign_id"]
        assert Decimal(_amount(m)) == g["amount_value"]
        assert str(m["phone"]) == g["phone"] and m["reference_id"] == g["reference_id"]
        fb = m.get("alternative_channels", {}).get("sms", {}).get("id")
        assert fb == g["fallback_sms_ids"]
        sent = m.get("sent_at", m.get("send_at"))
        assert sent == (g["sent_at"].strftime("%Y-%m-%d %H:%M:%S") if g["sent_at"] else None)


def test_ground_truth_has_messages_table_columns(sim):
    gt = sim.ground_truth_messages()
    for col in MESSAGES.columns:
        assert col in gt.columns
        assert gt.schema[col] == MESSAGES.schema[col], col


def test_data_shape(sim):
    gt = sim.ground_truth_messages()
    assert set(gt["channel"]) == {"sms", "rcs"}
    assert set(gt["amount_currency"]) >= {"UAH", "EUR"}
    assert set(gt["source"]) == {"web", "rest"}
    assert set(gt["validity_hours"]) <= {24, 48, 72}
    assert gt["country"].n_unique() >= 3 and gt["sender"].n_unique() >= 4
    shares = gt["status"].value_counts(normalize=True)
    share = dict(zip(shares["status"], shares["proportion"], strict=True))
    assert share["delivered"] + share.get("read", 0) > 0.75
    for s in ("expired", "undelivered", "failed", "unknown"):
        assert 0.003 < share[s] < 0.08, s
    span = gt["created_at"].max() - gt["created_at"].min()
    assert span.days >= 150
    # every campaign has one currency
    assert (
        gt.group_by("campaign_id")
        .agg(pl.col("amount_currency").n_unique())["amount_currency"]
        .max()
        == 1
    )


def test_fallback_sms_are_real_sms(sim):
    gt = sim.ground_truth_messages()
    fb = gt.filter(pl.col("fallback_sms_ids").is_not_null())
    assert fb.height > 0
    assert set(fb["channel"]) == {"rcs"}
    assert set(fb["status"]) <= {"failed", "undelivered", "not_rcs_user"}
    ex = fb.explode("fallback_sms_ids").join(
        gt.select(
            pl.col("message_id").alias("fallback_sms_ids"),
            pl.col("campaign_id").alias("c2"),
            pl.col("channel").alias("ch2"),
            pl.col("status").alias("st2"),
            pl.col("phone").alias("p2"),
        ),
        on="fallback_sms_ids",
    )
    assert ex.height == fb.height
    assert (ex["campaign_id"] == ex["c2"]).all() and set(ex["ch2"]) == {"sms"}
    assert (ex["phone"] == ex["p2"]).all()
    assert "delivered" in set(ex["st2"])


def test_campaign_totals_equal_message_sums(sim):
    gt = sim.ground_truth_messages()
    sums = gt.group_by("campaign_id").agg(pl.col("amount_units").sum().alias("s"), pl.len())
    camps = sim.ground_truth_campaigns().join(sums, on="campaign_id", how="left")
    camps = camps.with_columns(pl.col("s").fill_null(0))
    assert (camps["total_units"] == camps["s"]).all()
    for row in camps.head(20).iter_rows(named=True):
        assert row["total_price"] == Decimal(row["s"]) / Decimal(10**7)
        d = sim.campaign_detail(row["campaign_id"])
        d = d.get("en-US", d)
        assert Decimal(d["total_price"]) == row["total_price"]


def test_legacy_ground_truth_matches(client, sim):
    rows = sim.ground_truth_legacy_sms().sample(20, seed=1)
    for r in rows.iter_rows(named=True):
        body = client.get(f"/rest/sms/{r['message_id']}", headers=KEY).json()
        assert body["status"] == r["status"]
        assert body["time_dr"] == (
            r["time_dr"].strftime("%Y-%m-%d %H:%M:%S") if r["time_dr"] else None
        )
        assert Decimal(str(body["price"])) == r["price"]
    tasks = sim.ground_truth_legacy_tasks()
    camps = sim.ground_truth_campaigns().filter(pl.col("channel") == "sms")
    assert tasks.height == camps.height


def test_helpers(sim):
    counts = sim.status_counts()
    assert sum(counts.values()) == sim.ground_truth_messages().height
    spend = sim.spend()
    assert set(spend) >= {"UAH", "EUR"}


def test_small_and_empty():
    for n in (0, 150):
        sim = make_simulator(messages=n)
        assert sim.ground_truth_messages().height <= n * 2
        with client_for(sim) as c:
            assert all_pages(c, "/api/messages", {}) is not None
            c.get("/rest/sms/task/1", headers=KEY)
