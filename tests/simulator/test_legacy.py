"""Legacy REST: SMS by id and reference, tasks on both paths, the error codes."""

from __future__ import annotations

import polars as pl
import pytest

from bsg_simulator import LEGACY_ERRORS, MESSAGE_ID_BASE, TASK_ID_OFFSET
from bsg_simulator.testing import make_simulator

from .conftest import KEY, client_for


def test_all_seventeen_codes():
    assert sorted(LEGACY_ERRORS) == list(range(20, 37))


def test_sms_by_id_and_reference(client, sim):
    gt = sim.ground_truth_legacy_sms()
    row = gt.row(len(gt) // 2, named=True)
    r = client.get(f"/rest/sms/{row['message_id']}", headers=KEY)
    assert r.status_code == 200
    body = r.json()
    assert body["error"] == 0 and body["errorDescription"] == "No errors"
    assert int(body["id"]) == row["message_id"] and str(body["msisdn"]) == row["msisdn"]
    assert body["status"] == row["status"] and body["reference"] == row["reference"]
    assert isinstance(body["price"], float) and body["currency"] == row["currency"]
    assert body["time_in"] == row["time_in"].strftime("%Y-%m-%d %H:%M:%S")
    by_ref = client.get(f"/rest/sms/reference/{row['reference']}", headers=KEY).json()
    assert by_ref == body


def test_task_both_paths(client, sim):
    tasks = sim.ground_truth_legacy_tasks()
    t = tasks.row(0, named=True)
    a = client.get(f"/rest/sms/{t['task_id']}", headers=KEY).json()
    b = client.get(f"/rest/sms/task/{t['task_id']}", headers=KEY).json()
    assert a == b
    assert set(a) == {
        "originator",
        "body",
        "validity",
        "totalprice",
        "currency",
        "sent",
        "delivered",
        "expired",
        "undeliverable",
        "unknown",
    }
    assert a["originator"] == t["originator"] and a["sent"] == t["sent"]
    assert round(a["totalprice"], 7) == float(t["total_price"])


def _code(body) -> int:
    return int(body["error"])


@pytest.mark.parametrize(
    "path,status,code",
    [
        ("/rest/sms/99", 404, 20),  # unknown id
        (f"/rest/sms/{MESSAGE_ID_BASE + 10_000_000}", 404, 20),
        ("/rest/sms/abc", 400, 24),  # non-numeric id
        ("/rest/sms/task/abc", 400, 29),  # non-numeric task id
        ("/rest/sms/task/12", 404, 30),  # unknown task
        (f"/rest/sms/{TASK_ID_OFFSET + 999_999}", 404, 30),
        ("/rest/sms/reference/bad-ref!", 400, 27),  # bad reference format
        ("/rest/sms/reference/" + "a" * 33, 400, 27),
        ("/rest/sms/reference/ext0000000000001", 404, 20),  # well-formed, unknown
    ],
)
def test_errors(client, path, status, code):
    r = client.get(path, headers=KEY)
    assert r.status_code == status
    body = r.json()
    assert _code(body) == code and body["errorDescription"] == LEGACY_ERRORS[code]


def test_rcs_message_and_rcs_campaign_not_legacy(client, sim):
    gt = sim.ground_truth_messages()
    rcs = gt.filter(pl.col("channel") == "rcs").row(0, named=True)
    assert _code(client.get(f"/rest/sms/{rcs['message_id']}", headers=KEY).json()) == 20
    camp = sim.ground_truth_campaigns().filter(pl.col("channel") == "rcs").row(0, named=True)
    r = client.get(f"/rest/sms/task/{camp['campaign_id'] + TASK_ID_OFFSET}", headers=KEY)
    assert _code(r.json()) == 30


@pytest.mark.parametrize("variant,typ", [("string", str), ("number", int)])
def test_error_code_type(variant, typ):
    sim = make_simulator(messages=300, quirks=[f"legacy_error_type={variant}"])
    with client_for(sim) as c:
        for path in ("/rest/sms/1", "/rest/sms/task/x", "/rest/sms/reference/%2A"):
            assert type(c.get(path, headers=KEY).json()["error"]) is typ
