"""Resuming on the real clock, the way a user does it: `bsg-analytics simulate` runs as a
process with its live clock (x600: ten simulated minutes a second, so statuses move while
the syncs run), and `bsg-analytics sync` processes pointed at it are killed (SIGKILL, or
Ctrl-C's SIGINT) at 10 seeded random moments of a backfill and 10 of incremental syncs, each
time started again with the same arguments until one exits 0. Every sync plans up to its own
real "now", so no two runs ask for the same last window.

The simulator process serves no ground truth, but its data is a pure function of its
arguments and of the day it starts (messages, seed, days; anchor = today): the test builds
the same simulator in-process and asks it for the truth at any simulated moment. The clock
of the process is bracketed: it started between two real instants, and moves `SPEED`
simulated seconds per real second. The tables are compared with the truth, and with an
uninterrupted sync into a second data directory (run first: it also times a sync), after a
last incremental sync of both, back to back: every row created before the last run's end is
there once, and the rows whose truth did not change during those last syncs equal it."""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from bsg_analytics.state import SyncState
from bsg_analytics.storage import DataDir
from bsg_simulator.config import SimulatorConfig
from bsg_simulator.simulator import Simulator
from tests.reliability.rel_helpers import (
    API_KEY,
    FIGURES,
    TOKEN,
    assert_state_not_ahead,
    read_table,
)
from tests.reliability.test_drift import CAMPAIGN_COLUMNS as DRIFT_CAMPAIGN_COLUMNS
from tests.reliability.test_drift import MESSAGE_COLUMNS

pytestmark = pytest.mark.slow

CLI = Path(sys.executable).with_name("bsg-analytics")
CAMPAIGN_COLUMNS = [*DRIFT_CAMPAIGN_COLUMNS, "created_month"]
MESSAGES = 5_000
DAYS = 183
SPEED = 600.0  # ten simulated minutes per second: the test spans about half a simulated day
SEEDS = range(1, 61)  # the seed is chosen on the day: the one whose statuses move the most
WINDOW_DAYS = 3
KILLS = 10
SIGINT_SHARE = 0.3


class SimulatorProcess:
    """`bsg-analytics simulate` on a free loopback port, and the same simulator in-process
    for the truth. `sim_time(real)` brackets the process's clock at a real instant."""

    def __init__(self, workdir: Path, span_hours: float = 12):
        self.workdir = workdir
        now = time.time()
        to_midnight = 86_400 - now % 86_400
        if to_midnight < 120:  # the data's anchor is the day the process starts
            time.sleep(to_midnight + 1)
        self.seed, self.moving = livest_seed(span_hours)
        self.t0 = time.time()
        with open(workdir / "simulator.err", "w") as err:
            self.proc = subprocess.Popen(
                [str(CLI), "simulate", "--port", "0", "--host", "127.0.0.1",
                 "--messages", str(MESSAGES), "--seed", str(self.seed), "--days", str(DAYS),
                 "--token", TOKEN, "--api-key", API_KEY, "--live", "--speed", str(SPEED)],
                stdout=subprocess.PIPE, stderr=err, text=True, cwd=workdir, env=clean_env(),
            )  # fmt: skip
        try:
            self._read_banner()
        except BaseException:
            self.stop()
            raise

    def _read_banner(self) -> None:
        lines = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("Serving on"):
                break
        self.t1 = time.time()
        banner = "".join(lines)
        url = re.search(r"Serving on (http://127\.0\.0\.1:\d+)", banner)
        counts = re.search(r"(\d+) messages in (\d+) campaigns", banner)
        assert url and counts, "the simulator did not start"  # the banner holds the token
        self.url = url[1]
        # nobody reads its output any more: drain it, so it never blocks on a full pipe
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()
        anchor = datetime.fromtimestamp(self.t0, UTC).date()
        assert anchor == datetime.fromtimestamp(self.t1, UTC).date()
        self.truth = Simulator(SimulatorConfig(messages=MESSAGES, seed=self.seed, days=DAYS,
                                               anchor=anchor, start=datetime.now(UTC)))  # fmt: skip
        data = self.truth.data
        assert (int(counts[1]), int(counts[2])) == (data.n_messages, data.n_campaigns), (
            "the in-process simulator is not the process's"
        )

    def sim_time(self, real: float) -> tuple[datetime, datetime]:
        """The process clock at real instant `real`: (earliest, latest) it can be."""
        low = real * SPEED - self.t1 * (SPEED - 1) - 2
        high = real * SPEED - self.t0 * (SPEED - 1) + 2
        return datetime.fromtimestamp(low, UTC), datetime.fromtimestamp(high, UTC)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def livest_seed(span_hours: float) -> tuple[int, int]:
    """The seed (of `SEEDS`) whose messages, created by now, change status the most in the
    next `span_hours` (the data is anchored on today: which seed that is changes daily);
    returns it and how many change."""
    now = int(time.time())
    anchor = datetime.fromtimestamp(now, UTC).date()
    best = (SEEDS[0], -1)
    for seed in SEEDS:
        sim = Simulator(SimulatorConfig(messages=MESSAGES, seed=seed, days=DAYS, anchor=anchor))
        idx = np.arange(sim.visible_count(now))
        before = sim._trajectory(idx, now)[0]
        after = sim._trajectory(idx, now + int(span_hours * 3600))[0]
        moving = int((before != after).sum())
        if moving > best[1]:
            best = (seed, moving)
    return best


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("BSG_", "PREFECT_"))}


