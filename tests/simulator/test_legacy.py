"""Legacy REST: SMS by id and reference, getStatus, tasks, Viber, the error codes (always
HTTP 200), a refused key (error 2 everywhere)."""

from __future__ import annotations

import polars as pl
import pytest

from bsg_analytics.schemas.statuses import LEGACY_SMS_STATUSES, LEGACY_VIBER_STATUSES
from bsg_simulator import LEGACY_ERRORS, MESSAGE_ID_BASE, TASK_ID_OFFSET
from bsg_simulator.testing import make_simulator

from .conftest import KEY, client_for

SMS_KEYS = ["error", "errorDescription", "id", "msisdn", "reference", "time_in", "time_sent",
            "time_dr", "status", "price", "currency"]  # fmt: skip
TASK_KEYS = ["error", "errorDescription", "originator", "body", "validity", "totalprice",
             "currency", "sent", "total", "queued", "accepted", "enroute", "delivered",
             "expired", "undeliverable", "unknown"]  # fmt: skip


def test_the_codes():
    assert sorted(LEGACY_ERRORS) == [2, 4, *range(20, 37), 40]
    assert (LEGACY_ERRORS[2], LEGACY_ERRORS[40]) == ("Invalid API key", "Message not found")


def test_sms_by_id_and_reference(client, sim):
    gt = sim.ground_truth_legacy_sms().filter(pl.col("reference").is_not_null())
    row = gt.row(len(gt) // 2, named=True)
    r = client.get(f"/rest/sms/{row['message_id']}", headers=KEY)
    assert r.status_code == 200
    body = r.json()
    assert list(body) == SMS_KEYS
    assert body["error"] == 0 and body["errorDescription"] == "No errors"
    assert body["id"] == str(row["message_id"]) and body["msisdn"] == row["msisdn"]
    assert body["status"] == row["status"] and body["reference"] == row["reference"]
    assert body["status"] in LEGACY_SMS_STATUSES
    assert isinstance(body["price"], float) and body["currency"] == row["currency"]
    assert body["time_in"] == row["time_in"].strftime("%Y-%m-%d %H:%M:%S")
    by_ref = client.get(f"/rest/sms/reference/{row['reference']}", headers=KEY).json()
    assert by_ref == body


def test_a_web_message_has_no_reference(client, sim):
    from bsg_simulator.common import reference_of

    row = sim.ground_truth_legacy_sms().filter(pl.col("reference").is_null()).row(0, named=True)
    body = client.get(f"/rest/sms/{row['message_id']}", headers=KEY).json()
    assert "reference" not in body and body["error"] == 0
    ref = reference_of(row["message_id"])
    assert client.get(f"/rest/sms/reference/{ref}", headers=KEY).json()["error"] == 20


def test_statuses_seen(client, sim):
    later = sim.ground_truth_legacy_sms()
    assert set(later["status"]) >= {"delivered", "rejected", "expired", "failed", "unknown"}
    assert set(later["status"]) <= set(LEGACY_SMS_STATUSES)


def test_task_on_the_published_path_only_by_default(client, sim):
    tasks = sim.ground_truth_legacy_tasks()
    t = tasks.row(0, named=True)
    b = client.get(f"/rest/sms/task/{t['task_id']}", headers=KEY).json()
    assert list(b) == TASK_KEYS
    assert (b["error"], b["errorDescription"]) == (0, "No errors")
    assert b["originator"] == t["originator"] and b["sent"] == t["sent"]
    assert b["total"] == b["queued"] + b["sent"]
    assert b["accepted"] == b["delivered"] + b["enroute"]
    assert b["total"] == (b["queued"] + b["enroute"] + b["delivered"] + b["expired"]
                          + b["undeliverable"] + b["unknown"])  # fmt: skip
    assert round(b["totalprice"], 7) == float(t["total_price"])
    plain = client.get(f"/rest/sms/{t['task_id']}", headers=KEY).json()
    assert plain == {"error": 20, "errorDescription": "SMS not found"}


def test_task_on_the_pages_path_too():
    sim = make_simulator(messages=2_000, quirks=["legacy_task_path=plain"])
    task = int(sim.task_ids()[0])
    with client_for(sim) as c:
        a = c.get(f"/rest/sms/{task}", headers=KEY).json()
        b = c.get(f"/rest/sms/task/{task}", headers=KEY).json()
    assert a == b and a["error"] == 0 and "originator" in a


def test_get_status_batches(client, sim):
    sms = sim.ground_truth_legacy_sms()
    ids = sms["message_id"].to_list()
    rcs = sim.ground_truth_messages().filter(pl.col("channel") == "rcs")["message_id"][0]
    asked = [ids[5], 999_999_999_999, ids[2], rcs, ids[5], 1]
    r = client.post("/rest/sms/getStatus", json={"ids": asked}, headers=KEY)
    assert r.status_code == 200
    result = r.json()["result"]
    assert set(r.json()) == {"result"}
    # one item per distinct id found, in the order asked; the others are left out
    assert [int(x["id"]) for x in result] == [ids[5], ids[2]]
    by_id = {row["message_id"]: row for row in sms.iter_rows(named=True)}
    for item in result:
        row = by_id[int(item["id"])]
        assert next(iter(item)) == "id" and item["msisdn"] == row["msisdn"]
        assert item.get("external_id") == row["reference"]
        assert set(item) - {"external_id"} == {"id", "msisdn", "time_sent", "time_dr", "status",
                                               "price", "currency"}  # fmt: skip
        assert item["status"] == row["status"] and item["currency"] == row["currency"]
        one = client.get(f"/rest/sms/{item['id']}", headers=KEY).json()
        assert (one["time_sent"], one["time_dr"], one["price"]) == (
            item["time_sent"], item["time_dr"], item["price"]
        )  # fmt: skip
    full = client.post("/rest/sms/getStatus", json={"ids": ids[:100]}, headers=KEY).json()
    assert [int(x["id"]) for x in full["result"]] == ids[:100]
    none = client.post("/rest/sms/getStatus", json={"ids": [7]}, headers=KEY).json()
    assert none == {"result": []}


@pytest.mark.parametrize(
    "payload",
    [{"ids": []}, {"ids": list(range(MESSAGE_ID_BASE, MESSAGE_ID_BASE + 101))}, {"ids": [0]},
     {"ids": [-3]}, {"ids": ["123"]}, {"ids": [1.5]}, {"ids": [True]}, {"ids": 5}, {}, [1, 2],
     "x"],
)  # fmt: skip
def test_get_status_refuses_a_bad_payload(client, payload):
    r = client.post("/rest/sms/getStatus", json=payload, headers=KEY)
    assert r.status_code == 200
    assert r.json() == {"error": 24, "errorDescription": "Invalid query payload"}


def test_get_status_refuses_a_body_that_is_not_json(client):
    r = client.post("/rest/sms/getStatus", content=b"{nope", headers=KEY)
    assert r.json()["error"] == 24


def test_viber_by_id_and_reference(client, sim):
    v = sim.ground_truth_legacy_viber()
    with_alt = v.filter(pl.col("alt_message_id").is_not_null() & pl.col("reference").is_not_null())
    row = with_alt.row(0, named=True)
    b = client.get(f"/rest/viber/{row['message_id']}", headers=KEY).json()
    assert list(b) == [*SMS_KEYS, "alt_route", "alt_route_messages"]
    assert b["status"] in LEGACY_VIBER_STATUSES
    assert b["alt_route"][0]["channel"] == "sms"
    assert client.get(f"/rest/viber/reference/{row['reference']}", headers=KEY).json() == b
    plain = v.filter(pl.col("alt_message_id").is_null()).row(0, named=True)
    b = client.get(f"/rest/viber/{plain['message_id']}", headers=KEY).json()
    assert "alt_route" not in b and b["error"] == 0


@pytest.mark.parametrize(
    "path,code",
    [
        ("/rest/sms/99", 20),  # unknown id
        (f"/rest/sms/{MESSAGE_ID_BASE + 10_000_000}", 20),
        ("/rest/sms/abc", 24),  # non-numeric id
        ("/rest/sms/task/abc", 29),  # non-numeric task id
        ("/rest/sms/task/12", 30),  # unknown task
        (f"/rest/sms/task/{TASK_ID_OFFSET + 999_999}", 30),
        ("/rest/sms/reference/bad-ref!", 27),  # bad reference format
        ("/rest/sms/reference/" + "a" * 33, 27),
        ("/rest/sms/reference/ext0000000000001", 20),  # well-formed, unknown
        ("/rest/viber/99", 40),
        ("/rest/viber/abc", 40),
        ("/rest/viber/reference/nothing1", 40),
    ],
)
def test_errors_are_http_200(client, path, code):
    r = client.get(path, headers=KEY)
    assert r.status_code == 200
    assert r.json() == {"error": code, "errorDescription": LEGACY_ERRORS[code]}


def test_other_channels_are_not_legacy_sms_or_viber(client, sim):
    gt = sim.ground_truth_messages()
    for ch in ("rcs", "whatsapp", "hlr", "viber"):
        mid = gt.filter(pl.col("channel") == ch)["message_id"][0]
        assert client.get(f"/rest/sms/{mid}", headers=KEY).json()["error"] == 20
    for ch in ("rcs", "whatsapp", "hlr", "sms"):
        mid = gt.filter(pl.col("channel") == ch)["message_id"][0]
        assert client.get(f"/rest/viber/{mid}", headers=KEY).json()["error"] == 40
    camp = sim.ground_truth_campaigns().filter(pl.col("channel") != "sms")
    for cid in camp["campaign_id"].to_list():
        r = client.get(f"/rest/sms/task/{cid + TASK_ID_OFFSET}", headers=KEY)
        assert r.json()["error"] == 30


@pytest.mark.parametrize("variant,typ", [("number", int), ("string", str)])
def test_error_code_type(variant, typ):
    sim = make_simulator(messages=300, quirks=[f"legacy_error_type={variant}"])
    with client_for(sim) as c:
        for path in ("/rest/sms/1", "/rest/sms/task/x", "/rest/sms/reference/%2A",
                     "/rest/viber/1"):  # fmt: skip
            assert type(c.get(path, headers=KEY).json()["error"]) is typ
        bad = c.get("/rest/sms/1", headers={"X-API-KEY": "nope"}).json()["error"]
        assert type(bad) is typ


def _every_endpoint(c, sim, headers):
    sms = int(sim.ground_truth_legacy_sms()["message_id"][0])
    task = int(sim.task_ids()[0])
    viber = int(sim.ground_truth_legacy_viber()["message_id"][0])
    return [
        c.get(f"/rest/sms/{sms}", headers=headers),
        c.get("/rest/sms/reference/ext0000000000001", headers=headers),
        c.get(f"/rest/sms/task/{task}", headers=headers),
        c.post("/rest/sms/getStatus", json={"ids": [sms]}, headers=headers),
        c.get(f"/rest/viber/{viber}", headers=headers),
        c.get("/rest/viber/reference/ext0000000000001", headers=headers),
    ]


def test_a_refused_key_is_error_2_on_every_endpoint():
    sim = make_simulator(messages=2_000, api_key="live_k")
    with client_for(sim) as c:
        for headers in ({}, {"X-API-KEY": "nope"}, {"X-API-KEY": "test_k"}):
            for r in _every_endpoint(c, sim, headers):
                assert r.status_code == 200
                assert r.json() == {"error": 2, "errorDescription": "Invalid API key"}
        ok = _every_endpoint(c, sim, {"X-API-KEY": "live_k"})
        assert [r.json().get("error", 0) for r in ok] == [0, 20, 0, 0, 0, 40]
    with client_for(make_simulator(messages=300)) as c:  # no key configured: test_/live_ ones
        assert c.get("/rest/sms/1", headers={"X-API-KEY": "nope"}).json()["error"] == 2
        assert c.get("/rest/sms/1", headers={"X-API-KEY": "test_x"}).json()["error"] == 20
