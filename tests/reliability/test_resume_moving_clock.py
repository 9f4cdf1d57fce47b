"""Resuming on a clock that moves: a sync interrupted at random moments (a crashing mapper,
a transport that dies, Ctrl-C, an API that gives up, a short window, a full disk) and run
again with the same arguments, again and again, while the simulator's world moves on
(its clock is live, pushed on after every request and advanced by minutes between runs),
ends, after one more incremental sync at a frozen moment, equal to the simulator's ground
truth: nothing lost, nothing doubled, the state finished and the watermark set.

The old crash soak (`test_crashes`) ran on a frozen clock, so a resumed run always asked
for the same last window; here every run has a new "now", and a resumed run's last window
is not the one its predecessor planned (the defect of issue 12: `StateError: window
messages/... is not in the plan of run ...`, for good)."""

from __future__ import annotations

import errno
import random
import signal
import threading
from datetime import date, datetime, timedelta
from pathlib import Path

import httpx
import orjson
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import bsg_analytics.transforms.writer as writer_module
from bsg_analytics import planning
from bsg_analytics.pipeline import WINDOW_READS, IncompleteWindow, run_sync, thread_mapper
from bsg_analytics.state import SyncState
from bsg_analytics.storage import DataDir
from bsg_analytics.streams import messages as messages_stream
from bsg_client import BSGError
from bsg_simulator.testing import inprocess_transport, make_simulator
from tests.reliability.rel_helpers import (
    API_KEY,
    FIGURES,
    SINCE,
    TOKEN,
    assert_state_not_ahead,
    parquet_files,
    read_table,
    settings_for,
)
from tests.reliability.test_drift import CAMPAIGN_COLUMNS as DRIFT_CAMPAIGN_COLUMNS
from tests.reliability.test_drift import MESSAGE_COLUMNS

CAMPAIGN_COLUMNS = [*DRIFT_CAMPAIGN_COLUMNS, "created_month"]
MESSAGES = 3_000
SEED = 8  # its last campaign sends ~1 300 messages within an hour
SPEED = 60.0  # the live clock: a simulated minute per real second
STEP = 4.0  # simulated seconds pushed on after every request
# small pages and windows: many requests and many checkpoints, many moments to stop in
PAGE_LIMIT = 50
WINDOW_DAYS = 7


# ------------------------------------------------------------------------------------------
# the moving world
# ------------------------------------------------------------------------------------------


class Crash(RuntimeError):
    """The mapper died (as a worker pool or an orchestrator might)."""


class TransportDied(RuntimeError):
    """The transport died under the client (not an HTTP error: nothing retries it)."""


class CtrlC:
    """Ctrl-C as a terminal sends it: SIGINT to the main thread, from any thread. Python's
    handler raises KeyboardInterrupt there, wherever the main thread is, but only while
    `armed` (the attempt is inside `run_sync`): a late request of a straggling thread never
    interrupts the test itself."""

    def __init__(self):
        self.armed = False
        self.sent = 0
        self._previous = None

    def _handler(self, signum, frame):
        if self.armed:
            self.armed = False
            raise KeyboardInterrupt

    def __enter__(self):
        self._previous = signal.signal(signal.SIGINT, self._handler)
        self.armed = True
        return self

    def __exit__(self, *exc):
        self.armed = False
        signal.signal(signal.SIGINT, self._previous)

    def press(self) -> None:
        if self.armed:
            self.sent += 1
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)


class MovingTransport(httpx.BaseTransport):
    """The simulator in-process; after each request its clock is pushed on `step` simulated
    seconds (on top of its live pace). `die_after` requests: the next one raises `die_with`
    (and every one after it), or, with `ctrl_c`, presses Ctrl-C and goes on serving.
    `tamper(request, response) -> response` may rewrite what the API answered."""

    def __init__(self, sim, step=STEP, die_after=None, die_with=TransportDied, ctrl_c=None,
                 tamper=None):  # fmt: skip
        self.inner = inprocess_transport(sim)
        self.sim = sim
        self.step = step
        self.die_after = die_after
        self.die_with = die_with
        self.ctrl_c = ctrl_c
        self.tamper = tamper
        self.requests = 0
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.requests += 1
            n = self.requests
        if self.die_after is not None and n > self.die_after:
            if self.ctrl_c is not None:
                if n == self.die_after + 1:
                    self.ctrl_c.press()
            else:
                raise self.die_with(f"transport died at request {n}")
        response = self.inner.handle_request(request)
        if self.step:
            self.sim.clock.advance(self.step)
        if self.tamper is not None:
            response = self.tamper(request, response)
        return response

    def close(self) -> None:
        self.inner.close()