class Syncs:
    """`bsg-analytics sync` processes against the simulator, one data directory each."""

    def __init__(self, workdir: Path, url: str):
        self.workdir = workdir
        self.logs = workdir / "logs"
        self.logs.mkdir()
        self.env = {
            **clean_env(),
            "BSG_API_URL": url,
            "BSG_REST_URL": url,
            "BSG_API_TOKEN": TOKEN,
            "BSG_API_KEY": API_KEY,
            "BSG_ORCHESTRATOR": "plain",
            "BSG_PAGE_LIMIT": "50",
            "BSG_WINDOW_DAYS": str(WINDOW_DAYS),
            "BSG_CONCURRENCY": "2",
            # messages and campaigns against their truth; an interrupted export's resumption
            # by key is tests/pipeline/test_exports_sync.py's (a moving clock, and slow)
            "BSG_EXPORT_COSTS": "false",
        }
        self.starts = 0
        self.running: subprocess.Popen | None = None

    def start(self, data_dir: Path, since: str | None) -> subprocess.Popen:
        self.starts += 1
        args = [str(CLI), "sync", "-d", str(data_dir), "--no-progress"]
        if since:
            args += ["--since", since]
        with open(self.logs / f"run{self.starts:03d}.log", "w") as log:
            self.running = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                            cwd=self.workdir, env=self.env)  # fmt: skip
        return self.running

    def log(self) -> str:
        return (self.logs / f"run{self.starts:03d}.log").read_text()[-3000:]

    def run(self, data_dir: Path, since: str | None) -> float:
        """One sync to its end; returns its wall time."""
        started = time.monotonic()
        proc = self.start(data_dir, since)
        rc = proc.wait(timeout=180)
        assert rc == 0, self.log()
        return time.monotonic() - started

    def startup_seconds(self, data_dir: Path) -> float:
        """The wall time of `sync --dry-run` (start-up, settings, state; no API call)."""
        started = time.monotonic()
        proc = subprocess.run([str(CLI), "sync", "-d", str(data_dir), "--dry-run"],
                              cwd=self.workdir, env=self.env, capture_output=True,
                              timeout=60)  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-2000:]
        return time.monotonic() - started

    def stop(self) -> None:
        if self.running is not None and self.running.poll() is None:
            self.running.kill()
            self.running.wait()


