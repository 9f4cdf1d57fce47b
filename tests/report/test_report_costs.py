"""The report's country/operator section, the runway card and section, and the anomalies
(open ones marked), on the warehouse's cost fixtures."""

from __future__ import annotations

import re

import pytest

from bsg_analytics.report import _fmt, write_report
from bsg_analytics.storage import DataDir
from tests.warehouse import cost_fixtures


def section(html: str, title: str) -> str:
    """The markup from the <h2> that starts with `title` to the next <h2>."""
    start = html.index(f"<h2>{title}")
    end = html.find("<h2>", start + 4)
    return html[start : end if end > 0 else len(html)]


def cells(markup: str) -> list[list[str]]:
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", markup, re.S)
    return [re.findall(r"<td[^>]*>(.*?)</td>", row, re.S) for row in rows if "<td" in row]


@pytest.fixture(scope="module")
def anomaly_dir(tmp_path_factory) -> DataDir:
    root = tmp_path_factory.mktemp("costs") / "data"
    cost_fixtures.write_anomaly_fixture(root)
    return DataDir(root)


@pytest.fixture(scope="module")
def anomaly_report(anomaly_dir) -> str:
    return write_report(anomaly_dir, today=cost_fixtures.TODAY).read_text(encoding="utf-8")


def test_open_anomalies_are_listed_and_counted(anomaly_report):
    part = section(anomaly_report, "Anomalies")
    rows = cells(part)
    assert rows, "no anomaly shown"
    opened = [r for r in rows if r[1] == "yes"]
    assert re.search(rf"<h2>Anomalies \({len(opened)} open\)</h2>", part)
    assert {r[0] for r in opened} <= {"2026-03-15", "2026-03-14"}
    kinds = {r[2] for r in rows}
    assert {"delivery_drop", "short_runway"} <= kinds


def test_operators_top_spend_and_worst_delivery(anomaly_report):
    part = section(anomaly_report, "Countries and operators")
    spend, worst = part.split("Where delivery fails", 1)
    top = cells(spend)
    assert top and all(r[0] in ("EUR", "USD", "UAH") for r in top)
    # per currency, highest spend first
    for cur in {r[0] for r in top}:
        amounts = [float(r[5].replace(",", "")) for r in top if r[0] == cur and r[5] != "—"]
        assert amounts == sorted(amounts, reverse=True)
    rates = [float(r[6].rstrip("%")) for r in cells(worst)]
    assert rates == sorted(rates)


def test_runway_card_and_section(anomaly_report):
    assert re.search(r'<div class="card">balance EUR<b>5</b>1\.9 days left</div>', anomaly_report)
    (row,) = cells(section(anomaly_report, "Balance and runway"))
    assert row[:4] == ["2026-03-15", "5", "2", "EUR"]


def test_nothing_open_once_the_days_have_passed(anomaly_dir, tmp_path):
    later = cost_fixtures.TODAY.replace(month=5)
    html = write_report(anomaly_dir, tmp_path / "r.html", today=later).read_text(encoding="utf-8")
    assert "<h2>Anomalies (0 open)</h2>" in html and "No anomaly in the last 14 days." in html


def test_an_export_never_synced_says_so(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    html = write_report(DataDir(root)).read_text(encoding="utf-8")
    assert "No statistics export yet." in html and "No balance synced yet." in html


def test_a_list_cell_reads_as_words():
    assert _fmt(["UAH", "USD"]) == "UAH, USD" and _fmt([]) == "—"
