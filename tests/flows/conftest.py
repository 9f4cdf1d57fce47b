"""One Prefect test server for the whole session, only for the few tests that run flows."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def prefect_server():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def loopback_simulator():
    from bsg_simulator.testing import running_simulator

    with running_simulator(messages=4_000, seed=3) as (base_url, sim):
        yield base_url, sim


@pytest.fixture
def flow_env(monkeypatch, loopback_simulator, tmp_path):
    """Settings for flows come from the environment, as on a worker."""
    base_url, sim = loopback_simulator
    monkeypatch.setenv("BSG_API_URL", base_url)
    monkeypatch.setenv("BSG_REST_URL", base_url)
    monkeypatch.setenv("BSG_API_TOKEN", "tok-flow-SECRET-1")
    monkeypatch.setenv("BSG_API_KEY", "test_flow_SECRET_2")
    monkeypatch.setenv("BSG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("BSG_WINDOW_DAYS", "31")
    return sim, tmp_path / "data"
