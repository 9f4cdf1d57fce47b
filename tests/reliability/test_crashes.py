"""Crashes: a backfill process killed with SIGKILL at random (seeded) moments, resumed each
time, ends with the tables of an uninterrupted run. After every kill: every Parquet file is
readable (no torn partition), no file lies outside D/parquet/<table>/, and every window the
state marks done has all its messages (or campaigns) in the tables."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from bsg_analytics.pipeline import run_sync
from bsg_analytics.schemas.tables import TABLES
from bsg_analytics.state import SyncState
from bsg_analytics.storage import DataDir
from bsg_simulator.testing import TEST_NOW, inprocess_transport
from tests.reliability.crash_driver import settings as driver_settings
from tests.reliability.crash_driver import simulator as driver_simulator
from tests.reliability.rel_helpers import (
    FIGURES,
    SINCE,
    assert_same_tables,
    parquet_files,
    read_table,
    snapshot,
)

# run as a module from the repository root, so `tests.reliability...` imports without path hacks
DRIVER = "tests.reliability.crash_driver"
ROOT = Path(__file__).resolve().parents[2]


def reference_run(data_dir: Path, messages: int, seed: int) -> tuple[dict, float]:
    """The uninterrupted run's tables, and how long its sync took (kills land inside it)."""
    sim = driver_simulator(messages, seed)
    transport = inprocess_transport(sim)
    started = time.monotonic()
    try:
        run_sync(driver_settings(str(data_dir)), SINCE, transport=transport, now=TEST_NOW)
    finally:
        transport.close()
    return snapshot(data_dir), time.monotonic() - started


def check_invariants(data_dir: Path, truth_messages: pl.DataFrame, truth_campaigns) -> int:
    """Returns how many windows the state marks done; fails on any broken invariant."""
    root = data_dir / "parquet"
    for path in parquet_files(data_dir):
        rel = path.relative_to(root).parts
        assert rel[0] in TABLES and rel[-1] == "data.parquet", f"stray file {path}"
        pl.read_parquet(path)  # a torn or half-written file raises here
    messages = read_table(data_dir, "messages")
    campaigns = read_table(data_dir, "campaigns")
    assert messages["message_id"].is_duplicated().sum() == 0
    assert campaigns["campaign_id"].is_duplicated().sum() == 0
    state = SyncState.load(DataDir(data_dir))
    have_m = set(messages["message_id"].to_list())
    have_c = set(campaigns["campaign_id"].to_list())
    if state.run is None:
        if state.watermark is not None:  # a finished run: everything is there
            assert set(truth_messages["message_id"].to_list()) <= have_m
            assert set(truth_campaigns["campaign_id"].to_list()) <= have_c
        return 0
    windows = {w.key: w for w in [*state.run.windows, *state.run.campaign_windows]}
    for key in state.run.done:
        kind, *_rest, wkey = key.split("/")
        w = windows[wkey]
        truth = truth_messages if kind == "messages" else truth_campaigns
        inside = truth.filter((pl.col("created_at") >= w.start) & (pl.col("created_at") < w.end))
        if kind == "messages":
            missing = set(inside["message_id"].to_list()) - have_m
        else:
            ctype = key.split("/")[1]
            inside = inside.filter(pl.col("channel") == ctype)
            missing = set(inside["campaign_id"].to_list()) - have_c
        assert not missing, f"state marks {key} done but {len(missing)} rows are missing"
    return len(state.run.done)


def kill_and_resume(tmp_path: Path, kills: int, seed: int, messages: int) -> dict:
    data_dir = tmp_path / "d"
    logs = tmp_path / "logs"
    logs.mkdir()
    want, seconds = reference_run(tmp_path / "ref", messages, seed)
    # a subprocess is a little slower than this warmed-up process: kill within 1.3x
    max_delay = seconds * 1.3
    sim = driver_simulator(messages, seed)
    truth_m = sim.ground_truth_messages(TEST_NOW)
    truth_c = sim.ground_truth_campaigns(TEST_NOW)

    rng = random.Random(seed * 1_000 + kills)
    killed = finished_early = starts = 0
    delays, done_at_kill = [], []
    while True:
        starts += 1
        assert starts <= kills * 3 + 5, "the backfill never completed"
        with open(logs / f"run{starts:03d}.err", "w") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", DRIVER, str(data_dir), str(messages), str(seed)],
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                cwd=ROOT,
            )
            assert proc.stdout.readline().strip() == "READY"
            if killed >= kills:
                rc = proc.wait(timeout=120)
                rest = proc.stdout.read()
                assert rc == 0, (logs / f"run{starts:03d}.err").read_text()[-2000:]
                assert rest.startswith("DONE"), rest
                break
            delay = rng.uniform(0.0, max_delay)
            try:
                rc = proc.wait(timeout=delay)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
                killed += 1
                delays.append(round(delay, 3))
                done_at_kill.append(check_invariants(data_dir, truth_m, truth_c))
            else:
                assert rc == 0
                finished_early += 1
            proc.stdout.close()
    assert_same_tables(snapshot(data_dir), want)
    check_invariants(data_dir, truth_m, truth_c)
    return {
        "kills": killed,
        "finished_before_the_kill": finished_early,
        "process_starts": starts,
        "sync_seconds_uninterrupted": round(seconds, 2),
        "kill_delays_s": delays,
        "windows_done_at_each_kill": done_at_kill,
    }


@pytest.mark.slow  # in the slow pass: the default run stays under 3 minutes
def test_three_kills_then_resume_gives_the_uninterrupted_tables(tmp_path):
    figures = kill_and_resume(tmp_path, kills=3, seed=21, messages=2_000)
    FIGURES["crashes: 3 kills"] = figures
    print(figures)
    assert figures["kills"] == 3


@pytest.mark.slow
def test_twenty_kills_then_resume_gives_the_uninterrupted_tables(tmp_path):
    figures = kill_and_resume(tmp_path, kills=20, seed=7, messages=3_000)
    FIGURES["crashes: 20 kills"] = figures
    print(figures)
    assert figures["kills"] == 20
