"""`bsg-analytics sync` as a user runs it: against a simulator on loopback that fails one
request in five, then again after statuses moved on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from typer.testing import CliRunner

from bsg_analytics.cli import app
from bsg_analytics.storage import DataDir
from bsg_simulator.testing import running_simulator
from transforms.writer import read_table

pytestmark = pytest.mark.usefixtures("prefect_server")
TOKEN = "tok-cli-SECRET-3"


def test_sync_with_faults_lands_the_ground_truth_then_picks_up_moved_statuses(
    tmp_path, monkeypatch
):
    data = tmp_path / "data"
    with running_simulator(messages=4_000, seed=9, fault_rate=0.2) as (url, sim):
        for name, value in {
            "BSG_API_URL": url,
            "BSG_REST_URL": url,
            "BSG_API_TOKEN": TOKEN,
            "BSG_DATA_DIR": str(data),
            "BSG_WINDOW_DAYS": "31",
            "BSG_BACKOFF_MAX_SECONDS": "0.2",
        }.items():
            monkeypatch.setenv(name, value)
        since = (datetime.now(UTC) - timedelta(days=7 * 31)).date().isoformat()
        result = CliRunner().invoke(app, ["sync", "--since", since, "--no-progress"])
        assert result.exit_code == 0, result.output
        assert "synced in" in result.output
        assert TOKEN not in result.output
        assert len(sim.app.faults.log) > 10, "the simulator injected too few faults"

        def table():
            return read_table(DataDir(data), "messages").select("message_id", "status")

        first = table().sort("message_id")
        truth = sim.ground_truth_messages().select("message_id", "status").sort("message_id")
        assert first.equals(truth)
        assert read_table(DataDir(data), "campaigns").height == sim.ground_truth_campaigns().height

        # 60 simulated hours later, an incremental sync (no --since) re-reads the look-back
        sim.clock.advance(60 * 3600)
        until = datetime.now(UTC) - timedelta(minutes=2)
        result = CliRunner().invoke(app, ["sync", "--no-progress"])
        assert result.exit_code == 0, result.output
        second = table().sort("message_id")
        truth = (
            sim.ground_truth_messages()
            .filter(pl.col("created_at") <= until)
            .select("message_id", "status")
            .sort("message_id")
        )
        assert second.equals(truth)
        moved = first.join(second, on="message_id", suffix="_now").filter(
            pl.col("status") != pl.col("status_now")
        )
        assert moved.height > 0, "no status moved on: the second sync proved nothing"


def test_sync_without_a_token_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("BSG_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(app, ["sync", "--no-progress"])
    assert result.exit_code == 2
    assert "BSG_API_TOKEN" in result.output