def kill_and_rerun(syncs, sim, data_dir, since, rng, seconds, startup, phase: str) -> dict:
    """Start `sync` (same arguments each time), kill it at a random moment, `KILLS` times,
    then run it to exit 0. A kill lands between 0.8 x the start-up time (`startup`: the
    process reads no state before) and 1.1 x an uninterrupted sync's (`seconds`). Checks
    the invariants after every kill."""
    kills, finished_first, starts = [], 0, 0
    while True:
        starts += 1
        assert starts <= KILLS * 3 + 5, f"{phase}: the sync never completed"
        if len(kills) >= KILLS:
            syncs.run(data_dir, since)
            break
        delay = rng.uniform(0.8 * startup, 1.1 * seconds)
        how = "SIGINT" if rng.random() < SIGINT_SHARE else "SIGKILL"
        proc = syncs.start(data_dir, since)
        try:
            rc = proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            if how == "SIGKILL":
                proc.kill()
                rc = proc.wait()
            else:
                proc.send_signal(signal.SIGINT)
                rc = proc.wait(timeout=60)  # Ctrl-C stops a sync, and soon
                said = syncs.log()
                # 130, or 0 when it came once the run had finished (the warehouse being
                # built): never lost mid-run, never an error or a traceback (exit 1, -2)
                finished = SyncState.load(DataDir(data_dir)).run is None
                assert rc == 130 or (rc == 0 and finished), f"Ctrl-C gave exit {rc}: {said}"
            now = sim.sim_time(time.time())[1]
            done = assert_state_not_ahead(
                data_dir,
                sim.truth.ground_truth_messages(now),
                sim.truth.ground_truth_campaigns(now),
            )
            kills.append(f"{how} at {delay:.2f}s (exit {rc}): {done} jobs done")
        else:
            assert rc == 0, syncs.log()
            finished_first += 1
    state = SyncState.load(DataDir(data_dir))
    assert state.run is None and state.watermark is not None
    return {
        "kills": kills,
        "finished_before_the_kill": finished_first,
        "runs_needed": starts,
    }


def _hashed(df: pl.DataFrame, key: str, columns: list[str]) -> pl.DataFrame:
    """(key, h): a hash of each row's `columns` (nulls hash alike, unlike a join's)."""
    return df.select(pl.col(key), pl.struct(columns).hash().alias("h"))


def moving_ids(sim, table: str, low: datetime, high: datetime) -> set:
    """The rows whose truth changed between `low` and `high` (or that appeared)."""
    key, columns, truth_of = TRUTH[table]
    a = _hashed(truth_of(sim.truth)(low), key, columns)
    b = _hashed(truth_of(sim.truth)(high), key, columns)
    both = b.join(a, on=key, how="left", suffix="_low")
    return set(both.filter(pl.col("h").ne_missing(pl.col("h_low")))[key])


TRUTH = {
    "messages": ("message_id", MESSAGE_COLUMNS, lambda s: s.ground_truth_messages),
    "campaigns": ("campaign_id", CAMPAIGN_COLUMNS, lambda s: s.ground_truth_campaigns),
}


def unreachable_ids(sim, table: str, at: datetime) -> set:
    """The rows no sync can read at `at`: a campaign of a type no list shows (Viber, HLR)
    whose id no message carries yet (or ever: one refused as spam sends none)."""
    if table != "campaigns":
        return set()
    truth = sim.truth.ground_truth_campaigns(at)
    return set(truth.filter(pl.col("reachable").not_())["campaign_id"])


