"""The statistics export and the balance through the sync, against the simulator: the
`message_costs` table equals the simulator's truth (per row, and per country, operator and
currency to 7 places) with faults; an export left pending by an interrupted run is resumed
by its key, on a moving clock; keys of windows planned again are let go; an account the
export is not served to gets its messages anyway."""

from __future__ import annotations

import threading
from datetime import timedelta

import httpx
import orjson
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from bsg_analytics.pipeline import run_sync
from bsg_analytics.planning import plan_windows
from bsg_analytics.state import ExportKeys, SyncState
from bsg_analytics.storage import DataDir
from bsg_analytics.streams.exports import export_request
from bsg_client import BSGError
from bsg_simulator.testing import TEST_NOW, inprocess_transport, make_simulator
from tests.pipeline.e2e import SINCE, read_table, settings_for
from tests.reliability.rel_helpers import SINCE as REL_SINCE
from tests.reliability.test_resume_moving_clock import MovingTransport, World

COSTS = ["country_name", "operator", "currency"]


def costs_equal_truth(data_dir, sim, now, until=None) -> pl.DataFrame:
    """`message_costs` row for row equal to the truth at `now` (of the messages created
    before `until`, when given: the last run's end), and its spend per country, operator and
    currency equal to 7 places; returns the table."""
    got = read_table(data_dir, "message_costs")
    truth = sim.ground_truth_message_costs(now)
    if until is not None:
        truth = truth.filter(pl.col("time_in") < until)
    assert got["message_id"].n_unique() == got.height
    assert_frame_equal(
        got.select(truth.columns).sort("message_id"), truth.sort("message_id"), check_dtypes=True
    )

    def spend(df: pl.DataFrame) -> dict[tuple, str]:
        by = df.group_by(COSTS).agg(pl.col("price").sum(), pl.len())
        return {tuple(r[c] for c in COSTS): (str(r["price"]), r["len"]) for r in by.to_dicts()}

    assert spend(got) == spend(truth)
    return got


def test_a_backfill_with_faults_gives_the_true_costs_and_balance(tmp_path):
    sim = make_simulator(messages=1_500, seed=5, fault_rate=0.25, export_ready_seconds=0.05)
    settings = settings_for(tmp_path / "d", export_costs=True)
    with inprocess_transport(sim) as transport:
        report = run_sync(settings, SINCE, transport=transport, now=TEST_NOW)
    got = costs_equal_truth(tmp_path / "d", sim, TEST_NOW)
    assert report.rows["message_costs"] == got.height and report.quarantined == 0
    assert got["operator"].n_unique() > 10 and got["price"].dtype == pl.Decimal(18, 7)
    faults = {kind for key, _, kind in sim.app.faults.log if "/api/stat/jobs" in key and kind}
    assert faults, "no fault hit the export"
    # every job whose result was read was deleted (an orphan of a lost answer is left to expire)
    read = [j for j in sim.export_jobs.jobs.values() if j.rows is not None]
    assert read and all(j.deleted for j in read)
    assert ExportKeys(DataDir(tmp_path / "d")).pending() == {}
    # the balance, once: the simulator's at the sync's moment
    balance = read_table(tmp_path / "d", "balance_history")
    truth = sim.ground_truth_balance(TEST_NOW)
    assert balance.select("balance", "credit", "currency").rows() == [
        (truth["balance"], truth["credit"], truth["currency"])
    ]
    # a second sync adds one more observation, and re-reads only the look-back's exports
    sim.clock.advance(3600)
    with inprocess_transport(sim) as transport:
        again = run_sync(settings, None, transport=transport, now=TEST_NOW + timedelta(hours=1))
    assert read_table(tmp_path / "d", "balance_history").height == 2
    assert again.rows["message_costs"] < got.height


class PendingCtrlC(httpx.BaseTransport):
    """A transport that interrupts the run (as Ctrl-C does: the client is cancelled and the
    run raises) on the first answer that says an export is still pending."""

    def __init__(self, inner: MovingTransport):
        self.inner = inner
        self.fired = threading.Event()
        self.pending_keys: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        path = request.url.path
        if request.method == "GET" and path.startswith("/api/stat/jobs/"):
            body = orjson.loads(response.read())
            if body.get("status") == "In progress" and not self.fired.is_set():
                self.fired.set()
                self.pending_keys.append(path.rsplit("/", 1)[1])
                raise KeyboardInterrupt
        return response

    def close(self) -> None:
        self.inner.close()


def test_an_export_left_pending_is_polled_again_not_made_again(tmp_path):
    """The quick sibling of the moving-clock test below (a frozen clock, in-process)."""
    sim = make_simulator(messages=1_000, seed=3, export_ready_seconds=0.3)
    settings = settings_for(tmp_path / "d", export_costs=True)
    transport = PendingCtrlC(MovingTransport(sim, step=0))
    with pytest.raises((KeyboardInterrupt, BSGError)):
        run_sync(settings, SINCE, transport=transport, now=TEST_NOW)
    transport.close()
    (key,) = transport.pending_keys
    saved = ExportKeys(DataDir(tmp_path / "d")).pending()
    (request,) = [e["request"] for e in saved.values() if e["key"] == key]
    with inprocess_transport(sim) as again:
        run_sync(settings, SINCE, transport=again, now=TEST_NOW)
    made = [j for j in sim.export_jobs.jobs.values() if j.request == request]
    assert [j.key for j in made] == [key] and made[0].deleted
    assert ExportKeys(DataDir(tmp_path / "d")).pending() == {}
    costs_equal_truth(tmp_path / "d", sim, TEST_NOW)


