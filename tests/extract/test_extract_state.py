"""The state model: plans on a fixed grid, unfinished runs taken over or retired (never an
error), the watermark from the moments windows were read, and old (version 1) files."""

import threading
from datetime import UTC, date, datetime, timedelta

import orjson
import pytest

from bsg_analytics.planning import plan_windows
from bsg_analytics.settings import Settings
from bsg_analytics.state import StateError, SyncState, reset_state

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
SETTINGS = Settings(window_days=7, lookback_hours=72)


class Killed(Exception):
    pass


def sync(data_dir, work, now, since=None, until=None, kill_after=None):
    """What the pipeline does: plan (taking over), start, work each job not done, finish."""
    state = SyncState.load(data_dir)
    plan = plan_windows(SETTINGS, state, since, until, now)
    run = state.start_run(plan)
    for i, key in enumerate(run.pending_jobs()):
        if kill_after is not None and i == kill_after:
            raise Killed
        work.append(key)  # "tables written"
        state.mark_done(key, now)
    state.finish_run(open_campaigns={})
    return state, plan


def test_a_killed_run_is_taken_over_on_a_moving_clock(data_dir):
    """The regression of issue 12: the resumed run's windows are those of its own plan, whose
    open-ended last window moved with the clock; no StateError, nothing missed or doubled."""
    work: list = []
    since = date(2026, 9, 1)
    with pytest.raises(Killed):
        sync(data_dir, work, NOW, since, kill_after=3)
    first = SyncState.load(data_dir).run
    with pytest.raises(Killed):
        sync(data_dir, work, NOW + timedelta(minutes=7), since, kill_after=2)
    later = NOW + timedelta(hours=1)
    state, plan = sync(data_dir, work, later, since)
    # every job of the final plan was written exactly once: the first run's windows, its last
    # (unwritten) one planned again up to the new now
    assert sorted(plan.job_keys) == sorted(work)
    assert plan.windows[: len(first.windows) - 1] == first.windows[:-1]
    assert plan.windows[len(first.windows) - 1].start == first.windows[-1].start
    assert plan.windows[-1].end == (later - timedelta(minutes=2)).replace(microsecond=0)
    # the watermark is the first moment a window of the run was read, not its end
    assert state.watermark == NOW
    again = SyncState.load(data_dir)
    assert again.run is None and again.watermark == NOW
    assert again.last_run.until == plan.until
    assert data_dir.exists(data_dir.path("state", "runs", f"{first.run_id}.json"))


def test_incremental_runs_take_over_too(data_dir):
    work: list = []
    first, _ = sync(data_dir, work, NOW, date(2026, 11, 1))
    # the first run ended at now minus the safety margin, before it read anything
    assert first.watermark == NOW - timedelta(minutes=2)
    work.clear()
    for minutes in (60, 63, 70):
        with pytest.raises(Killed):
            sync(data_dir, work, NOW + timedelta(minutes=minutes), kill_after=1)
    state, plan = sync(data_dir, work, NOW + timedelta(minutes=90))
    assert plan.basis == "takeover"
    # the first attempt's start, kept
    assert plan.since == NOW - timedelta(minutes=2) - timedelta(hours=72)
    assert sorted(plan.job_keys) == sorted(work)
    assert state.watermark == NOW + timedelta(minutes=60)


def test_another_request_retires_the_run_and_keeps_its_promise(data_dir):
    """A failed backfill followed by a sync with other arguments: the backfill's unread
    windows (messages and campaigns) are read by the new run; no hole is left."""
    work: list = []
    with pytest.raises(Killed):
        sync(data_dir, work, NOW, date(2026, 9, 1), kill_after=2)
    old = SyncState.load(data_dir).run
    unread = set(old.pending_jobs())
    _, plan = sync(data_dir, work, NOW + timedelta(hours=1), date(2026, 11, 10))
    assert plan.retires == old.run_id and plan.carried_windows > 0
    covered = {k.rsplit("/", 1)[-1] for k in work}
    for key in unread:
        window = key.rsplit("/", 1)[-1]
        start = window.split("..")[0]
        # each unread window was read, whole or as its part before the new range
        assert window in covered or any(c.startswith(start) for c in covered), key
    assert any(k.startswith("campaigns/") for k in work if k in plan.job_keys)
    archived = orjson.loads(
        data_dir.read_bytes(data_dir.path("state", "runs", f"{old.run_id}.json"))
    )
    assert archived["outcome"] == "retired"


