"""OpenAPI coverage and validation, the serving speed, the servers."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import jsonschema
import pytest
import yaml

from bsg_simulator import MESSAGE_ID_BASE, TASK_ID_OFFSET
from bsg_simulator.server import main, run_in_thread
from bsg_simulator.testing import make_simulator, running_simulator

from .conftest import BEARER, KEY, WINDOW, client_for

SPEC_PATH = Path(__file__).resolve().parents[2] / "schemas" / "openapi.yaml"


@pytest.fixture(scope="module")
def spec():
    return yaml.safe_load(SPEC_PATH.read_text())


def _validator(spec, path: str, method: str, status: int):
    resp = spec["paths"][path][method]["responses"][str(status)]
    if "$ref" in resp:
        resp = spec["components"]["responses"][resp["$ref"].rsplit("/", 1)[1]]
    schema = resp["content"]["application/json"]["schema"]
    full = {**schema, "components": spec["components"]}
    return jsonschema.Draft202012Validator(full)


def test_every_route_is_described(sim, spec):
    for route in sim.app.routes:
        assert route.path in spec["paths"], route.path
        for m in route.methods - {"HEAD"}:
            assert m.lower() in spec["paths"][route.path], (route.path, m)
    assert spec["openapi"].startswith("3.1")


@pytest.mark.parametrize("variant", ["A", "B", "mixed"])
def test_responses_validate(spec, variant):
    sim = make_simulator(messages=2_000, quirks=[f"all={variant}"])
    gt_sms = sim.ground_truth_legacy_sms()["message_id"].to_list()
    task = sim.ground_truth_legacy_tasks()["task_id"][0]
    camp = sim.ground_truth_campaigns()["campaign_id"].to_list()
    with client_for(sim) as c:
        cases = [
            (
                "/api/messages",
                "get",
                c.get("/api/messages", params={"page[limit]": 500, **WINDOW}, headers=BEARER),
            ),
            (
                "/api/messages",
                "get",
                c.get("/api/messages", params={"page[limit]": 9}, headers=BEARER),
            ),
            ("/api/messages", "get", c.get("/api/messages")),
            (
                "/api/campaign",
                "get",
                c.get("/api/campaign", params={"filter[type]": "rcs"}, headers=BEARER),
            ),
            ("/api/campaigns", "get", c.get("/api/campaigns", headers=BEARER)),
            ("/api/auth/login", "post", c.post("/api/auth/login", json={"api_key": "test_a"})),
            ("/api/auth/refresh", "post", c.post("/api/auth/refresh", headers=BEARER)),
            ("/rest/sms/{id}", "get", c.get(f"/rest/sms/{task}", headers=KEY)),
            ("/rest/sms/{id}", "get", c.get("/rest/sms/12", headers=KEY)),
            ("/rest/sms/{id}", "get", c.get("/rest/sms/x", headers=KEY)),
            ("/rest/sms/task/{task_id}", "get", c.get(f"/rest/sms/task/{task}", headers=KEY)),
            ("/rest/sms/task/{task_id}", "get", c.get("/rest/sms/task/5", headers=KEY)),
            (
                "/rest/sms/reference/{reference}",
                "get",
                c.get("/rest/sms/reference/a-b", headers=KEY),
            ),
        ]
        for mid in gt_sms[::50][:20]:
            cases.append(("/rest/sms/{id}", "get", c.get(f"/rest/sms/{mid}", headers=KEY)))
        for cid in camp[::3]:
            cases.append(
                (
                    "/api/campaigns/{id}/detail",
                    "get",
                    c.get(f"/api/campaigns/{cid}/detail", headers=BEARER),
                )
            )
        cases.append(
            ("/api/campaigns/{id}/detail", "get", c.get("/api/campaigns/1/detail", headers=BEARER))
        )
    for path, method, r in cases:
        _validator(spec, path, method, r.status_code).validate(r.json())


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
