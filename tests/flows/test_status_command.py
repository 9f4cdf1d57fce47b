"""`status`, `sync --dry-run`, `reset`, `sync --full-refresh`, a refused range, Ctrl-C and
a corrupt state file, as a user meets them on the command line (a simulator on loopback)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

import bsg_analytics.pipeline as pipeline
from bsg_analytics.cli import app
from bsg_simulator.testing import running_simulator

runner = CliRunner()
TOKEN = "tok-status-SECRET-7"


@pytest.fixture
def user(monkeypatch, tmp_path):
    """A user's environment pointed at a simulator; yields the data directory."""
    with running_simulator(messages=2_000, seed=4) as (url, _sim):
        data = tmp_path / "data"
        for name, value in {
            "BSG_API_URL": url,
            "BSG_REST_URL": url,
            "BSG_API_TOKEN": TOKEN,
            "BSG_DATA_DIR": str(data),
            "BSG_ORCHESTRATOR": "plain",
        }.items():
            monkeypatch.setenv(name, value)
        monkeypatch.chdir(tmp_path)
        yield data


def since_days(n: int) -> str:
    return (datetime.now(UTC) - timedelta(days=n)).date().isoformat()


def test_status_dry_run_and_the_next_sync_agree(user):
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 3 and "no data directory" in result.output

    done = runner.invoke(app, ["sync", "--since", since_days(20), "--no-progress"])
    assert done.exit_code == 0, done.output
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "last sync:" in out and "watermark:" in out and "unfinished" not in out
    assert "an incremental run" in out and "tables:       messages" in out

    info = json.loads(runner.invoke(app, ["status", "--json"]).output)
    assert info["tables"]["messages"] > 0 and info["unfinished_run"] is None
    assert info["next_sync"]["basis"] == "watermark"
    plan = runner.invoke(app, ["sync", "--dry-run"])
    assert plan.exit_code == 0 and "messages " in plan.output
    n_windows = info["next_sync"]["message_windows"]
    assert plan.output.count("  messages ") == n_windows


def test_an_interrupted_sync_says_so_in_one_line_and_status_shows_it(user, monkeypatch):
    real = pipeline.WindowWriter.put
    calls = {"n": 0}

    def put(self, outcome):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(self, outcome)

    monkeypatch.setattr(pipeline.WindowWriter, "put", put)
    result = runner.invoke(app, ["sync", "--since", since_days(40), "--no-progress"])
    assert result.exit_code == 130
    assert result.output.strip().splitlines() == [
        "bsg-analytics: interrupted; every window written so far is kept and checkpointed: "
        "run the same command again to continue"
    ]
    info = json.loads(runner.invoke(app, ["status", "--json"]).output)
    run = info["unfinished_run"]
    assert run and 0 < run["jobs_done"] < run["jobs"]
    monkeypatch.setattr(pipeline.WindowWriter, "put", real)
    # `status` plans as a sync without --since would: it retires that run. With the same
    # arguments the sync continues it
    again = runner.invoke(app, ["sync", "--since", since_days(40), "--no-progress"])
    assert again.exit_code == 0, again.output
    assert "continued run" in again.output
    assert json.loads(runner.invoke(app, ["status", "--json"]).output)["unfinished_run"] is None


def test_refused_ranges_are_one_line(user):
    future = (datetime.now(UTC) + timedelta(days=3)).date().isoformat()
    result = runner.invoke(app, ["sync", "--since", future])
    assert result.exit_code == 2 and "is in the future" in result.output
    result = runner.invoke(app, ["sync", "--since", since_days(3), "--until", since_days(5)])
    assert result.exit_code == 2 and "is not after --since" in result.output
    assert not user.exists(), "a refused sync made a data directory"


def test_a_corrupt_state_names_the_command_that_repairs_it(user):
    assert runner.invoke(app, ["sync", "--since", since_days(10), "--no-progress"]).exit_code == 0
    (user / "state" / "sync.json").write_text("{half a file")
    result = runner.invoke(app, ["sync", "--no-progress"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "bsg-analytics reset" in lines[0], result.output
    assert "UNREADABLE" in runner.invoke(app, ["status"]).output
    rebuilt = runner.invoke(app, ["rebuild"])
    assert rebuilt.exit_code == 0 and "note: the tables were rebuilt, but" in rebuilt.output
    assert "bsg-analytics reset" in rebuilt.output
    messages_before = json.loads(runner.invoke(app, ["status", "--json"]).output)["tables"]
    reset = runner.invoke(app, ["reset", "--yes"])
    assert reset.exit_code == 0 and "set aside" in reset.output
    assert list((user / "state").glob("aside-*/sync.json"))
    # the next sync reads from the start (90 days back); tables and raw pages were kept
    assert runner.invoke(app, ["sync", "--no-progress"]).exit_code == 0
    info = json.loads(runner.invoke(app, ["status", "--json"]).output)
    assert info["tables"]["messages"] >= messages_before["messages"]
    assert info["last_sync"]["since"] < since_days(80)


def test_full_refresh_starts_over_and_keeps_raw(user):
    assert runner.invoke(app, ["sync", "--since", since_days(10), "--no-progress"]).exit_code == 0
    raw_before = sorted(p.name for p in (user / "raw").rglob("*.json.zst"))
    assert raw_before
    plan = runner.invoke(app, ["sync", "--full-refresh", "--dry-run"])
    assert "a first backfill" in plan.output
    result = runner.invoke(app, ["sync", "--full-refresh", "--no-progress"])
    assert result.exit_code == 0, result.output
    raw_after = sorted(p.name for p in (user / "raw").rglob("*.json.zst"))
    assert set(raw_before) <= set(raw_after)
    info = json.loads(runner.invoke(app, ["status", "--json"]).output)
    assert info["last_sync"]["since"] < since_days(80)
