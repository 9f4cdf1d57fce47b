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
from tests.warehouse import wh_fixtures

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
    """A data directory with tables and no warehouse yet (a copy, a rebuild): `sql` from
    another folder builds it there."""
    data = tmp_path / "data"
    wh_fixtures.write_fixture(data)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        app, ["sql", "SELECT count(*) AS n FROM campaigns", "--data-dir", str(data), "-f", fmt]
    )
    assert result.exit_code == 0, result.output
    assert (data / "warehouse.duckdb").exists()
    assert result.stdout.strip() in ('[{"n": 3}]', "n\n3")


@pytest.mark.parametrize("made", [False, True])
def test_a_directory_without_a_sync_is_one_line_and_stays_as_it_was(tmp_path, monkeypatch, made):
    """`sql -d ./typo` made the folder and a warehouse and printed 0 rows with exit 0."""
    monkeypatch.chdir(tmp_path)
    typo = tmp_path / "typo"
    if made:
        typo.mkdir()
    result = CliRunner().invoke(app, ["sql", "select * from messages", "-d", str(typo)])
    assert result.exit_code == 3
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    want = "holds no sync yet" if made else "no data directory at"
    assert want in lines[0] and "bsg-analytics sync -d" in lines[0], lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == (["typo"] if made else [])
    if made:
        assert list(typo.iterdir()) == []
    result = CliRunner().invoke(app, ["sql", "select 1"])  # no -d: ./data is not made either
    assert result.exit_code == 3 and not (tmp_path / "data").exists()


def test_a_table_prints_at_most_max_rows(fixture_data):
    d = str(fixture_data.root)
    sql = "select range as n from range(250)"
    out = CliRunner().invoke(app, ["sql", sql, "-d", d]).stdout
    assert "100 rows; more were left out (--max-rows N shows N, 0 all)" in out
    assert " 99 " in out and " 100 " not in out
    out = CliRunner().invoke(app, ["sql", sql, "-d", d, "--max-rows", "0"]).stdout
    assert "250 rows" in out and "left out" not in out
    out = CliRunner().invoke(app, ["sql", sql, "-d", d, "-f", "csv"]).stdout
    assert len(out.splitlines()) == 251  # csv and json: every row unless told
    out = CliRunner().invoke(app, ["sql", sql, "-d", d, "-f", "csv", "--max-rows", "3"]).stdout
    assert out.splitlines() == ["n", "0", "1", "2"]
    result = CliRunner().invoke(app, ["sql", sql, "-d", d, "--max-rows", "-1"])
    assert result.exit_code == 2 and "--max-rows must be 0 (all) or more" in result.stderr


def test_floats_are_rounded_for_the_eye_only(fixture_data):
    d = str(fixture_data.root)
    sql = "select 0.8153846153846154::double as r, 1234567.891::double as big, 2.5::double as h"
    table = CliRunner().invoke(app, ["sql", sql, "-d", d]).stdout
    assert "0.815385" in table and "1,234,568" in table and "2.5" in table
    assert "0.8153846153846154" not in table
    assert CliRunner().invoke(app, ["sql", sql, "-d", d, "-f", "csv"]).stdout.splitlines()[1] == (
        "0.8153846153846154,1234567.891,2.5"
    )


def test_a_table_too_wide_for_the_terminal_is_folded_one_record_a_block(fixture_data):
    d = str(fixture_data.root)
    result = CliRunner(env={"COLUMNS": "80"}).invoke(
        app, ["sql", "select * from campaign_delivery order by campaign_id", "-d", d]
    )
    out = result.stdout
    assert result.exit_code == 0, out
    assert "…" not in out
    assert "record 1" in out and "record 3" in out
    block = out.split("record 1")[1].split("record 2")[0]
    assert "campaign_id" in block and "stats_delivery_rate" in block
    assert max(len(line) for line in out.splitlines()) <= 80
    narrow = CliRunner(env={"COLUMNS": "80"}).invoke(
        app, ["sql", "select campaign_id from campaign_delivery", "-d", d]
    )
    assert "record 1" not in narrow.stdout  # one that fits stays a table


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
