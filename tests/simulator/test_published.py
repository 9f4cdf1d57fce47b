"""The default (published) shapes: the message record's keys and types, money with 2 and 7
decimals, the `{"data": ...}` detail with 13 counts, the campaign list on `/api/campaigns`
only, `filter[type]` ignored by `/api/messages` (and honoured under the quirk), every source
and campaign status."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest

from bsg_analytics.schemas.statuses import CAMPAIGN_STATISTIC_STATUSES, CHANNELS, SOURCES
from bsg_simulator import CAMPAIGN_ID_BASE
from bsg_simulator.testing import make_simulator

from .conftest import BEARER, LAST_3_MONTHS, MONTHS, WINDOW, all_pages, client_for

MESSAGE_KEYS = ["id", "campaign_id", "reference_id", "type", "source", "text", "phone",
                "validity", "status", "amount", "sender", "created_at", "sent_at",
                "delivered_at", "country", "parts"]  # fmt: skip
DETAIL_KEYS = ["id", "name", "sender", "status", "type", "started_at", "actual_start_at",
               "finished_at", "created_at", "statistics", "alternative_channels",
               "total_messages", "total_phones", "total_price", "currency"]  # fmt: skip
MONEY = re.compile(r"^\d+\.(\d{2}|\d{7})$")


@pytest.fixture(scope="module")
def big():
    return make_simulator(messages=20_000)


def test_message_records(every_message):
    decimals = set()
    for m in every_message:
        tail = (
            ["rcs_options", "alternative_channels"]
            if m["type"] == "rcs"
            else ["alternative_channels"]
        )
        assert list(m) == MESSAGE_KEYS + tail, m
        assert isinstance(m["phone"], int) and isinstance(m["id"], int)
        assert m["reference_id"] is None or isinstance(m["reference_id"], str)
        assert m["type"] in CHANNELS and m["source"] in SOURCES
        assert set(m["amount"]) == {"value", "currency"}
        value = m["amount"]["value"]
        assert MONEY.match(value), value
        places = len(value.split(".")[1])
        decimals.add(places)
        if places == 2:
            assert m["amount"]["value"] == f"{float(value):.2f}"
        if m["type"] == "rcs":
            opts = m["rcs_options"]
            assert set(opts) in ({"cards"}, {"text"})
            for card in opts.get("cards", []):
                assert set(card) - {"title"} == {"text", "media", "suggestions"}
                for s in card["suggestions"]:
                    assert s["type"] in ("link", "call")
                    need = {"type", "text", "url" if s["type"] == "link" else "phone"}
                    assert set(s) - {"postback_data"} == need
    assert decimals == {2, 7}
    assert any(m["reference_id"] is None for m in every_message)
    assert {m["type"] for m in every_message} == set(CHANNELS)


def test_money_with_two_decimals_is_a_whole_number_of_cents(big):
    msgs = big.render_messages(np.arange(big.data.n_messages), big.clock.now_s())
    two = [m for m in msgs if len(m["amount"]["value"].split(".")[1]) == 2]
    seven = [m for m in msgs if len(m["amount"]["value"].split(".")[1]) == 7]
    assert two and seven
    cents = [m for m in seven if m["amount"]["value"].endswith("00000")]
    assert cents  # a whole number of cents may be written with 7 decimals too


def test_detail_shape(big):
    seen_alt, seen_places = set(), set()
    with client_for(big) as c:
        for cid in big.ground_truth_campaigns()["campaign_id"].to_list():
            d = c.get(f"/api/campaigns/{cid}/detail", headers=BEARER).json()
            assert list(d) == ["data"]
            b = d["data"]
            assert list(b) == DETAIL_KEYS
            assert list(b["statistics"]) == list(CAMPAIGN_STATISTIC_STATUSES)
            alt = b["alternative_channels"]
            if alt == []:
                seen_alt.add("none")
            else:
                assert list(alt) == ["sms"] and list(alt["sms"]) == ["statistics"]
                assert list(alt["sms"]["statistics"]) == list(CAMPAIGN_STATISTIC_STATUSES)
                seen_alt.add("sms")
            assert MONEY.match(b["total_price"])
            seen_places.add(len(b["total_price"].split(".")[1]))
    assert seen_alt == {"none", "sms"} and seen_places == {2, 7}


def test_campaign_details_of_every_type(big):
    truth = big.ground_truth_campaigns()
    assert set(truth["channel"]) == set(CHANNELS)
    with client_for(big) as c:
        for ch in ("viber", "hlr"):
            cid = truth.filter(pl.col("channel") == ch)["campaign_id"][0]
            d = c.get(f"/api/campaigns/{cid}/detail", headers=BEARER).json()["data"]
            assert d["type"] == ch


def test_the_list_answers_on_the_published_path_only(client):
    assert client.get("/api/campaigns", headers=BEARER).status_code == 200
    r = client.get("/api/campaign", headers=BEARER)
    assert r.status_code == 404 and "message" in r.json()


def test_every_source_and_campaign_status(big):
    gt = big.ground_truth_messages()
    assert set(gt["source"]) == set(SOURCES)
    ds = big.data
    moderated = np.flatnonzero(ds.c_mod_end > ds.c_created + 30)
    assert len(moderated)
    ci = int(moderated[0])
    at = datetime.fromtimestamp(int(ds.c_created[ci]) + 60, UTC)
    camps = big.ground_truth_campaigns(at)
    assert camps.filter(pl.col("campaign_id") == CAMPAIGN_ID_BASE + ci)["status"][0] == (
        "moderation"
    )
    many = make_simulator(messages=200_000)
    nc = many.data.n_campaigns
    statuses = set(many._campaign_status(np.arange(nc), many.clock.now_s()).tolist())
    assert statuses >= {"done", "stopped", "paused", "spam"}


def test_messages_ignore_filter_type_by_default(client):
    for t in ("viber", "fax"):
        rows = all_pages(client, "/api/messages", {**WINDOW, "filter[type]": t})
        assert {m["type"] for m in rows} == set(CHANNELS)


def test_messages_honour_filter_type_under_the_quirk(sim):
    honoured = make_simulator(messages=5_000, quirks=["messages_type_filter=honoured"])
    with client_for(honoured) as c:
        total = 0
        for t in CHANNELS:
            rows = all_pages(c, "/api/messages", {**LAST_3_MONTHS, "filter[type]": t})
            assert rows and {m["type"] for m in rows} == {t}
            total += len(rows)
        default = all_pages(c, "/api/messages", LAST_3_MONTHS)
        assert {m["type"] for m in default} == {"sms"}
        r = c.get("/api/messages", params={"filter[type]": "fax"}, headers=BEARER)
        assert r.status_code == 422 and "filter[type]" in r.json()["errors"]
    with client_for(sim) as c:
        assert total == len(all_pages(c, "/api/messages", LAST_3_MONTHS))


def test_the_whole_data_is_reachable_month_by_month(sim, every_message):
    assert len(every_message) == sim.ground_truth_messages().height
    assert len(MONTHS) == 7
