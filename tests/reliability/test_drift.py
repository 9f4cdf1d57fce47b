"""Drift: the simulator's clock moves while the sync pages (live mode, plus a hook that pushes
the clock on after every request): new messages arrive, statuses advance, campaigns progress.
One more incremental sync at a frozen moment then gives exactly the simulator's ground truth."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import polars as pl
from polars.testing import assert_frame_equal

from bsg_analytics.pipeline import run_sync
from bsg_simulator.testing import inprocess_transport, make_simulator
from tests.reliability.rel_helpers import API_KEY, FIGURES, SINCE, TOKEN, read_table, settings_for

MESSAGE_COLUMNS = [
    "message_id", "campaign_id", "reference_id", "channel", "source", "sender", "phone", "text",
    "validity_hours", "status", "created_at", "sent_at", "delivered_at", "amount_value",
    "amount_currency", "fallback_sms_parts", "fallback_sms_ids", "created_date",
]  # fmt: skip
CAMPAIGN_COLUMNS = [
    "campaign_id", "name", "sender", "channel", "status", "is_final", "created_at",
    "total_messages", "total_price", "currency", "list_delivered", "list_sent",
]  # fmt: skip


class ClockPushingTransport(httpx.BaseTransport):
    """Forwards to the simulator, then moves its clock on: time passes between pages."""

    def __init__(self, sim, seconds_per_request: float):
        self.inner = inprocess_transport(sim)
        self.sim = sim
        self.step = seconds_per_request
        self.requests = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        self.requests += 1
        self.sim.clock.advance(self.step)
        return response

    def close(self) -> None:
        self.inner.close()


def inside_a_sending_burst(sim) -> datetime:
    """A moment inside a run of sends: at least 20 messages created in the minutes before it
    (older than the windows' 2-minute safety margin, their reports still on the way) and at
    least 20 more created in the 5 minutes after it (they arrive while the sync pages)."""
    created = sim.ground_truth_messages(sim.clock.now_dt())["created_at"].sort()
    recent = created.filter(created > created.max() - timedelta(days=20)).dt.epoch("s")
    seconds = recent.to_numpy()
    for c in seconds:
        t = c + 150
        before = ((seconds > t - 400) & (seconds < t - 120)).sum()
        after = ((seconds >= t) & (seconds < t + 300)).sum()
        if before >= 20 and after >= 20:
            return datetime.fromtimestamp(int(t), UTC)
    raise AssertionError("no burst found")


def test_live_drift_during_paging_then_one_incremental_sync_matches_the_truth(tmp_path):
    sim = make_simulator(messages=6_000, seed=37, live=True, speed=120.0, token=TOKEN,
                         api_key=API_KEY)  # fmt: skip
    start = inside_a_sending_burst(sim)
    sim.clock.set(start)
    settings = settings_for(tmp_path / "d", page_limit=50, concurrency=2)
    transport = ClockPushingTransport(sim, seconds_per_request=5)
    second = ClockPushingTransport(sim, seconds_per_request=0)
    try:
        first_now = sim.clock.now_dt()
        run_sync(settings, SINCE, transport=transport, now=first_now)
        after_first = sim.clock.now_dt()
        before = read_table(tmp_path / "d", "messages")
        # the world moved on during the sync
        assert after_first - first_now > timedelta(minutes=5)
        truth_mid = sim.ground_truth_messages(after_first)
        arrived = truth_mid.height - before.height
        assert arrived > 0, "no message arrived while the first sync ran"
        # statuses were read at different moments: some are newer than the plan's `now`
        at_start = sim.ground_truth_messages(first_now).select("message_id", "status")
        drifted = before.join(at_start, on="message_id", suffix="_start").filter(
            pl.col("status") != pl.col("status_start")
        )
        assert drifted.height > 0, "no status moved while the first sync paged"

        # the second, incremental sync, with the clock frozen a little later
        sim.clock.set(after_first + timedelta(minutes=60))
        sim.clock.freeze()
        final = sim.clock.now_dt()
        report = run_sync(settings, None, transport=second, now=final)
    finally:
        transport.close()
        second.close()
    assert report.windows_total <= 6, "the incremental run re-read more than the look-back"

    got = read_table(tmp_path / "d", "messages")
    truth = sim.ground_truth_messages(final)
    assert got["message_id"].is_duplicated().sum() == 0
    assert_frame_equal(
        got.select(MESSAGE_COLUMNS).sort("message_id"),
        truth.select(MESSAGE_COLUMNS).sort("message_id"),
    )
    moved = before.join(got, on="message_id", suffix="_now").filter(
        pl.col("status") != pl.col("status_now")
    )
    assert moved.height > 0, "no status moved on: the drift proved nothing"
    campaigns = read_table(tmp_path / "d", "campaigns").select(CAMPAIGN_COLUMNS)
    want = sim.ground_truth_campaigns(final).filter("reachable").select(CAMPAIGN_COLUMNS)
    assert_frame_equal(campaigns.sort("campaign_id"), want.sort("campaign_id"))
    FIGURES["drift"] = {
        "simulated_minutes_during_first_sync": round((after_first - first_now).seconds / 60),
        "messages_arrived_during_it": arrived,
        "statuses_newer_than_the_plan_in_the_first_sync": drifted.height,
        "statuses_moved_by_the_second_sync": moved.height,
        "requests": transport.requests,
        "final": final.astimezone(UTC).isoformat(),
    }
