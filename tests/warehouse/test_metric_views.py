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


def test_fallback_effectiveness(fixture_data):
    got = rows(fixture_data, "SELECT * FROM fallback_effectiveness")
    # 9 -> 901 delivered; 10 -> 902 delivered + 903 undelivered (not all parts); 11 -> 904 missing
    assert got == [(D1, "AcmeBot", 5, 3, 2, 1, 1 / 3)]


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
