"""The Prefect flows, run for real on a test server against the simulator on loopback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from bsg_analytics.schemas.tables import TABLES
from bsg_analytics.storage import DataDir
from bsg_analytics.transforms.writer import read_table

# flows on a Prefect server (a session harness, ~25 s to start): in the slow pass, which
# CI runs; the default run stays under 3 minutes
pytestmark = [pytest.mark.usefixtures("prefect_server"), pytest.mark.slow]


def since_for(sim):
    return (datetime.now(UTC) - timedelta(days=sim.config.days + 1)).date()


def messages(data_dir):
    return read_table(DataDir(data_dir), "messages").select(pl.exclude("^.*extracted_at$"))


def test_sync_flow_lands_the_ground_truth_and_keeps_secrets_out_of_prefect(flow_env):
    from prefect.client.orchestration import get_client

    from bsg_analytics.flows.sync import run_flow

    sim, data_dir = flow_env
    report = run_flow(since=since_for(sim))
    got = messages(data_dir).sort("message_id")
    truth = sim.ground_truth_messages()
    assert got.height == truth.height == report["rows"]["messages"]
    assert got["message_id"].to_list() == truth.sort("message_id")["message_id"].to_list()
    assert report["quarantined"] == 0

    # the flow run's parameters, as stored by Prefect, carry no secret
    import asyncio

    async def stored_parameters():
        async with get_client() as client:
            runs = await client.read_flow_runs()
            return [str(r.parameters) for r in runs]

    for text in asyncio.run(stored_parameters()):
        assert "SECRET" not in text


def test_dask_runner_gives_the_same_tables_as_threads(flow_env, monkeypatch, tmp_path):
    from bsg_analytics.flows.sync import run_flow

    sim, data_dir = flow_env
    since = since_for(sim)
    run_flow(since=since)
    monkeypatch.setenv("BSG_DATA_DIR", str(tmp_path / "dask"))
    monkeypatch.setenv("BSG_TASK_RUNNER", "dask")
    run_flow(since=since)
    for table in ("messages", "campaigns", "campaign_statistics", "rcs_suggestions"):
        key = list(TABLES[table].key)
        a = read_table(DataDir(data_dir), table).select(pl.exclude("^.*extracted_at$")).sort(key)
        b = read_table(DataDir(tmp_path / "dask"), table)
        assert_frame_equal(a, b.select(pl.exclude("^.*extracted_at$")).sort(key))


def test_legacy_and_reconcile_flows(flow_env):
    from bsg_analytics.flows.legacy import legacy_flow, reconcile_flow
    from bsg_analytics.flows.sync import run_flow

    sim, data_dir = flow_env
    run_flow(since=since_for(sim))
    sms = (
        sim.ground_truth_messages()
        .filter((pl.col("channel") == "sms") & pl.col("reference_id").is_not_null())
        .head(4)
    )
    result = legacy_flow(
        sms_ids=sms["message_id"].head(2).to_list(),
        references=sms["reference_id"].tail(2).to_list(),
        task_ids=[int(t) for t in sim.task_ids()[:3]] + [999_999_999],
    )
    assert result["rows"]["legacy_sms"] == 4
    assert result["rows"]["legacy_tasks"] == 3
    legacy = read_table(DataDir(data_dir), "legacy_sms").sort("message_id")
    assert legacy["message_id"].to_list() == sorted(sms["message_id"].to_list())

    checked = reconcile_flow()
    assert checked["campaigns"] == sim.ground_truth_campaigns().height
