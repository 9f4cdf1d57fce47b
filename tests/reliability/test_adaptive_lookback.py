"""The adaptive look-back (`bsg_analytics.lookback`): which rows can still change, the open
index a run leaves, the plan an incremental run makes from it, and hourly syncs on a moving
clock that end equal to the simulator's truth while reading less than the fixed look-back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from bsg_analytics.lookback import (
    OpenIndex,
    OpenSpan,
    adaptive_ranges,
    load_index,
    save_index,
    spans_of,
)
from bsg_analytics.pipeline import run_sync
from bsg_analytics.planning import plan_windows
from bsg_analytics.settings import Settings
from bsg_analytics.state import SyncState
from bsg_analytics.status import lookback_line
from bsg_analytics.storage import DataDir
from bsg_simulator.testing import TEST_ANCHOR, TEST_NOW, inprocess_transport, make_simulator
from tests.pipeline.e2e import MESSAGE_COLUMNS, read_table, settings_for
from tests.reliability.rel_helpers import FIGURES
from tests.reliability.test_drift import ClockPushingTransport

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
H = timedelta(hours=1)


def row(mid, created, channel="sms", status="delivered", sent=None, delivered=None,
        validity=24, read=NOW):  # fmt: skip
    return {
        "message_id": mid, "channel": channel, "status": status, "validity_hours": validity,
        "created_at": created, "sent_at": sent, "delivered_at": delivered, "extracted_at": read,
    }  # fmt: skip


def frame(rows) -> pl.DataFrame:
    ts = pl.Datetime("us", "UTC")
    return pl.DataFrame(
        rows,
        schema={
            "message_id": pl.Int64,
            "channel": pl.String,
            "status": pl.String,
            "validity_hours": pl.Int32,
            "created_at": ts,
            "sent_at": ts,
            "delivered_at": ts,
            "extracted_at": ts,
        },
    )


def test_what_can_still_change_is_decided_by_status_and_send_time():
    t = NOW - 10 * H
    rows = [
        row(1, t, "sms", "delivered", t, t),  # final
        row(2, t + timedelta(minutes=1), "viber", "delivered", t, t),  # may turn read: open
        row(3, t + timedelta(minutes=2), "viber", "read", t, t),  # final
        row(4, t + timedelta(minutes=3), "sms", "sent", t),  # within its validity: open
        row(5, NOW - 30 * H, "sms", "sent", NOW - 30 * H),  # sent 30 h ago, validity 24 h + 1 h
        row(6, NOW - 30 * H + timedelta(seconds=5), "sms", "delivered", NOW - 30 * H),  # final
        # created weeks ago for a campaign scheduled later: no send time, open however old
        row(7, NOW - 400 * H, "sms", "scheduled"),
        row(8, NOW - 80 * H, "rcs", "delivered", NOW - 80 * H, NOW - 73 * H),  # read window over
        # delivered 71 h ago: one hour left to turn read
        row(9, NOW - 80 * H + timedelta(seconds=9), "rcs", "delivered", NOW - 80 * H, NOW - 71 * H),
        row(10, t + timedelta(minutes=4), "sms", "pending_review", t),  # unknown status: open
    ]
    spans = spans_of(frame(rows), 72, NOW)
    assert spans == [
        OpenSpan(NOW - 400 * H, NOW - 400 * H + timedelta(seconds=1), 1, 1),
        OpenSpan(NOW - 80 * H + timedelta(seconds=9), NOW - 80 * H + timedelta(seconds=10), 1, 1),
        OpenSpan(t + timedelta(minutes=1), t + timedelta(minutes=4, seconds=1), 3, 4),
    ]
    # read after its deadline, a row is closed: row 4 read 26 h after it was sent
    late = frame([row(4, t, "sms", "sent", t - 26 * H, read=NOW)])
    assert spans_of(late, 72, NOW) == []
    # `now` earlier than extracted_at (a simulator's frozen clock): the earlier one counts
    ahead = frame([row(2, t, "viber", "delivered", t, t, read=NOW + 1000 * H)])
    assert len(spans_of(ahead, 72, NOW)) == 1


def test_adaptive_ranges_join_near_spans_and_leave_what_is_new():
    index = OpenIndex(NOW, [
        OpenSpan(NOW - 50 * H, NOW - 50 * H + timedelta(minutes=10), 3, 40),
        OpenSpan(NOW - 50 * H + timedelta(minutes=10, seconds=40), NOW - 49 * H, 2, 30),
        OpenSpan(NOW - 20 * H, NOW - 19 * H, 5, 50),
        OpenSpan(NOW - 2 * H, NOW - H, 5, 50),
    ])  # fmt: skip
    assert adaptive_ranges(index, NOW - 90 * timedelta(minutes=1)) == [
        (NOW - 50 * H, NOW - 49 * H),
        (NOW - 20 * H, NOW - 19 * H),
        (NOW - 2 * H, NOW - 90 * timedelta(minutes=1)),
    ]


def _state_with_index(data_dir, full_hours_ago: float, spans=None) -> SyncState:
    state = SyncState(DataDir(str(data_dir)))
    state.watermark = NOW - H
    state.full_lookback_at = NOW - full_hours_ago * H
    save_index(state.data_dir, OpenIndex(NOW - H, spans or [
        OpenSpan(NOW - 60 * H, NOW - 59 * H, 4, 90),
        OpenSpan(NOW - 500 * H, NOW - 500 * H + timedelta(seconds=1), 1, 1),
    ]))  # fmt: skip
    return state


def test_an_incremental_plan_reads_the_open_spans_and_what_is_new(tmp_path):
    settings = Settings(window_days=7, lookback_hours=72, data_dir=str(tmp_path))
    plan = plan_windows(settings, _state_with_index(tmp_path, 3), now=NOW)
    assert plan.lookback == "adaptive"
    fresh = NOW - H - timedelta(minutes=10)
    assert [(w.start, w.end) for w in plan.stream_windows["messages"]] == [
        (NOW - 500 * H, NOW - 500 * H + timedelta(seconds=1)),
        (NOW - 60 * H, NOW - 59 * H),
        (fresh, NOW - timedelta(minutes=2)),  # the windows' safety margin
    ]
    # the campaign lists keep the fixed look-back
    assert plan.stream_windows["campaigns"][0].start == NOW - H - 72 * H


@pytest.mark.parametrize(
    ("why", "settings_extra", "full_hours_ago", "index"),
    [
        ("the safety net is due", {}, 25, True),
        ("BSG_LOOKBACK=fixed", {"lookback": "fixed"}, 3, True),
        ("no index (an older data directory)", {}, 3, False),
        ("BSG_FULL_LOOKBACK_EVERY_HOURS=0", {"full_lookback_every_hours": 0}, 3, True),
    ],
)
def test_the_fixed_look_back_is_read_when(tmp_path, why, settings_extra, full_hours_ago, index):
    settings = Settings(window_days=7, lookback_hours=72, data_dir=str(tmp_path), **settings_extra)
    state = _state_with_index(tmp_path, full_hours_ago)
    if not index:
        (tmp_path / "state" / "open.json").unlink()
    plan = plan_windows(settings, state, now=NOW)
    assert plan.lookback == "full", why
    assert plan.stream_windows["messages"][0].start == NOW - H - 72 * H, why


def test_an_unreadable_index_means_the_fixed_look_back(tmp_path):
    state = _state_with_index(tmp_path, 3)
    (tmp_path / "state" / "open.json").write_text("{not json")
    assert load_index(state.data_dir) is None
    settings = Settings(window_days=7, data_dir=str(tmp_path))
    assert plan_windows(settings, state, now=NOW).lookback == "full"


class Served(ClockPushingTransport):
    """The clock moves on after every request; counts the messages /api/messages served."""

    served = 0

    def handle_request(self, request):
        response = super().handle_request(request)
        if request.url.path == "/api/messages" and response.status_code == 200:
            self.served += len(orjson.loads(response.read()).get("data") or [])
        return response


def _hourly(sim, data, lookback: str, hours: int, step_seconds: float) -> dict:
    """A backfill, then `hours` hourly syncs on a clock that moves during each sync too."""
    settings = settings_for(data, lookback=lookback, window_days=7, page_limit=100)
    requests = served = 0
    runs = []
    for hour in range(hours + 1):
        transport = Served(sim, seconds_per_request=step_seconds)
        try:
            since = (TEST_NOW - timedelta(days=8)).date() if hour == 0 else None
            report = run_sync(settings, since, transport=transport, now=sim.clock.now_dt())
        finally:
            transport.close()
        if hour:  # the backfill aside
            requests += transport.requests
            served += transport.served
        runs.append(report.lookback)
        sim.clock.set(sim.clock.now_dt() + H)
    return {"requests": requests, "served": served, "lookbacks": runs}


def _stale(data, sim, now) -> int:
    got = read_table(data, "messages").select("message_id", "status")
    want = sim.ground_truth_messages(now).select("message_id", "status")
    joined = got.join(want, on="message_id", how="full", suffix="_truth")
    return joined.filter(pl.col("status").ne_missing(pl.col("status_truth"))).height


def _twins(tmp_path, messages: int, hours: int, seed: int):
    out = {}
    for mode in ("adaptive", "fixed"):
        sim = make_simulator(messages=messages, seed=seed, days=7, anchor=TEST_ANCHOR,
                             start=TEST_NOW - timedelta(hours=hours), future_hours=48,
                             token="test-token-123", api_key="test_key_456")  # fmt: skip
        sim.clock.freeze()
        figures = _hourly(sim, tmp_path / mode, mode, hours, step_seconds=3)
        sim.clock.freeze()
        final = sim.clock.now_dt()
        figures["stale_before_last"] = _stale(tmp_path / mode, sim, final)
        # one last sync at a frozen moment: everything equals the truth at that moment
        transport = inprocess_transport(sim)
        try:
            run_sync(settings_for(tmp_path / mode, lookback=mode, window_days=7),
                     None, transport=transport, now=final)  # fmt: skip
        finally:
            transport.close()
        out[mode] = (figures, sim, final)
    return out


def _assert_equal_to_truth(data, sim, now):
    got = read_table(data, "messages").select(MESSAGE_COLUMNS).sort("message_id")
    want = sim.ground_truth_messages(now).select(MESSAGE_COLUMNS).sort("message_id")
    assert_frame_equal(got, want, check_dtypes=True)


def _check(tmp_path, messages, hours, seed, key):
    twins = _twins(tmp_path, messages, hours, seed)
    (a, sim_a, final), (f, _, _) = twins["adaptive"], twins["fixed"]
    _assert_equal_to_truth(tmp_path / "adaptive", sim_a, final)
    assert "adaptive" in a["lookbacks"] and a["lookbacks"][0] == "full"
    assert a["served"] < f["served"], (a, f)
    FIGURES[key] = {
        "hours": hours,
        "messages": messages,
        "served_adaptive": a["served"],
        "served_fixed": f["served"],
        "requests_adaptive": a["requests"],
        "requests_fixed": f["requests"],
        "lookbacks": "".join(x[0] for x in a["lookbacks"]),
        "stale_before_last_sync_adaptive": a["stale_before_last"],
        "stale_before_last_sync_fixed": f["stale_before_last"],
    }


def test_hourly_adaptive_syncs_on_a_moving_clock_end_equal_to_the_truth(tmp_path):
    _check(tmp_path, 2_000, 5, 11, "adaptive look-back, 5 hours")


@pytest.mark.slow
@pytest.mark.timeout(900)  # about 100 s alone; CI runs it beside the other slow suites
def test_a_day_and_more_of_hourly_adaptive_syncs_end_equal_to_the_truth(tmp_path):
    # 30 hours: the 24-hour safety net's full look-back comes round once in the middle
    _check(tmp_path, 20_000, 30, 5, "adaptive look-back, 30 hours")


def test_a_straggler_among_closed_messages_is_a_span_of_its_own():
    t = NOW - 5 * H
    second = timedelta(seconds=1)
    closed = [row(i, t + i * second, "sms", "delivered", t, t) for i in range(1, 300)]
    rows = [
        row(1000, t, "sms", "sent", t),  # open, then 299 closed ones
        *closed,
        row(1001, t + 300 * second, "sms", "sent", t),  # open again: another span
        row(1002, t + 302 * second, "sms", "sent", t),  # next to it: the same span
    ]
    assert spans_of(frame(rows), 72, NOW) == [
        OpenSpan(t, t + second, 1, 1),
        OpenSpan(t + 300 * second, t + 303 * second, 2, 2),
    ]


@pytest.mark.parametrize(
    ("nxt", "index", "line"),
    [
        (
            {"lookback": "adaptive", "reread_spans": [["a", "b"]]},
            {"messages": 1, "spans": 1},
            "look-back: adaptive, re-reads 1 span (1 message can still change, in 1 span of "
            "creation time) and what is new; the full look-back last ran -",
        ),
        (
            {"lookback": "full"},
            {"messages": 1234, "spans": 3},
            "look-back: the whole 72 hours (1,234 messages can still change, in 3 spans of "
            "creation time)",
        ),
        (
            {"lookback": "full"},
            None,
            "look-back: the whole 72 hours (no open index yet (the next sync writes one))",
        ),
    ],
)
def test_status_says_which_look_back_the_next_sync_uses(nxt, index, line):
    status = {"next_sync": nxt, "open_messages": index, "lookback_hours": 72}
    assert lookback_line(status) == line
