"""Each metric view against values computed by hand from `wh_fixtures` (see its comments)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import duckdb
import pytest

from bsg_analytics.warehouse import query

D1, D2 = dt.date(2026, 3, 1), dt.date(2026, 3, 2)


def rows(data_dir, sql):
    return [tuple(r.values()) for r in query(data_dir, sql).to_pylist()]


def test_delivery_rate_daily(fixture_data):
    got = rows(fixture_data, "SELECT * FROM delivery_rate_daily ORDER BY day, channel, sender")
    assert got == [
        (D1, "rcs", "AcmeBot", 5, 2, 0.4),
        # 9 SMS on 03-01 (message 6 was created on 02-28 but sent on 03-01); 3 is scheduled
        (D1, "sms", "Acme", 8, 5, 0.625),
        (D2, "sms", "Acme", 1, 1, 1.0),
        (D2, "sms", "Solo", 0, 0, None),  # nothing sent: rate null
    ]


def test_spend_daily_keeps_decimals(fixture_data):
    got = rows(
        fixture_data,
        "SELECT * FROM spend_daily ORDER BY day, channel, sender, currency NULLS LAST",
    )
    assert got == [
        (D1, "rcs", "AcmeBot", "USD", 5, 2, Decimal("0.25"), Decimal("0.125")),
        (D1, "sms", "Acme", "EUR", 5, 3, Decimal("0.18"), Decimal("0.06")),
        (D1, "sms", "Acme", "USD", 3, 2, Decimal("0.09"), Decimal("0.045")),
        (D1, "sms", "Acme", None, 1, 0, None, None),
        (D2, "sms", "Acme", "EUR", 1, 1, Decimal("0.035"), Decimal("0.035")),
        (D2, "sms", "Acme", None, 1, 0, None, None),
        (D2, "sms", "Solo", None, 1, 0, None, None),
    ]
    types = dict(rows(fixture_data, "SELECT column_name, column_type FROM (DESCRIBE spend_daily)"))
    assert types["spend"].startswith("DECIMAL(") and types["spend"].endswith(",7)")
    assert types["cost_per_delivered"] == "DECIMAL(18,7)"


def test_dlr_latency(fixture_data):
    got = rows(fixture_data, "SELECT * FROM dlr_latency ORDER BY day, channel")
    # SMS 03-01 latencies 5, 5, 10, 30, 100 (messages 901, 902, 1, 4, 6); RCS 20, 60
    expected = [
        (D1, "rcs", 2, 40.0, 56.0, 59.6),
        (D1, "sms", 5, 10.0, 72.0, 97.2),
        (D2, "sms", 1, 40.0, 40.0, 40.0),
    ]
    assert [r[:3] for r in got] == [r[:3] for r in expected]
    for g, e in zip(got, expected, strict=True):
        assert g[3:] == pytest.approx(e[3:], abs=1e-9)


def test_rcs_read_rate(fixture_data):
    assert rows(fixture_data, "SELECT * FROM rcs_read_rate") == [(D1, "AcmeBot", 2, 1, 0.5)]


FALLBACK_ORDER = "ORDER BY day, channel, sender, fallback_channel NULLS FIRST"


def test_fallback_effectiveness(fixture_data):
    got = rows(fixture_data, f"SELECT * FROM fallback_effectiveness {FALLBACK_ORDER}")
    # (day, channel, sender, fallback_channel, messages, fell_back, fallback_found,
    #  fallback_delivered, fallback_delivery_rate)
    assert got == [
        (D1, "rcs", "AcmeBot", None, 2, 0, 0, 0, None),  # 7, 8: no alternative channel
        # 9 -> 901 delivered; 10 -> 902 delivered + 903 undelivered (not all parts);
        # 11 -> 904 missing
        (D1, "rcs", "AcmeBot", "sms", 3, 3, 2, 1, 1 / 3),
        # 1-6; the fallback SMS 901-903 count with their RCS message, not as SMS primaries
        (D1, "sms", "Acme", None, 6, 0, 0, 0, None),
        (D2, "sms", "Acme", None, 2, 0, 0, 0, None),
        (D2, "sms", "Solo", None, 1, 0, 0, 0, None),
    ]


D3 = dt.date(2026, 3, 3)


def test_fallback_effectiveness_over_both_fallback_channels(fallback_data):
    got = rows(fallback_data, f"SELECT * FROM fallback_effectiveness {FALLBACK_ORDER}")
    assert got == [
        (D3, "hlr", "hlr", None, 1, 0, 0, 0, None),
        (D3, "rcs", "AcmeBot", None, 1, 0, 0, 0, None),  # 62: fallback_sms_ids [] (older file)
        # 21 -> 121 delivered; 61 (older file, fallback_sms_ids only) -> 161 delivered
        (D3, "rcs", "AcmeBot", "sms", 2, 2, 2, 2, 1.0),
        # 22 -> 122 delivered; 23 -> 123 not_viber_user; 24: a Viber alternative, no ids yet
        (D3, "rcs", "AcmeBot", "viber", 3, 2, 2, 1, 0.5),
        (D3, "sms", "Acme", "viber", 1, 1, 1, 1, 1.0),  # 41 -> 141 read
        (D3, "viber", "ShopViber", None, 1, 0, 0, 0, None),  # 33
        # 31 -> 131 + 132 both delivered; 32 -> 133 never arrived
        (D3, "viber", "ShopViber", "sms", 2, 2, 1, 1, 0.5),
        (D3, "whatsapp", "AcmeWA", None, 1, 0, 0, 0, None),
    ]
    # every message is a primary or the fallback of one, once
    (n,) = rows(fallback_data, "SELECT count(*) FROM messages")[0]
    (primaries,) = rows(fallback_data, "SELECT sum(messages) FROM fallback_effectiveness")[0]
    assert (n, primaries) == (19, 12)


def test_message_facts_fallback_columns(fallback_data):
    got = rows(
        fallback_data,
        "SELECT message_id, fallback_channel, fallback_ids, has_fallback FROM message_facts "
        "WHERE message_id IN (21, 24, 31, 33, 41, 61, 62, 121) ORDER BY message_id",
    )
    assert got == [
        (21, "sms", [121], True),
        (24, "viber", [], False),
        (31, "sms", [131, 132], True),
        (33, None, None, False),
        (41, "viber", [141], True),
        (61, "sms", [161], True),  # from fallback_sms_ids: a file without the new columns
        (62, None, None, False),
        (121, None, None, False),
    ]


def test_delivery_views_count_all_five_channels(fallback_data):
    got = rows(fallback_data, "SELECT * FROM delivery_rate_daily ORDER BY channel, sender")
    assert got == [
        (D3, "hlr", "hlr", 1, 1, 1.0),
        (D3, "rcs", "AcmeBot", 6, 2, 1 / 3),
        (D3, "sms", "Acme", 3, 2, 2 / 3),  # 41, and the fallbacks 121 and 161
        (D3, "sms", "ShopSMS", 2, 2, 1.0),
        (D3, "viber", "AcmeViber", 2, 2, 1.0),  # 123 not_viber_user: not sent
        (D3, "viber", "ShopViber", 1, 1, 1.0),  # 31, 32 not_viber_user: not sent
        (D3, "whatsapp", "AcmeWA", 1, 1, 1.0),
    ]
    completeness = rows(fallback_data, "SELECT * FROM dlr_completeness ORDER BY channel")
    assert completeness == [
        (D3, "hlr", 1, 1, 1.0),
        (D3, "rcs", 6, 6, 1.0),
        (D3, "sms", 5, 5, 1.0),
        (D3, "viber", 3, 3, 1.0),
        (D3, "whatsapp", 1, 1, 1.0),
    ]
    spend = rows(
        fallback_data, "SELECT channel, sum(messages) FROM spend_daily GROUP BY 1 ORDER BY 1"
    )
    assert spend == [("hlr", 1), ("rcs", 6), ("sms", 5), ("viber", 6), ("whatsapp", 1)]
    # RCS only
    assert rows(fallback_data, "SELECT * FROM rcs_read_rate") == [(D3, "AcmeBot", 2, 0, 0.0)]


def test_campaign_delivery_counts_primaries_only(fallback_data):
    """No campaigns table: the channel comes from the messages, and a fallback (an SMS of a
    Viber campaign, a Viber of an RCS one) is never counted as the campaign's own."""
    got = rows(
        fallback_data,
        "SELECT campaign_id, channel, messages_sent, messages_delivered FROM campaign_delivery "
        "ORDER BY campaign_id",
    )
    assert got == [
        (210, "rcs", 6, 2),  # 121, 161, 122, 123 are fallbacks
        (300, "viber", 1, 1),  # 131, 132 are fallbacks; 31, 32 not_viber_user: not sent
        (410, "sms", 1, 0),  # 141 is a fallback
        (510, "whatsapp", 1, 1),
        (710, "hlr", 1, 1),
    ]


