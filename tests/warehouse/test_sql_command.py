"""`bsg-analytics sql`: table, csv and json output; one-line errors; builds when missing."""

from __future__ import annotations

import csv
import io
import json

import pytest
from typer.testing import CliRunner

from bsg_analytics.cli import app
from bsg_analytics.settings import Settings
from bsg_analytics.warehouse import run_sql_command

SQL = (
    "SELECT day, channel, sender, currency, spend, cost_per_delivered FROM spend_daily "
    "WHERE currency IS NOT NULL ORDER BY day, channel, sender, currency"
)


def settings_for(data_dir) -> Settings:
    return Settings(data_dir=str(data_dir.root))


def test_json_records_keep_decimals_exact(fixture_data, capsys):
    assert run_sql_command(settings_for(fixture_data), SQL, "json") == 0
    records = json.loads(capsys.readouterr().out)
    assert records[0] == {
        "day": "2026-03-01", "channel": "rcs", "sender": "AcmeBot", "currency": "USD",
        "spend": "0.2500000", "cost_per_delivered": "0.1250000",
    }  # fmt: skip
    assert len(records) == 4


def test_csv(fixture_data, capsys):
    assert run_sql_command(settings_for(fixture_data), SQL, "csv") == 0
    got = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert got[0] == ["day", "channel", "sender", "currency", "spend", "cost_per_delivered"]
    assert got[2] == ["2026-03-01", "sms", "Acme", "EUR", "0.1800000", "0.0600000"]
    assert len(got) == 5


def test_csv_nulls_lists_and_times(fixture_data, capsys):
    sql = "SELECT message_id, fallback_sms_ids, sent_at FROM messages WHERE message_id IN (10, 14)"
    assert run_sql_command(settings_for(fixture_data), sql + " ORDER BY 1", "csv") == 0
    got = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert got[1] == ["10", "[902, 903]", "2026-03-01T10:05:00+00:00"]
    assert got[2] == ["14", "", ""]


def test_table(fixture_data, capsys):
    assert run_sql_command(settings_for(fixture_data), SQL, "table") == 0
    out = capsys.readouterr().out
    assert "AcmeBot" in out and "0.1250000" in out and "4 rows" in out


def test_sql_error_is_one_line_on_stderr(fixture_data, capsys):
    code = run_sql_command(settings_for(fixture_data), "SELECT nope FROM messages", "table")
    captured = capsys.readouterr()
    assert code == 1 and captured.out == ""
    assert captured.err.count("\n") == 1 and captured.err.startswith("bsg-analytics: ")
    assert "nope" in captured.err


def test_writes_are_refused_read_only(fixture_data, capsys):
    assert run_sql_command(settings_for(fixture_data), "DROP VIEW messages", "csv") == 1
    assert "read-only" in capsys.readouterr().err


def test_bad_format(fixture_data, capsys):
    assert run_sql_command(settings_for(fixture_data), "SELECT 1", "xml") == 2


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_cli_builds_the_warehouse_from_anywhere(tmp_path, monkeypatch, fmt):
    data = tmp_path / "data"
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        app, ["sql", "SELECT count(*) AS n FROM messages", "--data-dir", str(data), "-f", fmt]
    )
    assert result.exit_code == 0, result.output
    assert (data / "warehouse.duckdb").exists()
    assert result.stdout.strip() in ('[{"n": 0}]', "n\n0")


def test_sql_answers_without_importing_pyarrow_or_httpx(fixture_data):
    """Start-up is most of what `sql` costs: DuckDB's own rows, no pyarrow (0.2 s to import),
    no httpx (0.14 s). A warehouse that is up to date is opened once and not rebuilt."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from bsg_analytics.cli import app\n"
        "try:\n"
        "    app(['sql', '-d', sys.argv[1], '-f', 'csv', "
        "'select count(*) as n, max(created_at) as t from messages'])\n"
        "except SystemExit as exc:\n"
        "    assert exc.code == 0, exc.code\n"
        "print(sorted(m for m in ('pyarrow', 'httpx', 'prefect') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(fixture_data.root)],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    lines = done.stdout.splitlines()
    assert lines[0] == "n,t"
    assert lines[1].endswith("+00:00")
    assert lines[-1] == "[]"