def compare_with_truth(sim, data_dir: Path, low: datetime, high: datetime) -> dict:
    """Every message and campaign created before the last run's end (and reachable by then:
    `unreachable_ids`) is there once; those whose truth is the same at `low` and `high`
    (the bracket of the last sync) equal it."""
    until = SyncState.load(DataDir(data_dir)).last_run.until
    out = {}
    for table, (key, columns, truth_of) in TRUTH.items():
        got = read_table(data_dir, table)
        truth = truth_of(sim.truth)(low).filter(pl.col("created_at") < until)
        latest = truth_of(sim.truth)(high).filter(pl.col("created_at") < until)
        unreachable = unreachable_ids(sim, table, until)
        moving = moving_ids(sim, table, low, high) | unreachable
        have, want = set(got[key]), set(latest[key]) - unreachable
        stable = pl.col(key).is_in(sorted(moving)).not_()
        mine = got.select(columns).filter(stable).sort(key)
        theirs = truth.select(columns).filter(stable).sort(key)
        differ = (
            _hashed(mine, key, columns)
            .join(_hashed(theirs, key, columns), on=key, how="full", suffix="_truth")
            .filter(pl.col("h").ne_missing(pl.col("h_truth")))
            .height
        )
        out[table] = {
            "rows": got.height,
            "lost": len(want - have),
            "doubled": int(got[key].is_duplicated().sum()),
            "extra": len(have - want),
            "moving_during_the_last_sync": len(moving & want),
            "stable_rows_compared": theirs.height,
            "stable_rows_unlike_the_truth": differ,
        }
        assert out[table]["lost"] == out[table]["doubled"] == out[table]["extra"] == 0, out
        assert differ == 0, out
        assert_frame_equal(mine, theirs)
    return out


def stable_frame(data_dir: Path, table: str, key: str, keep: set) -> pl.DataFrame:
    df = read_table(data_dir, table).select(pl.exclude("^.*extracted_at$"))
    return df.filter(pl.col(key).is_in(sorted(keep))).sort(key)


def test_syncs_killed_at_random_on_the_real_clock_end_equal_to_the_truth(tmp_path):
    rng = random.Random(1212)
    sim = syncs = None
    try:
        sim = SimulatorProcess(tmp_path)
        syncs = Syncs(tmp_path, sim.url)
        since = (datetime.fromtimestamp(sim.t0, UTC).date() - timedelta(days=DAYS + 10)).isoformat()
        d, ref = tmp_path / "d", tmp_path / "ref"
        # the uninterrupted reference, which also times a backfill and an incremental sync
        backfill_s = syncs.run(ref, since)
        incremental_s = syncs.run(ref, None)
        startup_s = syncs.startup_seconds(ref)
        first = sim.sim_time(time.time())[0]
        backfill = kill_and_rerun(syncs, sim, d, since, rng, backfill_s, startup_s, "backfill")
        incremental = kill_and_rerun(
            syncs, sim, d, None, rng, incremental_s, startup_s, "incremental"
        )
        # the last incremental sync of both, back to back, bracketed on the process clock
        low = sim.sim_time(time.time())[0]
        syncs.run(d, None)
        syncs.run(ref, None)
        high = sim.sim_time(time.time())[1]
        checks = {"killed": compare_with_truth(sim, d, low, high),
                  "uninterrupted": compare_with_truth(sim, ref, low, high)}  # fmt: skip
    finally:
        if syncs is not None:
            syncs.stop()
        if sim is not None:
            sim.stop()
    # and the two directories agree on every column (but the times of extraction)
    for table, (key, _columns, _truth) in TRUTH.items():
        keep = set(read_table(d, table)[key]) - moving_ids(sim, table, low, high)
        assert_frame_equal(stable_frame(d, table, key, keep), stable_frame(ref, table, key, keep))
    until = SyncState.load(DataDir(d)).last_run.until
    moved = sim.truth.ground_truth_messages(first).filter(pl.col("created_at") < until)
    moved = moved.join(sim.truth.ground_truth_messages(high), on="message_id", suffix="_end")
    figures = {
        "seed": sim.seed,
        "statuses_moved_during_the_kills": moved.filter(
            pl.col("status") != pl.col("status_end")
        ).height,
        "sync_seconds_uninterrupted": [round(backfill_s, 2), round(incremental_s, 2)],
        "startup_seconds": round(startup_s, 2),
        "backfill": backfill,
        "incremental": incremental,
        "simulated_hours": round((high - sim.sim_time(sim.t0)[0]).total_seconds() / 3600, 1),
        **checks,
    }
    FIGURES["resume, real clock: 10 + 10 kills"] = figures
    print(figures)
    assert len(backfill["kills"]) == len(incremental["kills"]) == KILLS
