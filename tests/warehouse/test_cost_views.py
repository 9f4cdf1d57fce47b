"""The country / operator, runway and anomaly views against values computed by hand from
`cost_fixtures` (see its comments), and their thresholds as settings."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

import pytest

from bsg_analytics.settings import Settings
from bsg_analytics.storage import DataDir
from bsg_analytics.warehouse import METRIC_DOCS, build_warehouse, metric_sql, query
from tests.warehouse import cost_fixtures
from tests.warehouse.cost_fixtures import TODAY

D1, D2, D0 = dt.date(2026, 3, 1), dt.date(2026, 3, 2), dt.date(2026, 2, 20)
UTC = dt.UTC


def rows(data_dir, sql, settings=None):
    return [tuple(r.values()) for r in query(data_dir, sql, settings).to_pylist()]


@pytest.fixture(scope="module")
def costs_data(tmp_path_factory) -> DataDir:
    root = tmp_path_factory.mktemp("costs") / "data"
    cost_fixtures.write_cost_fixture(root)
    data_dir = DataDir(root)
    build_warehouse(data_dir)
    return data_dir


@pytest.fixture(scope="module")
def anomaly_data(tmp_path_factory) -> DataDir:
    root = tmp_path_factory.mktemp("anomalies") / "data"
    cost_fixtures.write_anomaly_fixture(root)
    data_dir = DataDir(root)
    build_warehouse(data_dir)
    return data_dir


def test_cost_facts_take_status_and_sender_from_messages(costs_data):
    got = rows(
        costs_data,
        "SELECT message_id, campaign_id, day, sender, status, status_source, is_sent, "
        "is_delivered, is_final, latency_seconds FROM cost_facts ORDER BY message_id",
    )
    assert got == [
        (1, 100, D1, "Acme", "read", "messages", True, True, True, 10.0),
        (2, 100, D1, "Acme", "undelivered", "messages", True, False, True, None),
        (3, None, D1, "ACME", "delivered", "export", True, True, True, 30.0),
        (4, 100, D1, "Acme", "delivered", "messages", True, True, True, 20.0),
        (5, None, D1, "ShopViber", "scheduled", "export", False, False, False, None),
        (6, 100, D2, "Acme", "delivered", "messages", True, True, True, 100.0),  # sent 03-02
        (7, None, D2, "ACME", "failed", "export", True, False, True, None),
        (8, None, D2, "ACME", "undelivered", "export", True, False, True, None),
    ]


def test_spend_by_country_operator(costs_data):
    got = rows(
        costs_data,
        "SELECT * FROM spend_by_country_operator ORDER BY day, channel, country_name, operator, "
        "currency",
    )
    # (day, channel, country_name, operator, mcc, mnc, currency, messages, sent, delivered,
    #  delivery_rate, spend, cost_per_delivered)
    assert got == [
        # 1 (read: delivered) and 2 (undelivered, from messages, though the export says sent)
        (D1, "sms", "Ukraine", "Kyivstar", "255", "03", "EUR", 2, 2, 1, 0.5,
         Decimal("0.07"), Decimal("0.07")),
        (D1, "sms", "Ukraine", "Kyivstar", "255", "03", "USD", 1, 1, 1, 1.0,
         Decimal("0.035"), Decimal("0.035")),
        (D1, "sms", "Ukraine", "Vodafone", "255", "01", "EUR", 1, 1, 1, 1.0,
         Decimal("0.04"), Decimal("0.04")),
        # not sent yet: no rate, nothing delivered to divide by
        (D1, "viber", "Poland", "Orange", "260", "03", "EUR", 1, 0, 0, None,
         Decimal("0.02"), None),
        # 6 (delivered), 7 (failed, 0), 8 (undelivered, no price)
        (D2, "sms", "Ukraine", "Kyivstar", "255", "03", "EUR", 3, 3, 1, 1 / 3,
         Decimal("0.035"), Decimal("0.035")),
    ]  # fmt: skip
    types = dict(
        rows(
            costs_data, "SELECT column_name, column_type FROM (DESCRIBE spend_by_country_operator)"
        )
    )
    assert types["spend"] == types["cost_per_delivered"] == "DECIMAL(18,7)"


def test_delivery_by_operator_with_latency_percentiles(costs_data):
    got = rows(
        costs_data, "SELECT * FROM delivery_by_operator ORDER BY day, country_name, operator"
    )
    # (day, country_name, operator, mcc, mnc, messages, sent, delivered, delivery_rate,
    #  dlr_p50_s, dlr_p90_s, dlr_p99_s): Kyivstar on 03-01 all channels and currencies, the
    #  latencies of 1 and 4 (10 s, 20 s; 2 was never delivered)
    expected = [
        (D1, "Poland", "Orange", "260", "03", 1, 0, 0, None, None, None, None),
        (D1, "Ukraine", "Kyivstar", "255", "03", 3, 3, 2, 2 / 3, 15.0, 19.0, 19.9),
        (D1, "Ukraine", "Vodafone", "255", "01", 1, 1, 1, 1.0, 30.0, 30.0, 30.0),
        (D2, "Ukraine", "Kyivstar", "255", "03", 3, 3, 1, 1 / 3, 100.0, 100.0, 100.0),
    ]
    assert [r[:9] for r in got] == [r[:9] for r in expected]
    for g, e in zip(got, expected, strict=True):
        assert g[9:] == pytest.approx(e[9:], abs=1e-9)


def test_balance_runway(costs_data):
    got = rows(costs_data, "SELECT * FROM balance_runway ORDER BY day")
    # EUR spent on 03-01: 0.035 + 0.035 + 0.04 + 0.02 = 0.13 (a day's mean over 7: 0.0185714);
    # up to 03-02 also 0.035 + 0: 0.165 (0.0235714). USD has no rate: left out, named.
    assert got == [
        (D0, dt.datetime(2026, 2, 20, 8, tzinfo=UTC), Decimal("120"), Decimal("0"), "EUR",
         None, [], None),
        # the day's last observation
        (D1, dt.datetime(2026, 3, 1, 20, tzinfo=UTC), Decimal("90"), Decimal("10"), "EUR",
         Decimal("0.0185714"), ["USD"], 100 / 0.0185714),
        (D2, dt.datetime(2026, 3, 2, 12, tzinfo=UTC), Decimal("80"), None, "EUR",
         Decimal("0.0235714"), ["USD"], 80 / 0.0235714),
    ]  # fmt: skip


def test_balance_runway_converts_with_the_currency_rates_setting(costs_data):
    rated = Settings(currency_rates={"usd": "0.9"})
    sql = "SELECT day, spend_7d_per_day, unconverted_currencies, days_left FROM balance_runway"
    got = rows(costs_data, sql + " WHERE day >= DATE '2026-03-01' ORDER BY day", rated)
    # USD 0.035 x 0.9 = 0.0315 joins the EUR: 0.1615 / 7 and 0.1965 / 7
    assert got == [
        (D1, Decimal("0.0230714"), [], 100 / 0.0230714),
        (D2, Decimal("0.0280714"), [], 80 / 0.0280714),
    ]
    # the file itself was built without rates: a plain query still leaves USD out
    assert rows(costs_data, sql + " WHERE day = DATE '2026-03-02'")[0][2] == ["USD"]


def test_a_build_with_settings_writes_their_thresholds(tmp_path):
    root = tmp_path / "data"
    cost_fixtures.write_cost_fixture(root)
    data_dir = DataDir(root)
    build_warehouse(data_dir, Settings(currency_rates={"USD": Decimal("2")}))
    got = rows(data_dir, "SELECT spend_7d_per_day, unconverted_currencies FROM balance_runway "
                         "WHERE day = DATE '2026-03-01'")  # fmt: skip
    assert got == [(Decimal("0.0285714"), [])]  # (0.13 + 0.07) / 7


DROP = (
    "sms to Kyivstar (Ukraine) on 2026-03-15: 20 of 100 final messages delivered (20.0%), "
    "against 90.0% of 140 in the 14 days before; z = -11.0"
)


def two_sample_z(delivered, n, base_delivered, base_n):
    pooled = (delivered + base_delivered) / (n + base_n)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n + 1 / base_n))
    return (delivered / n - base_delivered / base_n) / se


def test_anomalies(anomaly_data):
    got = query(anomaly_data, "SELECT * FROM anomalies").to_pylist()
    z = two_sample_z(20, 100, 126, 140)
    assert z == pytest.approx(-10.95, abs=0.01)
    acme = {"channel": "sms", "currency": None, "day": TODAY, "messages": 100,
            "observed": 0.2, "baseline": 0.9}  # fmt: skip
    assert got == [
        # Acme's 20 of 100 to Kyivstar, as a sender, a country and an operator; its 30 `sent`
        # are not final, and the judged day is not in its own baseline (0.9, not 146 / 240)
        {"kind": "delivery_drop", "dimension": "country", "subject": "Ukraine",
         "country_name": "Ukraine", "operator": None, "sender": None, **acme,
         "z": pytest.approx(z), "detail": DROP.replace("Kyivstar (Ukraine)", "Ukraine")},
        {"kind": "delivery_drop", "dimension": "operator", "subject": "Kyivstar (Ukraine)",
         "country_name": "Ukraine", "operator": "Kyivstar", "sender": None, **acme,
         "z": pytest.approx(z), "detail": DROP},
        {"kind": "delivery_drop", "dimension": "sender", "subject": "Acme",
         "country_name": None, "operator": None, "sender": "Acme", **acme,
         "z": pytest.approx(z),
         "detail": DROP.replace("to Kyivstar (Ukraine)", "from Acme")},
        # only the latest runway row (03-14's is short too)
        {"kind": "short_runway", "dimension": "account", "subject": "balance in EUR",
         "channel": None, "country_name": None, "operator": None, "sender": None,
         "currency": "EUR", "day": TODAY, "messages": None,
         "observed": pytest.approx(7 / 3.7714286), "baseline": 3.7714286, "z": None,
         "detail": "balance on 2026-03-15: 5.0000000 EUR (credit 2.0000000) lasts 1.9 days at "
                   "3.7714286 EUR a day, the mean spend of the 7 days up to it (under 7.0 "
                   "days); spend in USD left out (no rate in BSG_CURRENCY_RATES)"},
        # campaign 500 spent 3.5 x its estimate; 501 (2.9 x) is under, 502 has no estimate
        {"kind": "spend_spike", "dimension": "campaign",
         "subject": 'campaign 500 "Spring" (Promo)', "channel": "sms", "country_name": None,
         "operator": None, "sender": "Promo", "currency": "EUR", "day": TODAY, "messages": 35,
         "observed": 3.5, "baseline": 1.0, "z": None,
         "detail": "campaign 500 spent 3.5000000 EUR on 35 messages by 2026-03-15: 3.5 x its "
                   "estimate of 1.0000000"},
    ]  # fmt: skip


def subjects(data_dir, settings=None):
    sql = "SELECT kind, subject, channel, day FROM anomalies ORDER BY kind, subject, channel"
    return rows(data_dir, sql, settings)


BASE_FINDINGS = [
    ("delivery_drop", "Acme", "sms", TODAY),
    ("delivery_drop", "Kyivstar (Ukraine)", "sms", TODAY),
    ("delivery_drop", "Ukraine", "sms", TODAY),
    ("short_runway", "balance in EUR", None, TODAY),
    ("spend_spike", 'campaign 500 "Spring" (Promo)', "sms", TODAY),
]


@pytest.mark.parametrize(
    ("changes", "added"),
    [
        # Tiny's 10 of 40 (and its country and operator) and Newish's baseline of 40 count
        (
            {"alert_min_messages": 40},
            [
                ("delivery_drop", "Moldcell (Moldova)", "sms", TODAY),
                ("delivery_drop", "Moldova", "sms", TODAY),
                ("delivery_drop", "Newish", "sms", TODAY),
                ("delivery_drop", "Orange (Poland)", "sms", TODAY),
                ("delivery_drop", "Poland", "sms", TODAY),
                ("delivery_drop", "Tiny", "sms", TODAY),
            ],
        ),
        # Bulk's fall of 0.05 is significant (z = -8.2): large enough at 0.04
        (
            {"alert_min_drop": 0.04},
            [
                ("delivery_drop", "Bulk", "sms", TODAY),
                ("delivery_drop", "Lithuania", "sms", TODAY),
                ("delivery_drop", "Telia (Lithuania)", "sms", TODAY),
            ],
        ),
        # Mid's fall of 0.14 on Viber has z = -1.66
        (
            {"alert_z": 1.5},
            [
                ("delivery_drop", "Germany", "viber", TODAY),
                ("delivery_drop", "Mid", "viber", TODAY),
                ("delivery_drop", "Telekom (Germany)", "viber", TODAY),
            ],
        ),
        ({"alert_spend_factor": 2.5},
         [("spend_spike", 'campaign 501 "Teaser" (Promo)', "sms", TODAY - dt.timedelta(1))]),
    ],
)  # fmt: skip
def test_thresholds_are_settings(anomaly_data, changes, added):
    assert subjects(anomaly_data) == BASE_FINDINGS
    assert subjects(anomaly_data, Settings(**changes)) == sorted(BASE_FINDINGS + added)


def test_thresholds_that_remove_findings(anomaly_data):
    assert subjects(anomaly_data, Settings(alert_runway_days=1.5, alert_z=11.0)) == [
        ("spend_spike", 'campaign 500 "Spring" (Promo)', "sms", TODAY),
    ]
    # a baseline of 7 days still holds 70 of Acme's messages
    assert subjects(anomaly_data, Settings(alert_baseline_days=7)) == BASE_FINDINGS


def test_views_are_empty_without_data(tmp_path):
    data_dir = DataDir(tmp_path / "data")
    build_warehouse(data_dir)
    for view in ("cost_facts", "spend_by_country_operator", "delivery_by_operator",
                 "balance_runway", "anomalies"):  # fmt: skip
        assert rows(data_dir, f"SELECT count(*) FROM {view}") == [(0,)]


def test_definitions_render_the_default_thresholds():
    doc = " ".join(METRIC_DOCS["anomalies"].split())
    assert "baseline - rate >= 0.1 and z <= -4.0" in doc
    assert "the 14 days before it" in doc and "more than 3.0 x its own estimate" in doc
    assert "days_left (observed) < 7.0" in doc
    sql = metric_sql("anomalies", Settings(alert_z=2.5))
    assert "{{" not in sql and "z <= -2.5" in sql
    rated = metric_sql("balance_runway", Settings(currency_rates={"USD": "0.9"}))
    assert "('USD', CAST('0.9' AS DECIMAL(28, 12)))" in rated