@pytest.mark.slow
def test_a_run_interrupted_while_an_export_is_pending_resumes_it_by_key(tmp_path):
    """On a moving clock (the simulator live, pushed on after each request): the first run
    is interrupted while an export is pending; its key is in the state; the next run polls
    that key (no second job for that window), deletes it, and the tables end equal to the
    truth after one more sync."""
    world = World(tmp_path, export_ready_seconds=0.6)
    world.settings = world.settings.model_copy(update={"export_costs": True})
    transport = PendingCtrlC(MovingTransport(world.sim))
    with pytest.raises((KeyboardInterrupt, BSGError)):
        run_sync(world.settings, REL_SINCE, transport=transport, now=world.now())
    transport.close()
    (key,) = transport.pending_keys
    saved = ExportKeys(world.dd).pending()
    (job_key,) = [k for k, e in saved.items() if e["key"] == key]
    request = saved[job_key]["request"]
    made_before = [j.key for j in world.sim.export_jobs.jobs.values() if j.request == request]
    assert made_before == [key]

    world.advance(2)
    world.sync(REL_SINCE)
    made = [j for j in world.sim.export_jobs.jobs.values() if j.request == request]
    assert [j.key for j in made] == [key], "the window's export was made again"
    assert made[0].deleted and made[0].rows is not None
    assert ExportKeys(world.dd).pending() == {}
    at = world.final_frozen_sync()
    costs_equal_truth(world.data_dir, world.sim, at, world.state().last_run.until)


def test_a_key_of_a_window_planned_again_is_let_go(tmp_path):
    sim = make_simulator(messages=1_000, seed=3)
    settings = settings_for(tmp_path / "d", export_costs=True)
    keys = ExportKeys(DataDir(tmp_path / "d"))
    stale = sim.stat_jobs_create(
        {
            "type": "params",
            "time_in_from": "2026-11-01 00:00:00",
            "time_in_to": "2026-11-02 00:00:00",
        }
    )["key"]
    keys.put("exports/20261101T000000Z..20261101T120000Z", stale, {"type": "params"})
    with inprocess_transport(sim) as transport:
        run_sync(settings, SINCE, transport=transport, now=TEST_NOW)
    assert keys.pending() == {}
    assert sim.export_jobs.jobs[stale].deleted


def test_an_account_without_the_export_still_syncs(tmp_path, caplog):
    sim = make_simulator(messages=1_000, seed=3)

    class NoExport(httpx.BaseTransport):
        def __init__(self):
            self.inner = inprocess_transport(sim)

        def handle_request(self, request):
            if request.url.path.startswith(("/api/stat/jobs", "/api/accounts/balance")):
                return httpx.Response(404, json={"message": "Not Found"})
            return self.inner.handle_request(request)

        def close(self):
            self.inner.close()

    transport = NoExport()
    try:
        settings = settings_for(tmp_path / "d", export_costs=True)
        report = run_sync(settings, SINCE, transport=transport, now=TEST_NOW)
    finally:
        transport.close()
    assert report.rows["messages"] == sim.ground_truth_messages(TEST_NOW).height
    assert read_table(tmp_path / "d", "message_costs").height == 0
    warned = [r.getMessage() for r in caplog.records if "not served" in r.getMessage()]
    assert len(warned) == 2 and any("/api/stat/jobs" in w for w in warned)


def test_export_costs_off_leaves_the_stream_out(tmp_path):
    sim = make_simulator(messages=1_000, seed=3)
    settings = settings_for(tmp_path / "d", export_costs=False)
    with inprocess_transport(sim) as transport:
        report = run_sync(settings, SINCE, transport=transport, now=TEST_NOW)
    assert sim.export_jobs.jobs == {}
    assert report.rows.get("message_costs", 0) == 0
    (archived,) = (tmp_path / "d" / "state" / "runs").glob("*.json")
    assert not [k for k in orjson.loads(archived.read_bytes())["done"] if k.startswith("exports")]


def test_saved_keys_that_hold_both_places_are_resumed_first(tmp_path):
    """An interrupted run left two pending exports, of the plan's last two windows: they hold
    the account's two places. The next run starts those two windows before any other job, and
    resuming takes no slot: both keys are polled and landed, not made again, and the other
    windows' exports wait for the places instead of wedging the sync."""
    sim = make_simulator(messages=1_000, seed=3, export_ready_seconds=0.5)
    settings = settings_for(tmp_path / "d", export_costs=True, export_timeout_seconds=20)
    dd = DataDir(tmp_path / "d")
    plan = plan_windows(settings, SyncState.load(dd), SINCE, None, TEST_NOW)
    last_two = [j for j in plan.jobs if j.stream == "exports"][-2:]
    keys = ExportKeys(dd)
    requests = []
    for job in last_two:
        request = export_request(job.window)
        keys.put(job.key, sim.stat_jobs_create(request)["key"], request)
        requests.append(request)
    saved = [e["key"] for e in keys.pending().values()]
    with inprocess_transport(sim) as transport:
        run_sync(settings, SINCE, transport=transport, now=TEST_NOW)
    assert keys.pending() == {}
    for request in requests:
        made = [j for j in sim.export_jobs.jobs.values() if j.request == request]
        assert [j.key for j in made] == [k for k in saved if sim.export_jobs.jobs[k] in made]
        assert len(made) == 1 and made[0].deleted and made[0].rows is not None
    costs_equal_truth(tmp_path / "d", sim, TEST_NOW)
