"""`bsg-analytics sync` as a user runs it: against a simulator on loopback that fails one
request in five, then again after statuses moved on."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from typer.testing import CliRunner

from bsg_analytics.cli import app
from bsg_analytics.storage import DataDir
from bsg_analytics.transforms.writer import read_table
from bsg_simulator.testing import running_simulator

TOKEN = "tok-cli-SECRET-3"


def point_at(monkeypatch, url: str, data, **extra: str) -> None:
    """The environment a user sets for `sync`: the simulator's URL, a token, a data dir."""
    env = {
        "BSG_API_URL": url,
        "BSG_REST_URL": url,
        "BSG_API_TOKEN": TOKEN,
        "BSG_DATA_DIR": str(data),
        "BSG_WINDOW_DAYS": "31",
        **extra,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)


# through a Prefect server (a session harness, ~25 s to start): in the slow pass
@pytest.mark.slow
@pytest.mark.usefixtures("prefect_server")
def test_sync_with_faults_lands_the_ground_truth_then_picks_up_moved_statuses(
    tmp_path, monkeypatch
):
    data = tmp_path / "data"
    with running_simulator(messages=4_000, seed=9, fault_rate=0.2) as (url, sim):
        point_at(monkeypatch, url, data, BSG_BACKOFF_MAX_SECONDS="0.2")
        since = (datetime.now(UTC) - timedelta(days=7 * 31)).date().isoformat()
        result = CliRunner().invoke(app, ["sync", "--since", since, "--no-progress"])
        assert result.exit_code == 0, result.output
        assert re.search(r"^synced \d{4}-\d\d-\d\d .* UTC in ", result.output), result.output
        assert TOKEN not in result.output
        assert len(sim.app.faults.log) > 10, "the simulator injected too few faults"

        def table():
            return read_table(DataDir(data), "messages").select("message_id", "status")

        first = table().sort("message_id")
        truth = sim.ground_truth_messages().select("message_id", "status").sort("message_id")
        assert first.equals(truth)
        reachable = sim.ground_truth_campaigns().filter("reachable")
        assert read_table(DataDir(data), "campaigns").height == reachable.height

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


def test_sync_runs_without_prefect_when_there_is_no_server_to_report_to(tmp_path, monkeypatch):
    """`auto` with no Prefect API URL: the same pipeline on a thread pool, no temporary
    server; `--orchestrator prefect` would run the flow (the test above, under a server)."""
    import bsg_analytics.flows.sync

    def no_flow(*a, **k):
        raise AssertionError("the Prefect flow ran")

    monkeypatch.setattr(bsg_analytics.flows.sync, "run_flow", no_flow)
    monkeypatch.setattr(
        "bsg_analytics.flows.run.uses_prefect", lambda s: s.orchestrator == "prefect"
    )
    data = tmp_path / "data"
    with running_simulator(messages=1_500, seed=4) as (url, sim):
        point_at(monkeypatch, url, data)
        since = (datetime.now(UTC) - timedelta(days=7 * 31)).date().isoformat()
        result = CliRunner().invoke(app, ["sync", "--since", since, "--no-progress"])
        assert result.exit_code == 0, result.output
        got = read_table(DataDir(data), "messages").select("message_id", "status")
        truth = sim.ground_truth_messages().select("message_id", "status")
        assert got.sort("message_id").equals(truth.sort("message_id"))
        result = CliRunner().invoke(app, ["sync", "--orchestrator", "prefect", "--no-progress"])
        assert result.exit_code == 1 and "the Prefect flow ran" in result.output


def test_json_prints_the_report_and_verbose_shows_the_log(tmp_path, monkeypatch):
    """`--json`: the run's report on stdout, for scripts (the summary line is not printed);
    `-v`: the pipeline's and the client's log lines on stderr, no secret among them."""
    import json

    monkeypatch.setattr("bsg_analytics.flows.run.uses_prefect", lambda s: False)
    data = tmp_path / "data"
    with running_simulator(messages=1_500, seed=4) as (url, _sim):
        point_at(monkeypatch, url, data)
        since = (datetime.now(UTC) - timedelta(days=40)).date().isoformat()
        result = CliRunner().invoke(app, ["sync", "--since", since, "--no-progress", "--json"])
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
        got = read_table(DataDir(data), "messages").height
        assert report["rows"]["messages"] == report["rows_new"]["messages"] == got > 0
        assert report["since"].startswith(since) and "synced" not in result.stdout
        result = CliRunner().invoke(app, ["sync", "--no-progress", "-v"])
        assert result.exit_code == 0, result.output
        assert result.stdout.startswith("synced ")
        logged = [line for line in result.stderr.splitlines() if " INFO bsg_" in line]
        assert logged, result.stderr
        assert TOKEN not in result.stderr
        import logging

        assert not logging.getLogger("bsg_analytics").handlers  # left as they were
        bad = CliRunner().invoke(app, ["sync", "--log-level", "loud"])
        assert bad.exit_code == 2
        assert "--log-level must be one of debug, info, warning, error" in bad.stderr


@pytest.mark.parametrize(
    "orchestrator, task_runner, api_url, expected",
    [
        ("plain", "dask", "http://127.0.0.1:4200/api", False),
        ("prefect", "threads", "", True),
        ("auto", "threads", "", False),
        ("auto", "threads", "http://127.0.0.1:4200/api", True),
        ("auto", "dask", "", True),
    ],
)
def test_auto_orchestrator_picks_prefect_only_with_a_server_or_dask(
    orchestrator, task_runner, api_url, expected, monkeypatch
):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from bsg_analytics.flows.run import uses_prefect
    from bsg_analytics.settings import load_settings

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    settings = load_settings(orchestrator=orchestrator, task_runner=task_runner)
    with temporary_settings(updates={PREFECT_API_URL: api_url or None}):
        assert uses_prefect(settings) is expected


def test_auto_asks_prefect_only_when_a_config_file_could_name_a_server(tmp_path, monkeypatch):
    from bsg_analytics.flows.run import _prefect_config_present

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PREFECT_PROFILES_PATH", raising=False)
    assert not _prefect_config_present()
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    assert not _prefect_config_present()
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "profiles.toml").write_text(
        'active = "srv"\n[profiles.srv]\nPREFECT_API_URL = "http://127.0.0.1:4200/api"\n'
    )
    assert _prefect_config_present()
