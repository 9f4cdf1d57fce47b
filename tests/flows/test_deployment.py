"""A real Prefect server on loopback: `bsg-analytics serve` deploys the flows, a run is
triggered like a user would, and it completes against the simulator."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from bsg_analytics.storage import DataDir
from bsg_analytics.transforms.writer import read_table
from bsg_simulator.testing import running_simulator

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}")


def test_serve_deploys_and_a_triggered_run_completes(tmp_path):
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
    }
    server = subprocess.Popen(
        [BIN / "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    procs = [server]
    try:

        def healthy():
            try:
                return httpx.get(f"{api}/health", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(healthy, 120, "the Prefect server")
        env["PREFECT_API_URL"] = api
        with running_simulator(messages=3_000, seed=4) as (url, sim):
            data = tmp_path / "data"
            serve_env = {
                **env,
                "BSG_API_URL": url,
                "BSG_REST_URL": url,
                "BSG_API_TOKEN": "tok-deploy-SECRET",
                # the environment names another directory: `-d` wins, in the run too
                "BSG_DATA_DIR": str(tmp_path / "other"),
            }
            serve = subprocess.Popen(
                [BIN / "bsg-analytics", "serve", "-d", str(data)],
                env=serve_env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            procs.append(serve)

            def deployed():
                r = httpx.post(f"{api}/deployments/filter", json={}, timeout=5)
                names = {d["name"] for d in r.json()} if r.status_code == 200 else set()
                return {"serve-hourly-sync", "serve-daily-reconcile"} <= names

            wait_for(deployed, 90, "the deployments")
            run = subprocess.run(
                [BIN / "prefect", "deployment", "run", "bsg-sync/serve-hourly-sync"],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert run.returncode == 0, run.stdout + run.stderr

            def finished():
                r = httpx.post(f"{api}/flow_runs/filter", json={}, timeout=5)
                states = [f["state"]["type"] for f in r.json() if f.get("state")]
                done = [s for s in states if s in ("COMPLETED", "FAILED", "CRASHED")]
                return done or None

            states = wait_for(finished, 180, "the flow run")
            assert states == ["COMPLETED"]
            # an incremental sync with no state starts 90 days back
            got = read_table(DataDir(data), "messages")
            assert got.height > 0
            assert not (tmp_path / "other").exists()
            assert got["message_id"].n_unique() == got.height
            truth = set(sim.ground_truth_messages()["message_id"].to_list())
            assert set(got["message_id"].to_list()) <= truth
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