def test_dlr_completeness(fixture_data):
    got = rows(fixture_data, "SELECT * FROM dlr_completeness ORDER BY day, channel")
    assert got == [(D1, "rcs", 5, 5, 1.0), (D1, "sms", 8, 7, 0.875), (D2, "sms", 1, 1, 1.0)]


def test_campaign_delivery(fixture_data):
    got = query(fixture_data, "SELECT * FROM campaign_delivery ORDER BY campaign_id").to_pylist()
    by_id = {r["campaign_id"]: r for r in got}
    assert sorted(by_id) == [100, 200, 300, 400]

    c100 = by_id[100]  # statistics say 3/6, its 6 messages (1 unsent) 3/5: they disagree
    assert (c100["stats_sent"], c100["stats_delivered"], c100["stats_delivery_rate"]) == (6, 3, 0.5)
    assert (c100["list_sent"], c100["list_delivered"], c100["list_delivery_rate"]) == (6, 3, 0.5)
    assert (c100["campaign_delivery_rate"], c100["campaign_rate_source"]) == (0.5, "statistics")
    assert (c100["messages_sent"], c100["messages_delivered"]) == (5, 3)
    assert c100["messages_delivery_rate"] == 0.6
    assert c100["rate_difference"] == pytest.approx(-0.1)
    assert c100["disagrees"] is True

    c200 = by_id[200]  # RCS: the fallback SMS (901-903) are not its primary route
    assert (c200["stats_sent"], c200["stats_delivered"]) == (5, 2)
    assert (c200["messages_sent"], c200["messages_delivered"]) == (5, 2)
    assert c200["rate_difference"] == 0.0 and c200["disagrees"] is False

    c300 = by_id[300]  # known from its messages only: nothing to compare with
    assert (c300["name"], c300["channel"], c300["sender"]) == (None, "sms", "Acme")
    assert c300["messages_delivery_rate"] == 1.0
    assert c300["campaign_delivery_rate"] is None and c300["disagrees"] is None

    c400 = by_id[400]  # the list's counts only, no messages
    assert (c400["campaign_delivery_rate"], c400["campaign_rate_source"]) == (0.9, "list")
    assert c400["messages_sent"] == 0 and c400["messages_delivery_rate"] is None
    assert c400["disagrees"] is None


def test_days_are_utc_whatever_the_session_time_zone(fixture_data):
    con = duckdb.connect(str(fixture_data.warehouse_path), read_only=True)
    try:
        con.execute("SET TimeZone = 'Pacific/Kiritimati'")  # UTC+14
        got = con.execute(
            "SELECT day, sum(sent) FROM delivery_rate_daily GROUP BY day ORDER BY day"
        ).fetchall()
    finally:
        con.close()
    assert got == [(D1, 13), (D2, 1)]


def test_totals_reconcile_with_messages(fixture_data):
    """Every message is in exactly one group of each day-level view."""
    (n,) = rows(fixture_data, "SELECT count(*) FROM messages")[0]
    (m,) = rows(fixture_data, "SELECT sum(messages) FROM spend_daily")[0]
    assert n == m == 17


def test_reconcile_rows_are_json_ready_for_an_artifact(fixture_data):
    import json

    from bsg_analytics.warehouse import reconcile

    result = reconcile(fixture_data)
    assert [r["campaign_id"] for r in result["disagreements"]] == [100]
    # a Prefect table artifact serialises them with json.dumps (times and decimals included)
    json.dumps(result["disagreements"])
