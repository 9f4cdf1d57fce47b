"""The HTML report: self-contained, escaped, and fine with no data."""

from __future__ import annotations

import re

import pytest

from bsg_analytics.report import run_report_command, write_report
from bsg_analytics.settings import Settings
from bsg_analytics.storage import DataDir
from tests.warehouse import wh_fixtures

HOSTILE = [
    "<script>alert(1)</script>",
    "</script><img src=x onerror=alert(2)>",
    "\"'><svg onload=alert(3)>",
    "../../etc/passwd",
    "nul\x00byte",
    '<b>bold</b> & <a href="javascript:alert(4)">x</a>',
    "x" * 5000,
]


def our_markup(text: str) -> str:
    """The HTML without the inlined plotly.js bundle (the first script element)."""
    start = text.index('<script type="text/javascript">')
    end = text.index("</script>", start)
    return text[:start] + text[end + len("</script>") :]


@pytest.fixture(scope="module")
def hostile_report(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile") / "data"
    messages = []
    for i, value in enumerate(HOSTILE):
        messages.append(wh_fixtures.message(
            i + 1, campaign_id=i + 1, channel="sms" if i % 2 else "rcs", sender=value,
            status="delivered", sent_at="2026-03-01 10:00:00",
            delivered_at="2026-03-01 10:00:09", amount_value="0.01", amount_currency=value[:20],
            text=value,
        ))  # fmt: skip
    campaigns = [
        {"campaign_id": i + 1, "name": v, "sender": v, "channel": "sms", "status": v,
         "list_sent": 10, "list_delivered": i, "created_at": wh_fixtures.ts("2026-03-01 09:00:00")}
        for i, v in enumerate(HOSTILE)
    ]  # fmt: skip
    wh_fixtures.write_table(root, "messages", messages)
    wh_fixtures.write_table(root, "campaigns", campaigns)
    return write_report(DataDir(root)).read_text(encoding="utf-8")


def test_default_path_and_single_file(fixture_data_report):
    path, text = fixture_data_report
    assert path.name == "report.html"
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    for title in ("Delivery rate by channel", "Spend by currency", "Delivery-report latency",
                  "Campaigns that most need attention"):  # fmt: skip
        assert title in text
    assert "Spring sale" in text and "No data yet" not in text


def test_self_contained_no_external_urls(fixture_data_report):
    _, text = fixture_data_report
    markup = our_markup(text)
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", markup, re.I)
    assert "<link" not in markup and "@import" not in markup
    # plotly.js, the charts, the filters
    assert text.count("<script") == 3 and "Plotly.newPlot" in text
    assert len(text) > 3_000_000  # plotly.js inlined


def test_hostile_values_are_escaped(hostile_report):
    text = hostile_report
    markup = our_markup(text)
    assert markup.count("<script") == 2 and markup.count("</script>") == 2  # charts, filters
    for bad in ("<script>alert", "<img", "<svg", "onerror=alert(2)>", "<b>bold", "<a href"):
        assert bad not in markup, bad
    assert "\x00" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in markup
    assert "../../etc/passwd" in markup  # shown as text, harmless
    assert "x" * 5000 not in text  # long values are cut
    # inside the figure JSON nothing can end the script element
    script = markup[markup.index("<script") :]
    body = script[script.index(">") + 1 : script.index("</script>")]
    assert "Plotly.newPlot" in body
    assert "<" not in body and ">" not in body.replace("=>", "")


def test_empty_data_dir_says_no_data_yet(data_dir):
    text = write_report(data_dir).read_text()
    assert "No data yet" in text and "<script" not in text


def test_run_report_command(fixture_data, tmp_path, capsys):
    out = tmp_path / "sub" / "r.html"
    assert run_report_command(Settings(data_dir=str(fixture_data.root)), out) == 0
    assert out.exists() and str(out) in capsys.readouterr().out


@pytest.fixture(scope="module")
def fixture_data_report(tmp_path_factory):
    root = tmp_path_factory.mktemp("rep") / "data"
    wh_fixtures.write_fixture(root)
    path = write_report(DataDir(root))
    return path, path.read_text(encoding="utf-8")


@pytest.fixture
def fixture_data(tmp_path):
    root = tmp_path / "data"
    wh_fixtures.write_fixture(root)
    return DataDir(root)
