"""The id ranges, the serving speed, the servers. (Every answer is validated against
schemas/openapi.yaml in tests/contract/test_openapi_simulator.py.)"""

from __future__ import annotations

import re
import time

import httpx
import pytest

from bsg_simulator import MESSAGE_ID_BASE, TASK_ID_OFFSET
from bsg_simulator.server import main, run_in_thread
from bsg_simulator.testing import make_simulator, running_simulator

from .conftest import BEARER, client_for


def test_id_ranges_disjoint(sim):
    assert sim.task_ids().max() < MESSAGE_ID_BASE and sim.task_ids().min() > TASK_ID_OFFSET


def test_page_of_500_from_200k_is_fast():
    t = time.perf_counter()
    sim = make_simulator(messages=200_000)
    startup = time.perf_counter() - t
    q = {
        "page[limit]": 500,
        "filter[from]": "2026-09-01 00:00:00",
        "filter[to]": "2026-11-20 00:00:00",
    }
    with client_for(sim) as c:
        c.get("/api/messages", params=q, headers=BEARER)
        times = []
        for off in (0, 20_000, 60_000):
            t = time.perf_counter()
            r = c.get("/api/messages", params={**q, "page[offset]": off}, headers=BEARER)
            times.append(time.perf_counter() - t)
            assert r.status_code == 200 and len(r.json()["data"]) == 500
        t = time.perf_counter()
        r = c.get(
            "/api/messages",
            params={**q, "sort": "delivered", "page[offset]": 30_000},
            headers=BEARER,
        )
        sorted_t = time.perf_counter() - t
    assert startup < 10
    assert min(times) < 0.05 and sorted_t < 0.2, (times, sorted_t)


def test_running_simulator_over_loopback():
    with running_simulator(messages=1_000) as (url, _sim):
        assert re.match(r"^http://127\.0\.0\.1:\d+$", url)
        with httpx.Client(base_url=url) as c:
            r = c.get("/api/messages", params={"page[limit]": 15}, headers=BEARER)
            assert r.status_code == 200 and len(r.json()["data"]) == 15
            assert c.get("/api/messages").status_code == 401


def test_run_in_thread_refuses_public_host():
    with pytest.raises(ValueError), run_in_thread(make_simulator(messages=100), host="0.0.0.0"):
        pass


def test_main_refuses_public_host_and_lists_quirks(capsys):
    assert main(host="0.0.0.0", port=0, messages=100) == 2
    assert "loopback" in capsys.readouterr().err
    assert main(quirks=["list"]) == 0
    assert "amount_field" in capsys.readouterr().out
    assert main(port=0, messages=100, quirks=["bogus=1"]) == 2
