"""A sync reads by the API's clock when it is behind this machine's: windows end at a moment
the API has reached (it refuses a later one with a 422), reads and the watermark are stamped
by that clock, and incremental runs on a clock that keeps moving lose nothing.

The simulator is served on a loopback socket (its Date headers by its own clock, uvicorn's
off), live, started an hour before the real now; the syncs run on the real clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import polars as pl

from bsg_analytics.pipeline import CLOCK_SKEW_TOLERANCE, run_sync
from bsg_analytics.state import SyncState
from bsg_analytics.storage import DataDir
from bsg_simulator.testing import running_simulator
from tests.reliability.rel_helpers import API_KEY, TOKEN, read_table, settings_for


def test_the_simulators_date_is_its_own_clock_and_comes_once():
    start = datetime(2026, 11, 20, 12, 0, 0, tzinfo=UTC)
    with running_simulator(realtime=False, messages=50, token=TOKEN, start=start) as (url, _):
        auth = {"Authorization": f"Bearer {TOKEN}"}
        resp = httpx.get(f"{url}/api/accounts/balance", headers=auth)
    assert resp.headers.get_list("date") == ["Fri, 20 Nov 2026 12:00:00 GMT"]


def truth_ids(sim, until: datetime) -> pl.DataFrame:
    truth = sim.ground_truth_messages(sim.clock.now_dt())
    return (
        truth.filter(pl.col("created_at") < until)
        .select(pl.col("message_id").cast(pl.Int64), "status")
        .sort("message_id")
    )


def test_syncs_against_an_api_an_hour_behind_read_by_its_clock_and_lose_nothing(tmp_path):
    behind = datetime.now(UTC) - timedelta(hours=1)
    with running_simulator(
        messages=4_000, seed=23, days=3, token=TOKEN, api_key=API_KEY, live=True, speed=1.0,
        start=behind, anchor=behind.date(),
    ) as (url, sim):  # fmt: skip
        settings = settings_for(tmp_path / "d", api_url=url, rest_url=url, max_retries=3)
        first = run_sync(settings)
        notice = [n for n in first.notices if "the API's clock reads" in n]
        assert notice and "1 h 0 min behind this machine's" in notice[0], first.notices
        # its windows end at the API's now less the 2-minute margin, not at this machine's
        api_now = sim.clock.now_dt()
        assert api_now - timedelta(minutes=4) < first.until <= api_now - timedelta(minutes=2)
        watermark = SyncState.load(DataDir(settings.data_dir)).watermark
        assert watermark is not None and abs(watermark - first.until) < timedelta(minutes=5)

        sim.clock.advance(1800)  # half an hour of traffic, the clock still 30 min behind
        second = run_sync(settings)
        assert any("30 min behind" in n for n in second.notices), second.notices
        assert second.until > first.until + timedelta(minutes=29)

        sim.clock.freeze()  # a last sync at a still moment: every status final or as it is
        last = run_sync(settings)
        got = read_table(tmp_path / "d", "messages").select("message_id", "status")
        want = truth_ids(sim, last.until)
        assert want.height > 100
        assert got.sort("message_id").equals(want), (got.height, want.height)


def test_an_api_within_the_tolerance_is_not_followed(tmp_path):
    """A few seconds of difference (a Date is whole seconds, stamped before it travels) changes
    nothing: no notice, windows up to this machine's now less the margin."""
    with running_simulator(messages=200, seed=3, token=TOKEN, api_key=API_KEY, live=True) as (
        url,
        sim,
    ):
        sim.clock.advance(-CLOCK_SKEW_TOLERANCE.total_seconds() / 3)
        report = run_sync(settings_for(tmp_path / "d", api_url=url, rest_url=url))
    assert not [n for n in report.notices if "clock" in n], report.notices
    now = datetime.now(UTC)
    assert now - timedelta(minutes=3) < report.until <= now - timedelta(minutes=2)
