"""What makes the report readable: lines that break on days without data, a panel per
currency, the latency as a median line over a band, statuses per channel, week-over-week
changes, the date range, headers that do not break, cost per campaign, and the filters'
markup (the browser test drives them)."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest

from bsg_analytics.report import (
    _cards,
    _delivery_chart,
    _runs,
    _spend_chart,
    _status_chart,
    write_report,
)
from bsg_analytics.storage import DataDir
from tests.report.test_report_costs import cells, section
from tests.warehouse import wh_fixtures

D = dt.date(2026, 3, 1)


def day(n: int) -> dt.date:
    return D + dt.timedelta(days=n)


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("reading") / "data"
    wh_fixtures.write_fixture(root)
    return write_report(DataDir(root)).read_text(encoding="utf-8")


def test_a_line_breaks_on_the_days_without_data():
    rows = [{"day": day(n), "channel": "sms", "delivery_rate": 0.5 + n / 10} for n in (0, 1, 4)]
    rows.append({"day": day(2), "channel": "rcs", "delivery_rate": 0.3})
    fig = _delivery_chart({"delivery": rows})
    assert fig is not None
    sms = next(t for t in fig["data"] if t["name"] == "sms")
    assert sms["x"] == [day(n).isoformat() for n in range(5)]
    assert sms["y"] == [0.5, 0.6, None, None, 0.9]
    assert not sms.get("connectgaps")
    assert sms["meta"] == {"channel": "sms"}  # what the channel filter hides by


def test_each_currency_has_its_own_panel_and_axis():
    rows = [
        {"day": day(0), "currency": "UAH", "spend": Decimal("2500")},
        {"day": day(1), "currency": "EUR", "spend": Decimal("3.5")},
    ]
    fig = _spend_chart({"spend": rows})
    assert fig is not None
    assert [(t["name"], t["yaxis"]) for t in fig["data"]] == [("UAH", "y"), ("EUR", "y2")]
    layout = fig["layout"]
    assert layout["yaxis"]["title"]["text"] == "UAH" and layout["yaxis2"]["title"]["text"] == "EUR"
    titles = [a["text"] for a in layout["annotations"]]
    assert titles == ["spend in UAH", "spend in EUR"]


def test_runs_of_values():
    assert _runs([1.0, None, 2.0, 3.0, None, None, 4.0]) == [(0, 1), (2, 4), (6, 7)]
    assert _runs([None, None]) == [] and _runs([]) == []


def test_statuses_stack_to_each_channels_whole():
    rows = [
        {"channel": "sms", "status": "delivered", "messages": 6},
        {"channel": "sms", "status": "undelivered", "messages": 2},
        {"channel": "rcs", "status": "read", "messages": 1},
        {"channel": "rcs", "status": "not_rcs_user", "messages": 3},
    ]
    fig = _status_chart({"statuses": rows})
    assert fig is not None and fig["layout"]["barmode"] == "stack"
    shares: dict[str, float] = {}
    for t in fig["data"]:
        for ch, x in zip(t["y"], t["x"], strict=True):
            shares[ch] = shares.get(ch, 0) + x
    assert shares == pytest.approx({"rcs": 1.0, "sms": 1.0})
    names = [t["name"] for t in fig["data"]]
    assert names[0] == "delivered" and "not_rcs_user" in names  # the largest first


def test_cards_say_the_change_against_the_week_before():
    data = {
        "headline": [
            {"channel": "sms", "sent": 10, "delivered": 9, "delivery_rate": 0.9},
            {"channel": "rcs", "sent": 4, "delivered": 2, "delivery_rate": 0.5},
        ],
        "weekly": [
            {"channel": "sms", "this_week": 0.9, "week_before": 0.8},
            {"channel": "rcs", "this_week": 0.5, "week_before": None},
        ],
        "spend_total": [{"currency": "EUR", "spend": Decimal("11"), "cost_per_delivered": None}],
        "weekly_spend": [
            {"currency": "EUR", "this_week": Decimal("11"), "week_before": Decimal("10")}
        ],
    }
    (html,) = _cards(data)
    sms, rcs, eur = re.findall(r'<div class="card".*?</div>', html)
    assert '<span class="up">+10.0 pts</span>' in sms
    assert "no week before to compare" in rcs
    assert '<span class="up">+10 %</span>' in eur


def test_the_header_gives_the_date_range_and_headers_do_not_break(report):
    assert "2026-03-01 to 2026-03-02 (UTC days)" in report
    assert re.search(r"th\{[^}]*white-space:nowrap", report)


def test_cost_per_campaign(report):
    rows = cells(section(report, "Cost per campaign"))
    assert rows[0] == ["200", "Bot promo", "rcs", "USD", "8", "4", "0.34", "0.085"]
    assert [r[0] for r in rows] == ["200", "100", "300"]


def test_the_filter_bar_and_what_it_filters(report):
    bar = report[report.index('<form class="filters"') : report.index("</form>")]
    assert 'type="date" id="f-from" min="2026-03-01" max="2026-03-02" value="2026-03-01"' in bar
    for ch in ("rcs", "sms"):
        assert f'class="f-channel" value="{ch}" checked' in bar
    assert '<option value="Acme">Acme</option>' in bar
    assert re.search(r'<tr data-channel="sms" data-sender="Acme">', report)
    assert "data-shown" in report  # the script reports what it shows