def crashing_mapper(after: int):
    """A thread mapper that dies once `after` job outcomes (of every kind) were handed on."""
    inner = thread_mapper(2)
    count = {"n": 0}

    def mapper(context, jobs):
        for outcome in inner(context, jobs):
            count["n"] += 1
            if count["n"] > after:
                raise Crash(f"killed after {after} jobs")
            yield outcome

    return mapper


def before_the_last_burst(sim, minutes: float = 30) -> datetime:
    """`minutes` before the last burst of sending (after 2 quiet hours) that brings 100
    messages or more within an hour: the runs see it arrive, then its statuses move on."""
    created = sim.ground_truth_messages(sim.data.t1)["created_at"].sort()
    gaps = created.diff().dt.total_seconds()
    for i in range(created.len() - 1, 0, -1):
        hour = (created >= created[i]) & (created < created[i] + timedelta(hours=1))
        if gaps[i] > 7200 and hour.sum() >= 100:
            return created[i] - timedelta(minutes=minutes)
    raise AssertionError("no burst found")


class World:
    """A live simulator started before a sending burst, a data directory and its settings."""

    def __init__(self, tmp_path: Path, sim=None, window_days=WINDOW_DAYS, **sim_cfg):
        if sim is None:
            sim = make_simulator(messages=MESSAGES, seed=SEED, live=True, speed=SPEED,
                                 token=TOKEN, api_key=API_KEY, **sim_cfg)  # fmt: skip
            sim.clock.set(before_the_last_burst(sim))
        self.sim = sim
        self.started = self.sim.clock.now_dt()
        self.data_dir = tmp_path / "d"
        self.dd = DataDir(self.data_dir)
        self.settings = settings_for(self.data_dir, page_limit=PAGE_LIMIT,
                                     window_days=window_days, concurrency=2)  # fmt: skip
        self.runs = 0

    def now(self) -> datetime:
        return self.sim.clock.now_dt()

    def advance(self, minutes: float) -> None:
        self.sim.clock.advance(minutes * 60)

    def state(self) -> SyncState:
        return SyncState.load(self.dd)

    def plan(self, since: date | None):
        """The plan of the next run asked `since` (without starting it)."""
        return planning.plan_windows(self.settings, self.state(), since, None, self.now())

    def pending_jobs(self, since: date | None) -> int:
        return len(self.plan(since).pending_keys)

    def expected_requests(self, since: date | None) -> int:
        """About how many requests the next run asked `since` makes: the pages of its
        pending windows (from the truth) and a detail per campaign it lists or holds open."""
        plan = self.plan(since)
        pending = set(plan.pending_keys)
        now = self.now()
        created = self.sim.ground_truth_messages(now)["created_at"]
        campaigns = self.sim.ground_truth_campaigns(now)
        n = 0
        for key, w in plan.message_jobs:
            if key in pending:
                inside = int(((created >= w.start) & (created < w.end)).sum())
                n += max(1, -(-inside // PAGE_LIMIT))
        listed = set(plan.open_campaigns)
        for key, w, kind in plan.campaign_jobs:
            if key in pending:
                n += 1
                c = campaigns.filter(
                    (pl.col("created_at") >= w.start)
                    & (pl.col("created_at") < w.end)
                    & (pl.col("channel") == kind)
                )
                listed |= set(c["campaign_id"])
        return n + len(listed)

    def sync(self, since: date | None, settings=None, **transport_kw):
        """One run at the clock's now, over a MovingTransport; `mapper` passes through."""
        mapper = transport_kw.pop("mapper", None)
        transport = MovingTransport(self.sim, **transport_kw)
        self.runs += 1
        try:
            return run_sync(settings or self.settings, since, transport=transport,
                            now=self.now(), mapper=mapper)  # fmt: skip
        finally:
            transport.close()

    def check_after_failure(self) -> int:
        """Invariants after an interrupted run; returns the jobs its checkpoint marks done."""
        now = self.now()
        return assert_state_not_ahead(
            self.data_dir, self.sim.ground_truth_messages(now), self.sim.ground_truth_campaigns(now)
        )

    def final_frozen_sync(self, minutes_later: float = 30) -> datetime:
        """One more incremental sync with the world frozen: its moment is the truth's."""
        self.advance(minutes_later)
        self.sim.clock.freeze()
        at = self.now()
        transport = MovingTransport(self.sim, step=0)
        self.runs += 1
        try:
            run_sync(self.settings, None, transport=transport, now=at)
        finally:
            transport.close()
        return at


def truth_figures(world: World, at: datetime) -> dict:
    """Compare the tables with the ground truth at `at` (messages and campaigns created
    before the last run's end: a window ends 2 minutes before its run's "now"); assert
    equality, a finished state and a watermark. Returns lost/doubled/extra counts."""
    state = world.state()
    assert state.run is None, f"a run is left unfinished: {state.run and state.run.run_id}"
    assert state.watermark is not None and state.watermark <= at
    until = state.last_run.until
    got_m = read_table(world.data_dir, "messages")
    got_c = read_table(world.data_dir, "campaigns")
    truth_m = world.sim.ground_truth_messages(at).filter(pl.col("created_at") < until)
    truth_c = world.sim.ground_truth_campaigns(at).filter(pl.col("created_at") < until)
    have, want = set(got_m["message_id"]), set(truth_m["message_id"])
    lost_c = set(truth_c["campaign_id"]) - set(got_c["campaign_id"])
    figures = {
        "messages": got_m.height,
        "campaigns": got_c.height,
        "rows_lost": len(want - have) + len(lost_c),
        "rows_doubled": int(got_m["message_id"].is_duplicated().sum())
        + int(got_c["campaign_id"].is_duplicated().sum()),
        "rows_extra": len(have - want),
    }
    assert figures["rows_lost"] == 0, f"{figures}"
    assert figures["rows_doubled"] == 0, f"{figures}"
    assert figures["rows_extra"] == 0, f"{figures}"
    assert_frame_equal(
        got_m.select(MESSAGE_COLUMNS).sort("message_id"),
        truth_m.select(MESSAGE_COLUMNS).sort("message_id"),
    )
    assert_frame_equal(
        got_c.select(CAMPAIGN_COLUMNS).sort("campaign_id"),
        truth_c.select(CAMPAIGN_COLUMNS).sort("campaign_id"),
    )
    return figures


# ------------------------------------------------------------------------------------------
# a. interrupted at random moments, re-run with the same arguments
# ------------------------------------------------------------------------------------------

HOW = ("mapper", "transport", "ctrl-c")
EXPECTED = {"mapper": Crash, "transport": TransportDied, "ctrl-c": KeyboardInterrupt}


def interrupted_run(world: World, since: date | None, how: str, rng: random.Random) -> str:
    """One run of `since` stopped the way `how` says at a random point; returns the point
    (or 'finished' when the run ended first)."""
    pending = world.pending_jobs(since)
    if how == "mapper":
        at = rng.randrange(0, max(1, pending))
        point = f"mapper after {at} of {pending} jobs"
        call = lambda: world.sync(since, mapper=crashing_mapper(at))  # noqa: E731
    else:
        expected = world.expected_requests(since)
        at = rng.randrange(0, expected)
        point = f"{how} at request {at + 1} of ~{expected}"
        if how == "ctrl-c":
            ctrl_c = CtrlC()

            def call():
                with ctrl_c:
                    try:
                        return world.sync(since, die_after=at, ctrl_c=ctrl_c)
                    finally:
                        ctrl_c.armed = False

        else:
            call = lambda: world.sync(since, die_after=at)  # noqa: E731
    try:
        call()
    except EXPECTED[how]:
        return point
    return f"{point}: finished first"


def interrupt_again_and_again(world, since, rng, interruptions: int) -> list[str]:
    points: list[str] = []
    for _ in range(interruptions * 3):
        if sum(not p.endswith("finished first") for p in points) >= interruptions:
            break
        world.advance(rng.uniform(1, 20))
        before = world.state().run
        point = interrupted_run(world, since, rng.choice(HOW), rng)
        done = world.check_after_failure()
        after = world.state().run
        if not point.endswith("finished first"):
            assert after is not None, "an interrupted run left no checkpoint"
            if before is not None:  # the same arguments: the unfinished run is taken over
                assert after.took_over[-1:] == [before.run_id], point
                assert set(before.done) <= set(after.done), "a done job was forgotten"
        points.append(f"{point} -> {done} done")
    assert sum(not p.endswith("finished first") for p in points) >= interruptions, points
    return points


def finish_and_check(world, since, points, name, runs_before=0) -> dict:
    before = world.state().run
    world.advance(7)
    report = world.sync(since)
    if before is not None:
        assert report.took_over == before.run_id
        assert report.windows_skipped == len(before.done) or report.windows_skipped > 0
    state = world.state()
    assert state.run is None and state.watermark is not None
    at = world.final_frozen_sync()
    figures = {
        "interruptions": points,
        "runs_needed": world.runs - runs_before,
        "simulated_minutes": round((at - world.started).total_seconds() / 60),
        **truth_figures(world, at),
    }
    FIGURES[name] = figures
    print(name, figures)
    return figures


def test_a_backfill_interrupted_again_and_again_on_a_moving_clock_ends_equal_to_the_truth(
    tmp_path,
):
    world = World(tmp_path)
    rng = random.Random(1201)
    points = interrupt_again_and_again(world, SINCE, rng, interruptions=8)
    finish_and_check(world, SINCE, points, "resume, moving clock: backfill")


@pytest.mark.slow  # (the default pass keeps a quicker sibling)
def test_an_incremental_sync_interrupted_again_and_again_ends_equal_to_the_truth(tmp_path):
    world = World(tmp_path, window_days=1)  # the look-back in several windows
    world.sync(SINCE)  # a first complete backfill
    first = world.state().watermark
    world.advance(4 * 60)  # hours later: new messages, statuses moved on
    rng = random.Random(1202)
    points = interrupt_again_and_again(world, None, rng, interruptions=8)
    finish_and_check(world, None, points, "resume, moving clock: incremental", 1)
    assert world.state().watermark > first


# ------------------------------------------------------------------------------------------
# b. an API that gives up mid-run
# ------------------------------------------------------------------------------------------


def test_an_api_that_gives_up_mid_run_then_re_runs_until_success_end_equal_to_the_truth(
    tmp_path,
):
    kinds = ("500", "502_html", "503_html", "429_bare", "drop", "truncated")  # never "slow"
    world = World(tmp_path, fault_rate=0.15, fault_kinds=kinds)
    settings = world.settings.model_copy(update={"max_retries": 1})
    failures: list[str] = []
    for _ in range(60):
        world.advance(3)
        try:
            world.sync(SINCE, settings=settings)
        except BSGError as exc:
            done = world.check_after_failure()
            failures.append(f"{type(exc).__name__}: {str(exc)[:60]} -> {done} done")
            continue
        break
    else:
        pytest.fail(f"60 runs and still no success: {failures[-3:]}")
    assert failures, "the API never gave up: the test proved nothing"
    at = world.final_frozen_sync()
    figures = {
        "failed_runs": len(failures),
        "runs_needed": world.runs,
        "faults_injected": sum(1 for *_k, kind in world.sim.app.faults.log if kind),
        "first_failures": failures[:3],
        **truth_figures(world, at),
    }
    FIGURES["resume, moving clock: API gives up"] = figures
    print(figures)


# ------------------------------------------------------------------------------------------
# c. a short window: the API announces more rows than it serves, or repeats a page
# ------------------------------------------------------------------------------------------


def busiest_window(world: World) -> tuple[str, str, int]:
    """The message window of the next backfill plan with the most messages: (its key, its
    filter[from], how many it holds)."""
    plan = planning.plan_windows(world.settings, world.state(), SINCE, None, world.now())
    created = world.sim.ground_truth_messages(world.now())["created_at"]
    best = max(plan.windows, key=lambda w: ((created >= w.start) & (created < w.end)).sum())
    n = int(((created >= best.start) & (created < best.end)).sum())
    assert n > PAGE_LIMIT, "the busiest window has one page only"
    return best.key, best.api_from, n


class ShortWindow:
    """Spoils the reads of one message window: `mode` 'total' announces 3 rows more than
    served, 'repeat' serves the first page again in place of the second. `reads` is how
    many reads are spoiled (None: all of them)."""

    def __init__(self, api_from: str, mode: str, reads: int | None):
        self.api_from, self.mode, self.reads = api_from, mode, reads
        self.read = 0
        self.first_page: bytes | None = None
        self.spoiled = 0
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request, response: httpx.Response) -> httpx.Response:
        q = request.url.params
        if request.url.path != messages_stream.PATH or q.get("filter[from]") != self.api_from:
            return response
        offset = int(q.get("page[offset]", "0"))
        with self.lock:
            if offset == 0:
                self.read += 1
            if self.reads is not None and self.read > self.reads:
                return response
            body = orjson.loads(response.content)
            if self.mode == "total":
                body["meta"]["page"]["total"] += 3
            elif offset == 0:
                self.first_page = response.content
                return response
            elif offset == PAGE_LIMIT:
                body = orjson.loads(self.first_page)
                body["meta"]["page"]["offset"] = offset
            else:
                return response
            self.spoiled += 1
        headers = [(k, v) for k, v in response.headers.items() if k.lower() != "content-length"]
        return httpx.Response(response.status_code, headers=headers, content=orjson.dumps(body),
                              request=request)  # fmt: skip


@pytest.mark.parametrize("mode", ["total", pytest.param("repeat", marks=pytest.mark.slow)])
def test_a_short_window_is_read_again_in_the_same_run_and_one_served_short_for_good_fails_by_name(
    mode, tmp_path
):
    world = World(tmp_path)
    key, api_from, n = busiest_window(world)
    # once: the run reads the window again at once and succeeds
    once = ShortWindow(api_from, mode, reads=1)
    report = world.sync(SINCE, tamper=once)
    assert once.spoiled >= 1 and once.read == 2, "the window was not read again"
    assert report.rereads >= 1, report.as_dict()
    rereads = report.rereads
    assert world.state().run is None
    at = world.final_frozen_sync()
    truth_figures(world, at)

    # every read, in a second directory on the same (now frozen, then live) world
    world.sim.clock.resume()
    world2 = World(tmp_path / "again", sim=world.sim)
    always = ShortWindow(api_from, mode, reads=None)
    with pytest.raises(IncompleteWindow) as failed:
        world2.sync(SINCE, tamper=always)
    text = str(failed.value)
    assert f"messages/{key}" in text, text
    if mode == "total":
        assert f"announced {n + 3} rows and served {n} distinct ids" in text, text
    else:
        assert "pages with no new id" in text and "records repeated" in text, text
    assert f"{WINDOW_READS} reads in a row" in text, text
    assert always.read == WINDOW_READS
    state = world2.state()
    assert state.run is not None and f"messages/{key}" not in state.run.done
    world2.check_after_failure()
    world2.advance(5)
    report = world2.sync(SINCE)  # the API behaves again
    assert report.took_over == state.run.run_id and report.rereads == 0
    at = world2.final_frozen_sync()
    figures = truth_figures(world2, at)
    FIGURES[f"resume, moving clock: short window ({mode})"] = {
        "window": key,
        "served": n,
        "rereads_when_served_short_once": rereads,
        "failure": text[:160],
        **figures,
    }


# ------------------------------------------------------------------------------------------
# d. a full disk
# ------------------------------------------------------------------------------------------


def full_disk_after(monkeypatch, target: str, calls: int) -> dict:
    """From the `calls`-th write on, `target` ('write_bytes': raw pages and state files, or
    'parquet': table partitions) fails as a full disk does (a parquet file half written)."""
    seen = {"n": 0}
    no_space = OSError(errno.ENOSPC, "No space left on device")
    if target == "write_bytes":
        real = DataDir.write_bytes

        def write_bytes(self, path, data, **kw):
            seen["n"] += 1
            if seen["n"] >= calls:
                raise no_space
            return real(self, path, data, **kw)

        monkeypatch.setattr(DataDir, "write_bytes", write_bytes)
    else:
        real_replace = writer_module.replace_file

        def replace_file(data_dir, target_path, data):
            seen["n"] += 1
            if seen["n"] >= calls:
                staging = Path(data_dir.path("staging"))
                staging.mkdir(parents=True, exist_ok=True)
                (staging / "half-written.partial").write_bytes(data[: len(data) // 2])
                raise no_space
            return real_replace(data_dir, target_path, data)

        monkeypatch.setattr(writer_module, "replace_file", replace_file)
    return seen


@pytest.mark.parametrize("target", ["write_bytes", pytest.param("parquet", marks=pytest.mark.slow)])
def test_a_full_disk_fails_the_run_leaves_readable_tables_and_the_re_run_ends_equal_to_the_truth(
    target, tmp_path
):
    world = World(tmp_path)
    rng = random.Random(1204 if target == "write_bytes" else 1205)
    points = []
    for _ in range(3):
        world.advance(rng.uniform(1, 15))
        calls = rng.randrange(3, 60 if target == "write_bytes" else 12)
        with pytest.MonkeyPatch.context() as mp:
            seen = full_disk_after(mp, target, calls)
            with pytest.raises(OSError) as failed:
                world.sync(SINCE)
        assert failed.value.errno == errno.ENOSPC, failed.value
        for path in parquet_files(world.data_dir):
            pl.read_parquet(path)  # no torn partition
        points.append(f"{target} call {calls} -> {world.check_after_failure()} done")
        assert seen["n"] >= calls
    world.advance(10)
    before = world.state().run
    report = world.sync(SINCE)  # the disk has room again
    if before is not None:
        assert report.took_over == before.run_id
    assert not list((world.data_dir / "staging").glob("*")), "leftovers in staging"
    at = world.final_frozen_sync()
    FIGURES[f"resume, moving clock: full disk ({target})"] = {
        "failures": points,
        "runs_needed": world.runs,
        **truth_figures(world, at),
    }


# ------------------------------------------------------------------------------------------
# e. a failed backfill, then syncs asking something else
# ------------------------------------------------------------------------------------------


def campaigns_without_rows(data_dir) -> dict[str, int]:
    messages = read_table(data_dir, "messages")
    with_messages = set(messages["campaign_id"].drop_nulls())
    rows = set(read_table(data_dir, "campaigns")["campaign_id"])
    stats = set(read_table(data_dir, "campaign_statistics")["campaign_id"])
    return {
        "campaigns_with_messages": len(with_messages),
        "without_a_campaign_row": len(with_messages - rows),
        "without_statistics": len(with_messages - stats),
    }


@pytest.mark.parametrize(
    "chain",
    [
        pytest.param((SINCE, None), id="since-then-none"),
        pytest.param(
            (SINCE, SINCE + timedelta(days=120), None),
            id="since-later-none",
            marks=pytest.mark.slow,
        ),
    ],
)
def test_a_failed_backfill_then_other_arguments_leaves_no_campaign_without_its_row(chain, tmp_path):
    world = World(tmp_path)
    rng = random.Random(1206 + len(chain))
    points = []
    for since in chain[:-1]:
        world.advance(rng.uniform(1, 10))
        pending = world.pending_jobs(since)
        after = rng.randrange(2, max(3, pending // 3))
        with pytest.raises(Crash):
            world.sync(since, mapper=crashing_mapper(after))
        points.append(f"since={since} killed after {after} of {pending} jobs")
        world.check_after_failure()
    world.advance(10)
    last = chain[-1]
    retired = world.state().run.run_id
    report = world.sync(last)
    assert report.retired == retired, report.as_dict()
    gaps = campaigns_without_rows(world.data_dir)
    assert gaps["without_a_campaign_row"] == 0, gaps
    assert gaps["without_statistics"] == 0, gaps
    at = world.final_frozen_sync()
    FIGURES[f"resume, moving clock: other arguments {'->'.join(map(str, chain))}"] = {
        "interruptions": points,
        **gaps,
        **truth_figures(world, at),
    }


# ------------------------------------------------------------------------------------------
# f. killed after every job was written, before the run was recorded finished
# ------------------------------------------------------------------------------------------


def test_a_run_killed_just_before_it_is_recorded_finished_keeps_its_open_campaigns(tmp_path):
    """Regression (found by this suite). A run writes and checkpoints its campaign jobs,
    then `finish_run` saves the open campaigns: a kill in between (here: `finish_run` raises
    as a SIGKILL would land there) leaves a checkpoint with every job done. The run that takes
    it over reads no campaign window (all done), so it sees none of those campaigns, reads no
    detail, and saves an open set without them: campaigns that can still change (paused,
    spam, sending...) are forgotten for good; once older than the look-back, no later sync
    reads them again. An uninterrupted run keeps them open. Fixed: the checkpoint keeps the
    campaigns its done list jobs saw, and the run that takes it over reads their details."""
    # a seed whose campaigns include one that never turns final (paused)
    sim = make_simulator(messages=MESSAGES, seed=18, live=True, speed=SPEED, token=TOKEN,
                         api_key=API_KEY)  # fmt: skip
    sim.clock.set(before_the_last_burst(sim))
    world = World(tmp_path, sim=sim)
    real_finish = SyncState.finish_run

    def killed_here(self, *args, **kwargs):
        raise KeyboardInterrupt  # the process dies before sync.json is written

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(SyncState, "finish_run", killed_here)
        with pytest.raises(KeyboardInterrupt):
            world.sync(SINCE)
    assert SyncState.finish_run is real_finish
    left = world.state().run
    assert left is not None and not left.pending_jobs(), "every job was written"
    world.advance(5)
    report = world.sync(SINCE)
    assert report.took_over == left.run_id
    at = world.now()
    truth = world.sim.ground_truth_campaigns(at).filter(
        pl.col("created_at") < world.state().last_run.until
    )
    # campaigns that stay open for ever in the simulator (an uninterrupted run keeps them)
    never_final = set(truth.filter(pl.col("status").is_in(["spam", "paused"]))["campaign_id"])
    assert never_final, "the simulator has no campaign that stays open: choose another seed"
    kept = set(world.state().open_campaigns)
    FIGURES["resume, moving clock: killed before finish"] = {
        "campaigns_still_open_in_truth": sorted(never_final),
        "open_campaigns_saved": sorted(kept),
        "details_read_by_the_run_that_took_over": report.campaigns_detailed,
    }
    assert never_final <= kept, (
        f"open campaigns {sorted(never_final - kept)} were forgotten by the run that took over "
        f"{left.run_id} (it read {report.campaigns_detailed} details)"
    )


# ------------------------------------------------------------------------------------------
# g. Ctrl-C while the warehouse is built (found by the real-clock soak)
# ------------------------------------------------------------------------------------------


def test_ctrl_c_while_the_warehouse_is_built_is_an_interruption(tmp_path, monkeypatch):
    """Regression (found by the real-clock soak). Ctrl-C that lands while DuckDB runs a statement of
    `build_warehouse` (the last step of every sync) comes out of DuckDB as a plain
    `RuntimeError("Query interrupted")`, not a `duckdb.Error`: the build's handler (which
    turns an interrupt into KeyboardInterrupt) never sees it, and `bsg-analytics sync` exits 1
    with "bsg-analytics: RuntimeError: Query interrupted", the code of an API failure, instead
    of 130 and "interrupted; ... run the same command again" (fixed: the build turns it into
    KeyboardInterrupt). Here a statement of the build
    is made slow (one more query on its connection, a few seconds at most: DuckDB notices the
    interrupt at once or at the statement's end, and raises the same either way) so the
    SIGINT lands inside DuckDB, as it did in the soak."""
    import bsg_analytics.warehouse as warehouse

    world = World(tmp_path)
    world.sync(SINCE)
    real_view_sql = warehouse._base_view_sql
    ctrl_c = CtrlC()

    def slow_view_sql(con, data_dir, table):
        if table.name == "messages":
            threading.Timer(0.3, ctrl_c.press).start()
            con.execute("SELECT count(*) FROM range(500000000) t(x) WHERE x % 7 = 3").fetchall()
        return real_view_sql(con, data_dir, table)

    monkeypatch.setattr(warehouse, "_base_view_sql", slow_view_sql)
    with ctrl_c:
        try:
            warehouse.build_warehouse(world.dd)
        except BaseException as exc:  # what comes out is the point
            got = exc
        else:
            got = None
        finally:
            ctrl_c.armed = False
    FIGURES["Ctrl-C in the warehouse build"] = {"raised": repr(got)}
    assert ctrl_c.sent == 1
    assert isinstance(got, KeyboardInterrupt), f"Ctrl-C came out as {got!r}"
