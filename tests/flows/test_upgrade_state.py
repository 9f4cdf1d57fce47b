"""A data directory written by the previous main keeps working: `tests/fixtures/state_v1/`
holds the state files that main (version-1 state) wrote on 2026-12-02: a finished backfill, a
finished incremental run, and the checkpoint of a `sync --since 2026-09-07` killed with SIGKILL
after two of its windows. The new code reads them, continues the killed run when asked the
same, and writes version-2 files."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import orjson
import polars as pl

from bsg_analytics.pipeline import run_sync
from bsg_analytics.schemas.tables import TABLES
from bsg_analytics.settings import load_settings
from bsg_analytics.state import SyncState
from bsg_analytics.status import describe
from bsg_analytics.storage import DataDir
from bsg_simulator.testing import inprocess_transport, make_simulator

FIXTURE = Path(__file__).parents[1] / "fixtures" / "state_v1"
# the moment the old run was killed, and the simulator's day
KILLED_AT = datetime(2026, 12, 2, 7, 52, 30, tzinfo=UTC)


def test_the_previous_mains_state_is_read_continued_and_upgraded(tmp_path):
    data = tmp_path / "D"
    shutil.copytree(FIXTURE, data)
    old_run = json.loads((data / "state" / "run.json").read_text())
    assert old_run["version"] == 1 and len(old_run["done"]) == 2

    state = SyncState.load(DataDir(data))
    assert state.run.run_id == old_run["run_id"]
    assert set(state.run.done) == set(old_run["done"])
    assert state.open_campaigns and set(state.open_campaigns.values()) == {"open"}

    settings = load_settings(
        api_url="http://bsg.test", rest_url="http://bsg.test", api_token="t",
        data_dir=str(data), backoff_max_seconds=0.05,
    )  # fmt: skip
    later = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    info = describe(settings, date(2026, 9, 7), now=later)
    assert info["next_sync"]["takes_over"] == old_run["run_id"]
    assert info["next_sync"]["jobs_already_done"] == 2

    sim = make_simulator(messages=1_500, seed=3, anchor=date(2026, 12, 2), start=later)
    transport = inprocess_transport(sim)
    try:
        report = run_sync(settings, date(2026, 9, 7), transport=transport, now=later)
    finally:
        transport.close()
    assert report.took_over == old_run["run_id"]
    assert report.windows_skipped == 2
    new = orjson.loads((data / "state" / "sync.json").read_bytes())
    assert new["version"] == 2 and new["last_run"]["run_id"] == report.run_id
    # the two windows the old run wrote keep the old run's start as their read time
    started = datetime.fromisoformat(old_run["started_at"])
    assert datetime.fromisoformat(new["watermark"]) == started
    assert started < KILLED_AT
    assert not (data / "state" / "run.json").exists()
    archived = json.loads((data / "state" / "runs" / f"{old_run['run_id']}.json").read_text())
    assert archived["outcome"] == "taken over"
    # and the incremental sync after it plans from the new watermark
    nxt = describe(settings, now=later)["next_sync"]
    assert nxt["basis"] == "watermark" and nxt["takes_over"] is None


V2 = Path(__file__).parents[1] / "fixtures" / "datadir_v2"


def test_a_data_directory_of_the_previous_main_is_continued_and_rebuilt(tmp_path):
    """The whole data directory main wrote at 1963f58 (state version 2, streams undeclared):
    the interrupted run is taken over with its two done jobs, the sync ends with every
    message of the range, and a rebuild from its raw pages gives the same tables."""
    from bsg_analytics.rebuild import rebuild
    from bsg_analytics.transforms.writer import read_table
    from bsg_simulator.testing import TEST_NOW

    data = tmp_path / "D"
    shutil.copytree(V2, data)
    old_run = json.loads((data / "state" / "run.json").read_text())
    assert old_run["version"] == 2 and len(old_run["done"]) == 2
    settings = load_settings(
        api_url="http://bsg.test", rest_url="http://bsg.test", api_token="t",
        data_dir=str(data), timezone="UTC",
    )  # fmt: skip
    d = DataDir(data)
    info = describe(settings, date(2026, 9, 7), now=TEST_NOW - timedelta(minutes=50))
    assert info["next_sync"]["takes_over"] == old_run["run_id"]
    assert info["next_sync"]["jobs_already_done"] == 2

    # the rows the old main wrote (its simulator drew other messages under the same ids: a
    # message id of theirs may come back below under another created date)
    old_rows = read_table(d, "messages").select("message_id", "created_date")

    sim = make_simulator(messages=3000, seed=3)
    with inprocess_transport(sim) as transport:
        report = run_sync(
            settings, date(2026, 9, 7), transport=transport, now=TEST_NOW - timedelta(minutes=50)
        )
    assert report.took_over == old_run["run_id"] and report.windows_skipped == 2
    assert not (data / "state" / "run.json").exists()
    archived = json.loads((data / "state" / "runs" / f"{report.run_id}.json").read_text())
    assert archived["windows"] and archived["campaign_windows"]  # where version 2 kept them

    messages = read_table(d, "messages")
    truth = sim.ground_truth_messages().filter(
        (pl.col("created_at") >= datetime(2026, 9, 7, tzinfo=UTC))
        & (pl.col("created_at") < report.until)
    )
    assert old_rows.height > 0
    assert old_rows.join(messages, on=["message_id", "created_date"], how="anti").is_empty()
    fresh = messages.join(old_rows, on=["message_id", "created_date"], how="anti")
    assert fresh["message_id"].is_unique().all()
    assert set(truth["message_id"]) <= set(messages["message_id"])

    before = {t: read_table(d, t).sort(TABLES[t].columns) for t in TABLES if t != "quarantine"}
    rebuild(d, "UTC")
    for table, frame in before.items():
        if table in ("messages", "rcs_cards", "rcs_suggestions"):
            # one row per key again: the old simulator's rows that share an id with a new one
            # (under another created date) are merged into the newer, as any re-read is
            key = list(TABLES[table].key)
            again = read_table(d, table)
            assert not again.select(key).is_duplicated().any(), table
            if table == "messages":  # (a card follows its message's latest version)
                assert set(again["message_id"]) == set(frame["message_id"])
            continue
        assert read_table(d, table).sort(TABLES[table].columns).equals(frame), table

    # the old directory has no open index: that run re-read the whole range and wrote one,
    # and the next incremental run re-reads only what can still change
    assert report.lookback == "full" and (data / "state" / "open.json").exists()
    with inprocess_transport(sim) as transport:
        nxt = run_sync(settings, None, transport=transport, now=TEST_NOW)
    assert nxt.lookback == "adaptive", nxt.as_dict()
