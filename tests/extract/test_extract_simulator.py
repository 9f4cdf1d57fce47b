"""The client and extract streams against the real simulator (bsg_simulator), in process
and over a loopback socket."""

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import httpx
import orjson
import polars as pl
import pytest

sim_testing = pytest.importorskip("bsg_simulator.testing")

from bsg_analytics.pipeline import extract_legacy  # noqa: E402
from bsg_analytics.raw import RawStore  # noqa: E402
from bsg_analytics.schemas.statuses import CAMPAIGN_LIST_TYPES  # noqa: E402
from bsg_analytics.streams.campaign_detail import extract_campaign_details  # noqa: E402
from bsg_analytics.streams.campaigns import extract_campaigns_window  # noqa: E402
from bsg_analytics.streams.messages import extract_messages_window  # noqa: E402
from bsg_client import BSGAPIError, BSGClient, split_windows  # noqa: E402

NOW = sim_testing.TEST_NOW
SEVEN_MONTHS_AGO = datetime(2026, 4, 20, 12, tzinfo=UTC)
TOKEN = "sim-SECRET-token"


def client_for(sim=None, base_url="http://bsg.test", **kw):
    transport = sim_testing.inprocess_transport(sim) if sim is not None else None
    opts = dict(
        api_url=base_url, rest_url=base_url, api_token=TOKEN, rest_api_key="test_SECRETkey",
        page_limit=100, concurrency=8, max_retries=10, transport=transport,
    )  # fmt: skip
    opts.update(kw)
    return BSGClient(**opts), transport


def backfill(client, store, run_id, parallel_windows=4, parallel_pages=1):
    windows = split_windows(SEVEN_MONTHS_AGO, None, 7, "UTC", NOW)
    with ThreadPoolExecutor(parallel_windows) as ex:
        results = list(
            ex.map(
                lambda w: extract_messages_window(
                    client, store, w, run_id, parallel=parallel_pages
                ),
                windows,
            )
        )
    return windows, results


def landed_ids(store, run_id):
    return {
        m["id"]
        for p in store.iter_pages(["messages"], run_id=run_id)
        for m in orjson.loads(p.body)["data"]
    }


def truth_ids(sim, until=None):
    """Ids the simulator holds, up to `until` (a window's end) when given: the client pins
    the end of its last window a little in the past."""
    truth = sim.ground_truth_messages()
    if until is not None:
        truth = truth.filter(truth["created_at"] < until)
    return set(truth["message_id"].to_list())


def test_seven_month_backfill_lands_every_message(data_dir):
    sim = sim_testing.make_simulator(messages=5_000, token=TOKEN)
    client, transport = client_for(sim)
    store = RawStore(data_dir)
    try:
        with client:
            windows, results = backfill(client, store, "r1")
    finally:
        transport.close()
    assert len(windows) >= 30
    truth = truth_ids(sim)
    assert sum(r.distinct_ids for r in results) == len(truth)
    assert landed_ids(store, "r1") == truth
    assert all(r.complete and r.duplicates == 0 for r in results)


def test_faults_give_the_same_ids_as_none(data_dir):
    sim = sim_testing.make_simulator(messages=3_000, fault_rate=0.2, seed=11, slow_ms=50)
    client, transport = client_for(sim)
    store = RawStore(data_dir)
    try:
        with client:
            _, results = backfill(client, store, "faulty", parallel_pages=2)
    finally:
        transport.close()
    clean = sim_testing.make_simulator(messages=3_000, seed=11)
    assert landed_ids(store, "faulty") == truth_ids(clean) == truth_ids(sim)
    assert all(r.complete for r in results)
    assert sum(client.stats.retries.values()) > 10
    injected = {kind for _key, _attempt, kind in sim.app.faults.log if kind}
    expected = {"429", "connection"}
    if "truncated" in injected:  # which kinds a run draws depends on its requests
        expected.add("bad body")
    assert set(client.stats.retries) >= expected


def test_login_and_token_expiry_against_simulator(data_dir):
    sim = sim_testing.make_simulator(messages=2_000, token_ttl_requests=7)
    client, transport = client_for(sim, api_token=None, api_login_key="live_SECRET_login")
    store = RawStore(data_dir)
    try:
        with client:
            _, _results = backfill(client, store, "r", parallel_windows=2)
    finally:
        transport.close()
    assert client.stats.logins >= 1 and client.stats.renewals >= 1
    assert landed_ids(store, "r") == truth_ids(sim)


