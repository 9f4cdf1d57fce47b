"""Faults: a backfill through every fault the simulator injects (429 with and without
Retry-After, 5xx with JSON and HTML bodies, slow answers and timeouts, dropped connections,
truncated JSON) gives the same tables as a fault-free run; past the retry budget it stops with
one clear line, and a re-run with a normal budget completes with nothing lost."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest

from bsg_analytics.flows.run import describe_failure
from bsg_analytics.pipeline import run_sync
from bsg_analytics.state import SyncState
from bsg_analytics.storage import DataDir
from bsg_client.errors import BSGAPIError, BSGRetryError
from bsg_simulator.config import FAULT_KINDS
from bsg_simulator.testing import TEST_NOW, make_simulator, running_simulator
from tests.reliability.rel_helpers import (
    API_KEY,
    FIGURES,
    SINCE,
    TOKEN,
    assert_same_tables,
    leaks_in_text,
    settings_for,
    snapshot,
)

MESSAGES, SEED = 3_000, 5


def sim_at(rate: float, **cfg):
    cfg.setdefault("slow_ms", 150)
    return make_simulator(
        messages=MESSAGES, seed=SEED, fault_rate=rate, token=TOKEN, api_key=API_KEY, **cfg
    )


def injected(sim) -> Counter:
    return Counter(kind for _key, _attempt, kind in sim.app.faults.log if kind)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The fault-free backfill: the tables every faulty run must reproduce."""
    from bsg_simulator.testing import inprocess_transport

    d = tmp_path_factory.mktemp("reference")
    sim = sim_at(0.0)
    transport = inprocess_transport(sim)
    try:
        run_sync(settings_for(d, page_limit=50), SINCE, transport=transport, now=TEST_NOW)
    finally:
        transport.close()
    tables = snapshot(d)
    assert tables["messages"].height == sim.ground_truth_messages(TEST_NOW).height
    return tables


@pytest.mark.parametrize(
    "rate",
    [0.0, 0.1, 0.3, pytest.param(0.5, marks=pytest.mark.slow)],  # 0.3: the quick one
)
def test_backfill_through_faults_gives_the_fault_free_tables(
    rate, tmp_path, transport_for, reference, record_property
):
    sim = sim_at(rate)
    settings = settings_for(tmp_path / "d", page_limit=50)
    report = run_sync(settings, SINCE, transport=transport_for(sim), now=TEST_NOW)
    assert_same_tables(snapshot(tmp_path / "d"), reference)
    assert report.quarantined == 0
    kinds = injected(sim)
    requests = len({key for key, _a, _k in sim.app.faults.log})
    FIGURES[f"faults: in-process {rate:.0%}"] = {"faults": sum(kinds.values()), **kinds}
    record_property("faults_injected", dict(kinds))
    print(f"fault rate {rate:.0%}: {sum(kinds.values())} faults over {requests} requests {kinds}")
    if rate >= 0.3:
        assert sum(kinds.values()) >= 30
    if rate >= 0.5:
        # every kind the simulator knows was thrown at the client at least once
        assert set(kinds) == set(FAULT_KINDS), set(FAULT_KINDS) - set(kinds)


@pytest.mark.slow  # (the default pass keeps a quicker sibling)
def test_over_real_sockets_timeouts_and_dropped_connections_are_survived(
    tmp_path, reference, record_property
):
    """Loopback server: `slow` answers outlast the client's timeout (a real httpx timeout),
    `drop` really closes the socket mid-body."""
    with running_simulator(
        realtime=False,
        messages=MESSAGES,
        seed=SEED,
        fault_rate=0.3,
        token=TOKEN,
        api_key=API_KEY,
        slow_ms=800,
    ) as (url, sim):
        settings = settings_for(
            tmp_path / "d", api_url=url, rest_url=url, page_limit=50, timeout_seconds=0.3
        )
        client_report = run_sync(settings, SINCE, now=TEST_NOW)
    assert_same_tables(snapshot(tmp_path / "d"), reference)
    kinds = injected(sim)
    FIGURES["faults: loopback 30%"] = {"faults": sum(kinds.values()), **kinds}
    record_property("faults_injected", dict(kinds))
    print(f"loopback 30%: {sum(kinds.values())} faults {kinds}; {client_report.as_dict()}")
    assert kinds["slow"] >= 1 and kinds["drop"] >= 1


@pytest.mark.slow  # (the default pass keeps a quicker sibling)
def test_past_the_retry_budget_a_clear_failure_then_a_rerun_loses_nothing(
    tmp_path, transport_for, reference
):
    sim = sim_at(0.5)
    d = tmp_path / "d"
    with pytest.raises(BSGRetryError) as info:
        run_sync(settings_for(d, page_limit=50, max_retries=1), SINCE,
                 transport=transport_for(sim), now=TEST_NOW)  # fmt: skip
    exc = info.value
    text = str(exc)
    assert "\n" not in text and "still failing after 2 attempts" in text
    assert exc.endpoint.startswith("GET /api/"), exc.endpoint
    assert not leaks_in_text(text + repr(exc))
    code, line = describe_failure(exc)
    assert code == 1 and "\n" not in line and line == text
    # the unfinished run is remembered; whatever was written is whole
    state = SyncState.load(DataDir(d))
    assert state.run is not None and state.watermark is None
    faults_first = sum(injected(sim).values())

    # a normal budget, the same faulty API: the run resumes and completes
    report = run_sync(settings_for(d, page_limit=50), SINCE, transport=transport_for(sim),
                      now=TEST_NOW)  # fmt: skip
    assert_same_tables(snapshot(d), reference)
    assert SyncState.load(DataDir(d)).run is None
    FIGURES["faults: 50%, max_retries=1, then re-run"] = {
        "faults": sum(injected(sim).values()),
        "first_run_faults": faults_first,
        "windows_skipped_on_rerun": report.windows_skipped,
    }


def test_a_non_retryable_answer_is_not_retried_and_names_the_endpoint(tmp_path):
    """A 404 on a list page is an answer, not a fault: one request, a BSGAPIError."""
    import httpx

    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return httpx.Response(404, json={"message": "Route not found."})

    with pytest.raises(BSGAPIError) as info:
        run_sync(settings_for(tmp_path / "d"), SINCE, until=SINCE + timedelta(days=5),
                 transport=httpx.MockTransport(handler), now=TEST_NOW)  # fmt: skip
    assert str(info.value).startswith("GET /api/messages: HTTP 404")
    assert "Route not found." in str(info.value)
    # one request per message window of the plan (two: the range crosses a grid boundary);
    # an export job beside them may have asked too (a 404 there: not served, no retry)
    assert set(seen) - {"/api/stat/jobs"} == {"/api/messages"}
    assert seen.count("/api/messages") <= 2 and seen.count("/api/stat/jobs") <= 2
