"""`find_anomalies` and `bsg-analytics alerts`: open findings since a day, the user's
thresholds, exit codes 0 (none open), 1 (some), 2 (cannot tell), table and JSON output."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from typer.testing import CliRunner

from bsg_analytics.alerts import NothingSynced, find_anomalies, open_since, to_markdown
from bsg_analytics.cli import app
from bsg_analytics.settings import Settings
from bsg_analytics.storage import DataDir
from bsg_analytics.warehouse import build_warehouse, json_rows
from tests.warehouse import cost_fixtures, wh_fixtures
from tests.warehouse.cost_fixtures import TODAY

DAY = dt.timedelta(days=1)
OPEN_TODAY = [  # (kind, subject) of the fixture's findings, all on TODAY, in the view's order
    ("delivery_drop", "Ukraine"),
    ("delivery_drop", "Kyivstar (Ukraine)"),
    ("delivery_drop", "Acme"),
    ("short_runway", "balance in EUR"),
    ("spend_spike", 'campaign 500 "Spring" (Promo)'),
]


@pytest.fixture(scope="module")
def anomaly_data(tmp_path_factory) -> DataDir:
    root = tmp_path_factory.mktemp("alerts") / "data"
    cost_fixtures.write_anomaly_fixture(root)
    data_dir = DataDir(root)
    build_warehouse(data_dir)
    return data_dir


def found(data_dir, settings=None, since=None, today=None):
    table = find_anomalies(data_dir, settings or Settings(), since, today=today)
    return [(r["kind"], r["subject"]) for r in table.to_pylist()]


def test_open_since_counts_today_in():
    assert open_since(Settings(), TODAY) == TODAY - DAY  # alert_open_days = 2
    assert open_since(Settings(alert_open_days=1), TODAY) == TODAY


def test_findings_from_a_day_on(anomaly_data):
    assert found(anomaly_data, since=TODAY) == OPEN_TODAY
    assert found(anomaly_data, since=TODAY + DAY) == []
    # the default: the last alert_open_days days up to today
    assert found(anomaly_data, today=TODAY + DAY) == OPEN_TODAY
    assert found(anomaly_data, Settings(alert_open_days=1), today=TODAY + DAY) == []
    # a lower spend factor finds campaign 501 on the day before, open from then on
    lower = Settings(alert_spend_factor=2.5)
    assert found(anomaly_data, lower, since=TODAY - DAY) == [
        ("spend_spike", 'campaign 501 "Teaser" (Promo)'),
        *OPEN_TODAY,
    ]


def test_the_user_thresholds_beat_the_ones_the_file_was_built_with(tmp_path):
    root = tmp_path / "data"
    cost_fixtures.write_anomaly_fixture(root)
    data_dir = DataDir(root)
    build_warehouse(data_dir, Settings(alert_z=20.0, alert_runway_days=0.5))
    assert found(data_dir, Settings(), since=TODAY) == OPEN_TODAY
    assert found(data_dir, Settings(alert_z=20.0, alert_runway_days=0.5), since=TODAY) == [
        ("spend_spike", 'campaign 500 "Spring" (Promo)')
    ]


def test_nothing_synced(tmp_path):
    with pytest.raises(NothingSynced, match="no statistics export"):
        find_anomalies(DataDir(tmp_path / "none"), Settings())
    assert not (tmp_path / "none").exists()  # nothing is written to look


def test_markdown_escapes_and_counts(anomaly_data):
    rows = json_rows(find_anomalies(anomaly_data, Settings(), TODAY))
    text = to_markdown(rows, TODAY)
    lines = text.splitlines()
    assert lines[0] == "# 5 open anomalies since 2026-03-15"
    assert lines[2] == "| day | kind | dimension | subject | channel | detail |"
    assert len(lines) == 4 + 5
    assert lines[4].startswith("| 2026-03-15 | delivery_drop | country | Ukraine | sms | sms to")
    piped = to_markdown([{"day": "2026-03-15", "subject": "a|b", "detail": "x\ny"}], TODAY)
    assert piped.splitlines()[-1] == "| 2026-03-15 |  |  | a\\|b |  | x y |"
    assert to_markdown([], TODAY).startswith("# No open anomalies")


# --- the command ------------------------------------------------------------------------------


def invoke(*args, env=None):
    return CliRunner().invoke(app, ["alerts", *args], env=env)


def test_exit_1_when_any_is_open_with_a_table(anomaly_data):
    result = invoke("--since", "2026-03-15", "-d", str(anomaly_data.root), env={"COLUMNS": "250"})
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert lines[0].strip() == "open anomalies since 2026-03-15"
    assert lines[-1] == "5 rows"
    assert [c.strip() for c in lines[2].strip("┃").split("┃")] == [
        "day", "kind", "dimension", "subject", "channel", "detail",
    ]  # fmt: skip
    assert "│ 2026-03-15 │ delivery_drop │ operator  │ Kyivstar (Ukraine) " in result.stdout
    assert result.stderr == ""


def test_exit_0_when_none_is_open(anomaly_data):
    result = invoke("--since", "2026-03-16", "-d", str(anomaly_data.root))
    assert (result.exit_code, result.stdout) == (0, "no open anomalies since 2026-03-16\n")
    # without --since: the last two UTC days up to today, long after the fixture's March
    result = invoke("-d", str(anomaly_data.root), "--format", "json")
    assert (result.exit_code, result.stdout) == (0, "[]\n")


def test_json_records(anomaly_data):
    result = invoke("--since", "2026-03-15", "-d", str(anomaly_data.root), "-f", "json")
    assert result.exit_code == 1
    records = json.loads(result.stdout)
    assert [(r["kind"], r["subject"]) for r in records] == OPEN_TODAY
    assert records[1] == {
        "kind": "delivery_drop", "dimension": "operator", "subject": "Kyivstar (Ukraine)",
        "channel": "sms", "country_name": "Ukraine", "operator": "Kyivstar", "sender": None,
        "currency": None, "day": "2026-03-15", "messages": 100, "observed": 0.2,
        "baseline": 0.9, "z": pytest.approx(-10.9528546),
        "detail": "sms to Kyivstar (Ukraine) on 2026-03-15: 20 of 100 final messages "
                  "delivered (20.0%), against 90.0% of 140 in the 14 days before; z = -11.0",
    }  # fmt: skip


def test_thresholds_from_the_environment(anomaly_data):
    env = {"BSG_ALERT_MIN_MESSAGES": "40", "BSG_ALERT_RUNWAY_DAYS": "1"}
    result = invoke("--since", "2026-03-15", "-d", str(anomaly_data.root), "-f", "json", env=env)
    assert result.exit_code == 1
    subjects = {r["subject"] for r in json.loads(result.stdout)}
    assert {"Tiny", "Newish", "Poland"} <= subjects and "balance in EUR" not in subjects


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--format", "xml"], "--format must be one of table, json"),
        (["--since", "15.03.2026"], "--since must be YYYY-MM-DD"),
    ],
)
def test_bad_options_exit_2(anomaly_data, args, needle):
    result = invoke(*args, "-d", str(anomaly_data.root))
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and needle in result.stderr


def test_exit_2_on_a_data_directory_with_no_sync(tmp_path):
    result = invoke("-d", str(tmp_path / "data"))
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith("bsg-analytics: nothing to judge in ")
    assert result.stderr.count("\n") == 1 and "bsg-analytics sync" in result.stderr
    # messages alone are not enough: the anomalies are found in the export and the balance
    wh_fixtures.write_table(tmp_path / "data", "messages", wh_fixtures.MESSAGES)
    assert invoke("-d", str(tmp_path / "data")).exit_code == 2