def test_campaigns_details_and_legacy_against_simulator(data_dir):
    sim = sim_testing.make_simulator(messages=3_000)
    client, transport = client_for(sim)
    store = RawStore(data_dir)
    truth = sim.ground_truth_campaigns()
    try:
        with client:
            statuses = {}
            for w in split_windows(SEVEN_MONTHS_AGO, None, 92, "UTC", NOW):
                for kind in CAMPAIGN_LIST_TYPES:
                    statuses |= extract_campaigns_window(
                        client, store, w, kind, "r"
                    ).campaign_statuses
            details = extract_campaign_details(client, store, statuses, "r")
            msgs = (
                sim.ground_truth_messages()
                .filter(channel="sms")
                .filter(pl.col("reference_id").is_not_null())
                .head(3)
            )
            tasks = sim.ground_truth_legacy_tasks()["task_id"].head(3).to_list()
            legacy = extract_legacy(
                client, store, "r",
                sms_ids=[*msgs["message_id"].to_list(), 1],
                references=msgs["reference_id"].to_list(),
                task_ids=[*tasks, 999],
            )  # fmt: skip
    finally:
        transport.close()
    # the lists show every campaign of a listable type (Viber and HLR come from messages)
    assert set(statuses) == set(truth.filter("listable")["campaign_id"].to_list())
    assert details.statuses == statuses and not details.not_found
    assert legacy.landed["legacy_sms"] == 6 and legacy.landed["legacy_task"] == 3
    assert legacy.not_found == [("sms", "1"), ("task", "999")]
    # the published task path answered: the seed's shape was never needed
    assert all(g.seq == 0 for g in store.iter_pages(["legacy_task"]))


def test_refuses_future_window_with_clear_message():
    sim = sim_testing.make_simulator(messages=100)
    client, transport = client_for(sim)
    try:
        with client, pytest.raises(BSGAPIError) as err:
            client.get_list_page(
                "/api/messages",
                {"filter[from]": "2026-11-20 00:00:00", "filter[to]": "2030-01-01 00:00:00"},
            )
    finally:
        transport.close()
    assert err.value.status_code == 422
    assert "GET /api/messages" in str(err.value) and "before or equal to now" in str(err.value)
    assert TOKEN not in str(err.value)


def test_over_a_real_loopback_socket(data_dir):
    with sim_testing.running_simulator(
        realtime=False, messages=3_000, fault_rate=0.1, seed=5, slow_ms=50
    ) as (
        base_url,
        sim,
    ):
        assert httpx.URL(base_url).host in ("127.0.0.1", "localhost")
        client, _ = client_for(None, base_url=base_url)
        store = RawStore(data_dir)
        with client:
            _, _results = backfill(client, store, "sock", parallel_pages=2)
        assert landed_ids(store, "sock") == truth_ids(sim)


@pytest.mark.slow
def test_throughput_pages_per_second(data_dir):
    """Measures pages/s at 0 ms latency, in process and over loopback (printed)."""
    sim = sim_testing.make_simulator(messages=50_000)
    client, transport = client_for(sim, page_limit=500)
    store = RawStore(data_dir)
    try:
        with client:
            t0 = time.perf_counter()
            _, results = backfill(client, store, "perf", parallel_windows=8)
            dt = time.perf_counter() - t0
    finally:
        transport.close()
    pages = sum(r.pages for r in results)
    print(f"\nin-process: {pages} pages, {sum(r.records for r in results)} records in "
          f"{dt:.2f}s = {pages / dt:.1f} pages/s")  # fmt: skip
    with sim_testing.running_simulator(realtime=False, messages=50_000) as (base_url, sim2):
        client, _ = client_for(None, base_url=base_url, page_limit=500)
        with client:
            t0 = time.perf_counter()
            windows, results = backfill(client, RawStore(data_dir), "perf2", parallel_windows=8)
            dt = time.perf_counter() - t0
        pages = sum(r.pages for r in results)
        print(f"loopback: {pages} pages in {dt:.2f}s = {pages / dt:.1f} pages/s")
        assert landed_ids(RawStore(data_dir), "perf2") == truth_ids(sim2, windows[-1].end)