def test_a_job_is_done_only_when_marked(data_dir):
    state = SyncState.load(data_dir)
    plan = plan_windows(SETTINGS, state, date(2026, 1, 1), date(2026, 1, 22), NOW)
    state.start_run(plan)
    first = plan.job_keys[0]
    state.mark_done(first, NOW)
    with pytest.raises(StateError):
        state.mark_done("messages/19990101T000000Z..19990108T000000Z", NOW)
    with pytest.raises(StateError):
        state.finish_run()
    # killed while writing the second: the next plan keeps only the first
    again = SyncState.load(data_dir)
    plan2 = plan_windows(SETTINGS, again, date(2026, 1, 1), date(2026, 1, 22), NOW)
    assert plan2.takes_over == plan.run_id
    assert set(plan2.carried_done) == {first}
    assert plan2.job_keys == plan.job_keys  # a closed range: the same keys exactly
    assert again.start_run(plan2).resumed == 1


def test_watermark_never_moves_back_nor_over_a_gap(data_dir):
    work: list = []
    june = datetime(2026, 6, 1, tzinfo=UTC)
    state, _ = sync(data_dir, work, NOW, date(2026, 5, 1), date(2026, 6, 1))
    assert state.watermark == june
    # an older backfill leaves it alone
    state, _ = sync(data_dir, work, NOW, date(2026, 1, 1), date(2026, 2, 1))
    assert state.watermark == june
    # a later range that leaves a gap does not jump it
    state, _ = sync(data_dir, work, NOW, date(2026, 8, 1), date(2026, 8, 8))
    assert state.watermark == june


def test_open_campaigns_keep_their_status_and_marks_are_thread_safe(data_dir):
    state = SyncState.load(data_dir)
    state.record_campaigns({1: "sending", 2: "scheduled", 3: "done"})
    state.record_campaigns({1: "stopped", 4: "paused"})
    assert SyncState.load(data_dir).open_campaigns == {2: "scheduled", 4: "paused"}
    plan = plan_windows(SETTINGS, state, date(2025, 1, 1), date(2026, 1, 1), NOW)
    state.start_run(plan)
    threads = [threading.Thread(target=state.mark_done, args=(k, NOW)) for k in plan.job_keys]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert SyncState.load(data_dir).run.is_complete
    state.finish_run(open_campaigns={7: "sending", 8: "moderation", 9: "done"})
    assert SyncState.load(data_dir).open_campaigns == {7: "sending", 8: "moderation"}


def test_unreadable_state_is_a_clear_error_that_names_the_way_out(data_dir):
    data_dir.write_bytes(data_dir.path("state", "sync.json"), b"{not json")
    with pytest.raises(StateError, match=r"unreadable.*bsg-analytics reset"):
        SyncState.load(data_dir)
    aside = reset_state(data_dir, NOW)
    assert aside and aside.endswith("aside-20261120T120000Z")
    assert SyncState.load(data_dir).watermark is None
    assert data_dir.read_bytes(data_dir.path("state", "aside-20261120T120000Z", "sync.json"))


def test_version_1_files_are_read_and_their_run_taken_over(data_dir):
    """State written by the previous main: `done` a list of keys, open campaigns "open"."""
    plan = plan_windows(SETTINGS, None, date(2026, 11, 2), None, NOW)
    v1_run = {
        "version": 1,
        "run_id": "20261120T100000Z-abcdef",
        "since": plan.since.isoformat(),
        "until": plan.until.isoformat(),
        "started_at": "2026-11-20T10:00:00+00:00",
        "resumed": 0,
        "request": list(plan.request),
        "plan": [w.key for w in plan.windows],
        "windows": [w.to_dict() for w in plan.windows],
        "campaign_windows": [w.to_dict() for w in plan.campaign_windows],
        "done": [plan.job_keys[0]],
    }
    v1_sync = {"version": 1, "watermark": "2026-11-19T00:00:00+00:00", "last_run_id": "x",
               "open_campaigns": {"5": "open"}}  # fmt: skip
    data_dir.write_bytes(data_dir.path("state", "run.json"), orjson.dumps(v1_run))
    data_dir.write_bytes(data_dir.path("state", "sync.json"), orjson.dumps(v1_sync))
    state = SyncState.load(data_dir)
    assert state.open_campaigns == {5: "open"} and state.last_run_id == "x"
    assert state.run.done == {plan.job_keys[0]: datetime(2026, 11, 20, 10, tzinfo=UTC)}
    work: list = []
    state, plan2 = sync(data_dir, work, NOW + timedelta(hours=2), date(2026, 11, 2))
    assert plan2.takes_over == "20261120T100000Z-abcdef"
    assert plan.job_keys[0] not in work
    assert state.watermark == datetime(2026, 11, 20, 10, tzinfo=UTC)
