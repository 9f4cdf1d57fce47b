import threading
from datetime import UTC, date, datetime

import pytest

from bsg_analytics.state import StateError, SyncState
from bsg_client import split_windows

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


class Killed(Exception):
    pass


def run_sync(data_dir, windows, work, kill_after=None, run_id="run-A"):
    """What the flow does: resume or start, work each pending window, mark it, finish."""
    state = SyncState.load(data_dir)
    run = state.resume() or state.start_run(run_id, windows)
    for i, w in enumerate(run.pending()):
        if kill_after is not None and i == kill_after:
            raise Killed
        work.append((run.run_id, w.key))  # "tables written"
        state.mark_window_done(w.key)
    state.finish_run()
    return state


def test_resume_after_kill_nothing_missed_nothing_doubled(data_dir):
    windows = split_windows(date(2026, 1, 1), date(2026, 3, 1), 7, "UTC", NOW)
    work: list = []
    with pytest.raises(Killed):
        run_sync(data_dir, windows, work, kill_after=3)
    with pytest.raises(Killed):
        run_sync(data_dir, windows, work, kill_after=2, run_id="run-B")
    state = run_sync(data_dir, windows, work, run_id="run-C")
    keys = [k for _, k in work]
    assert sorted(keys) == sorted(w.key for w in windows)  # each window exactly once
    assert {r for r, _ in work} == {"run-A"}  # the resumed run keeps its id
    assert state.watermark == windows[-1].end
    reloaded = SyncState.load(data_dir)
    assert reloaded.run is None and reloaded.watermark == windows[-1].end
    assert reloaded.last_run_id == "run-A"
    assert data_dir.exists(data_dir.path("state", "runs", "run-A.json"))


def test_window_marked_only_after_write_is_redone(data_dir):
    windows = split_windows(date(2026, 1, 1), date(2026, 1, 22), 7, "UTC", NOW)
    state = SyncState.load(data_dir)
    run = state.start_run("r1", windows)
    state.mark_window_done(windows[0].key)
    # killed while writing window 1: not marked
    again = SyncState.load(data_dir).resume()
    assert [w.key for w in again.pending()] == [w.key for w in windows[1:]]
    assert again.resumed == 1 and again.windows == run.windows


def test_finish_requires_all_windows_and_known_keys(data_dir):
    windows = split_windows(date(2026, 1, 1), date(2026, 1, 15), 7, "UTC", NOW)
    state = SyncState.load(data_dir)
    state.start_run("r1", windows)
    with pytest.raises(StateError):
        state.mark_window_done("nope")
    state.mark_window_done(windows[0].key)
    with pytest.raises(StateError):
        state.finish_run()


def test_watermark_never_moves_back_nor_over_a_gap(data_dir):
    state = SyncState.load(data_dir)
    w1 = split_windows(date(2026, 5, 1), date(2026, 6, 1), 7, "UTC", NOW)
    state.start_run("a", w1)
    for w in w1:
        state.mark_window_done(w.key)
    state.finish_run()
    assert state.watermark == datetime(2026, 6, 1, tzinfo=UTC)
    # an older backfill leaves it alone
    old = split_windows(date(2026, 1, 1), date(2026, 2, 1), 7, "UTC", NOW)
    state.start_run("b", old)
    for w in old:
        state.mark_window_done(w.key)
    state.finish_run()
    assert state.watermark == datetime(2026, 6, 1, tzinfo=UTC)
    # a later range that leaves a gap does not jump it
    later = split_windows(date(2026, 8, 1), date(2026, 8, 8), 7, "UTC", NOW)
    state.start_run("c", later)
    state.mark_window_done(later[0].key)
    state.finish_run()
    assert state.watermark == datetime(2026, 6, 1, tzinfo=UTC)


def test_open_campaigns_and_concurrent_marks(data_dir):
    state = SyncState.load(data_dir)
    state.record_campaigns({1: "sending", 2: "scheduled", 3: "done"})
    state.record_campaigns({1: "stopped", 4: "paused"})
    assert SyncState.load(data_dir).open_campaigns == {2: "scheduled", 4: "paused"}
    windows = split_windows(date(2025, 1, 1), date(2026, 1, 1), 3, "UTC", NOW)
    state.start_run("r", windows)
    threads = [threading.Thread(target=state.mark_window_done, args=(w.key,)) for w in windows]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert SyncState.load(data_dir).run.is_complete


def test_unreadable_state_is_a_clear_error(data_dir):
    data_dir.write_bytes(data_dir.path("state", "sync.json"), b"{not json")
    with pytest.raises(StateError, match="unreadable"):
        SyncState.load(data_dir)


def test_start_run_with_a_plan_resumes_the_same_request(data_dir):
    from bsg_analytics.extract import plan_windows
    from bsg_analytics.settings import Settings

    settings = Settings(window_days=7)
    state = SyncState.load(data_dir)
    plan = plan_windows(settings, state, since=date(2026, 9, 1), now=NOW)
    run = state.start_run(plan)
    assert run.keys[: len(plan.windows)] == [w.key for w in plan.windows]
    assert {w.key for w in plan.campaign_windows} <= set(run.keys)
    # job keys of the flow name a planned window
    first = plan.windows[0].key
    state.mark_window_done(f"messages/{first}")
    state.mark_window_done(f"campaigns/sms/{plan.campaign_windows[0].key}")
    with pytest.raises(StateError):
        state.mark_window_done("messages/19990101T000000Z..19990108T000000Z")
    # killed; started again later with the same arguments: the same run, done keys kept
    later = NOW.replace(hour=18)
    state2 = SyncState.load(data_dir)
    plan2 = plan_windows(settings, state2, since=date(2026, 9, 1), now=later)
    run2 = state2.start_run(plan2)
    assert run2.run_id == run.run_id and run2.windows == run.windows
    assert state2.is_window_done(f"messages/{first}")
    assert not state2.is_window_done(f"messages/{plan.windows[1].key}")
    assert [w.key for w in run2.pending()] == [w.key for w in plan.windows[1:]]
    # other arguments: a new run replaces it
    plan3 = plan_windows(settings, state2, since=date(2026, 10, 1), now=later)
    assert state2.start_run(plan3).run_id != run.run_id
    for key in state2.run.keys:
        state2.mark_window_done(key)
    state2.finish_run(watermark=plan3.until, open_campaigns=[7, 8])
    again = SyncState.load(data_dir)
    assert again.watermark is None or again.watermark == plan3.until
    assert set(again.open_campaigns) == {7, 8}
