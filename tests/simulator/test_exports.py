"""The statistics export jobs (`/api/stat/jobs`) and the balance (`/api/accounts/balance`):
exact requests and answers through the ASGI app, on a wall clock of the test's own (the job's
readiness and expiry), against the ground truth (`ground_truth_message_costs`,
`ground_truth_balance`)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import orjson
import pytest

from bsg_analytics.schemas.statuses import EXPORT_STATUS_MAP, MESSAGE_TO_EXPORT_STATUS
from bsg_simulator import data as D
from bsg_simulator.testing import TEST_NOW, make_simulator

from .conftest import BEARER, all_pages, amount_of, client_for, sent_at_of

JOBS = "/api/stat/jobs"
FMT = "%Y-%m-%d %H:%M:%S"
KEY_RE = re.compile(r"^[0-9a-f]{18}$")
# the last 3 months of the fixed test data, and a short window inside them
QUARTER = {"type": "params", "time_in_from": "2026-08-20 12:00:00",
           "time_in_to": "2026-11-20 12:00:00"}  # fmt: skip
NOVEMBER = {"type": "params", "time_in_from": "2026-11-01 00:00:00",
            "time_in_to": "2026-11-20 12:00:00"}  # fmt: skip
PENDING = {"error": 0, "status": "In progress"}
NOT_FOUND = {"error": 90, "errorDescription": "File not found"}
MAX_REACHED = {"error": 0, "errorDescription": "Maximum count of exports reached"}


class Wall:
    """A wall clock the test moves (the jobs' readiness and expiry)."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _sim(**cfg: Any):
    cfg.setdefault("export_ready_seconds", 1.0)
    sim = make_simulator(**cfg)
    sim.export_jobs.wall = Wall()
    return sim


@pytest.fixture
def jsim():
    """A fresh simulator (its own jobs) on a test wall clock."""
    return _sim()


@pytest.fixture
def jclient(jsim):
    with client_for(jsim) as c:
        yield c


def create(c, body: Any) -> dict[str, Any]:
    r = c.post(JOBS, json=body, headers=BEARER)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def show(c, key: str) -> dict[str, Any]:
    r = c.get(f"{JOBS}/{key}", headers=BEARER)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def ready(sim) -> None:
    sim.export_jobs.wall.t += sim.config.export_ready_seconds


def _utc(text: str | None, zone: ZoneInfo) -> datetime | None:
    if text is None:
        return None
    return datetime.strptime(text, FMT).replace(tzinfo=zone).astimezone(UTC)


def rows_as_costs(rows: list[dict[str, Any]], tz: str = "UTC") -> list[dict[str, Any]]:
    """Export rows as `message_costs` rows (what the product's transform should make)."""
    zone = ZoneInfo(tz)
    out = []
    for r in rows:
        time_in = _utc(r["time_in"], zone)
        assert time_in is not None
        out.append(
            {
                "message_id": int(r["message_id"]),
                "channel": r["message_type"],
                "country_name": r["country_name"],
                "operator": r["brand"],
                "mcc": r["mcc"],
                "mnc": r["mnc"],
                "originator": r["originator"],
                "price": None if r["price"] is None else Decimal(r["price"]),
                "currency": r["currency"],
                "time_in": time_in,
                "time_sent": _utc(r["time_sent"], zone),
                "time_dlr": _utc(r["time_dlr"], zone),
                "status": EXPORT_STATUS_MAP[r["status"]],
                "export_status": r["status"],
                "sl_clicks": r["sl_clicks"],
                "created_date": time_in.date(),
            }
        )
    return out


def truth_rows(sim, now: int, lo: datetime, hi: datetime) -> list[dict[str, Any]]:
    gt = sim.ground_truth_message_costs(now)
    return [r for r in gt.iter_rows(named=True) if lo <= r["time_in"] <= hi]


# ---------------------------------------------------------------------- the life of a job
def test_pending_then_ready_then_the_same_rows(jsim, jclient):
    created = create(jclient, NOVEMBER)
    assert set(created) == {"error", "key"} and created["error"] == 0
    key = created["key"]
    assert KEY_RE.match(key)
    assert show(jclient, key) == PENDING
    jsim.export_jobs.wall.t += jsim.config.export_ready_seconds - 0.001
    assert show(jclient, key) == PENDING
    jsim.export_jobs.wall.t += 0.001
    done = show(jclient, key)
    assert list(done) == ["error", "status", "result"]
    assert (done["error"], done["status"]) == (0, "Done")
    job = jsim.export_jobs.jobs[key]
    assert job.as_of == jsim.clock.now_s() and job.rows == len(done["result"]) == 1463
    lo, hi = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 20, 12, tzinfo=UTC)
    assert rows_as_costs(done["result"]) == truth_rows(jsim, job.as_of, lo, hi)
    # the rows were taken at the first read: a later read, the clock moved on, is the same
    jsim.clock.advance(3 * 86400)
    assert show(jclient, key) == done


def test_a_row_is_the_providers_fields_in_its_order(jsim, jclient):
    """A delivered Viber message of a campaign whose text carries a short link."""
    key = create(jclient, {"type": "message", "message_id": [100_000_495]})["key"]
    ready(jsim)
    assert show(jclient, key)["result"] == [
        {
            "message_id": "100000495",
            "message_type": "viber",
            "msisdn": "380269357172",
            "country_name": "Ukraine",
            "brand": "Kyivstar",
            "mcc": "255",
            "mnc": "03",
            "originator": "TaxiGo",
            "price": "1.3790400",
            "currency": "UAH",
            "time_in": "2026-06-05 04:01:03",
            "time_sent": "2026-06-05 04:01:11",
            "time_dlr": "2026-06-05 04:01:16",
            "status": "Delivered",
            "body": "New arrivals are here - tap to see the spring collection and get free "
            "delivery today.",
            "sl_clicks": 2,
        }
    ]


def test_rows_are_the_values_api_messages_serves(jsim, jclient):
    """price = amount, time_in / time_sent / time_dlr = created_at / sent_at / delivered_at,
    the status word of the message's status; in a zone that is not UTC."""
    sim = _sim(timezone="Europe/Kyiv")
    with client_for(sim) as c:
        key = create(c, NOVEMBER)["key"]
        ready(sim)
        rows = show(c, key)["result"]
        window = {"filter[from]": NOVEMBER["time_in_from"], "filter[to]": NOVEMBER["time_in_to"]}
        messages = all_pages(c, "/api/messages", window)
    assert [int(r["message_id"]) for r in rows] == [m["id"] for m in messages]
    words = {**MESSAGE_TO_EXPORT_STATUS, "not_rcs_user": "Rejected"}
    for r, m in zip(rows, messages, strict=True):
        assert (r["message_type"], r["msisdn"], r["originator"], r["body"]) == (
            m["type"], str(m["phone"]), m["sender"], m["text"]
        )  # fmt: skip
        assert Decimal(r["price"]) == Decimal(amount_of(m)["value"])
        assert r["currency"] == amount_of(m)["currency"]
        assert (r["time_in"], r["time_sent"], r["time_dlr"]) == (
            m["created_at"], sent_at_of(m), m["delivered_at"]
        )  # fmt: skip
        assert r["status"] == words[m["status"]]
    assert rows_as_costs(rows, "Europe/Kyiv") == truth_rows(
        sim,
        sim.clock.now_s(),
        datetime(2026, 10, 31, 22, tzinfo=UTC),  # 2026-11-01 00:00 in Kyiv (UTC+2)
        datetime(2026, 11, 20, 10, tzinfo=UTC),
    )


def test_bounds_are_inclusive_to_the_second(jsim, jclient):
    ds = jsim.data
    t = int(ds.m_created[4000])
    at = np.flatnonzero(ds.m_created == t) + D.MESSAGE_ID_BASE
    text = datetime.fromtimestamp(t, UTC).strftime(FMT)
    before = datetime.fromtimestamp(t - 1, UTC).strftime(FMT)
    after = datetime.fromtimestamp(t + 1, UTC).strftime(FMT)
    asked = {
        "exact": (text, text),
        "from a second later": (after, after),
        "to a second earlier": (before, before),
        "around": (before, after),
    }
    ids = {}
    for name, (frm, to) in asked.items():
        key = create(jclient, {"type": "params", "time_in_from": frm, "time_in_to": to})["key"]
        ready(jsim)
        ids[name] = [int(r["message_id"]) for r in show(jclient, key)["result"]]
        jclient.delete(f"{JOBS}/{key}", headers=BEARER)
    at_before = np.flatnonzero(ds.m_created == t - 1) + D.MESSAGE_ID_BASE
    at_after = np.flatnonzero(ds.m_created == t + 1) + D.MESSAGE_ID_BASE
    assert ids == {
        "exact": at.tolist(),
        "from a second later": at_after.tolist(),
        "to a second earlier": at_before.tolist(),
        "around": sorted([*at_before.tolist(), *at.tolist(), *at_after.tolist()]),
    }
    assert len(at) >= 1


@pytest.mark.parametrize(
    ("frm", "to"),
    [
        ("2026-11-01T00:00:00Z", "2026-11-20T12:00:00Z"),
        ("2026-11-01T02:00:00+02:00", "2026-11-20T12:00:00+00:00"),
        ("2026-11-01T00:00:00", "2026-11-20T12:00:00"),  # no offset: the account's zone
        ("2026-10-31T23:59:59.001Z", "2026-11-20T11:59:59.999Z"),  # whole seconds inside
    ],
)
def test_rfc_3339_bounds(jsim, jclient, frm, to):
    key = create(jclient, {"type": "params", "time_in_from": frm, "time_in_to": to})["key"]
    ready(jsim)
    rows = show(jclient, key)["result"]
    lo = datetime(2026, 11, 1, tzinfo=UTC)
    hi = datetime(2026, 11, 20, 12, tzinfo=UTC) - timedelta(seconds=to.endswith(".999Z"))
    assert [int(r["message_id"]) for r in rows] == [
        r["message_id"] for r in truth_rows(jsim, jsim.clock.now_s(), lo, hi)
    ]


def test_by_message_ids(jsim, jclient):
    """Ids that exist, once each, in id order; an unknown id and a future message left out."""
    future = int(np.searchsorted(jsim.data.m_created, jsim.clock.now_s(), "right"))
    ids = [100_000_003, 100_000_001, 100_000_003, 5, D.MESSAGE_ID_BASE + future]
    key = create(jclient, {"type": "message", "message_id": ids})["key"]
    ready(jsim)
    assert [r["message_id"] for r in show(jclient, key)["result"]] == ["100000001", "100000003"]


def test_filters_phones_country_status(jsim, jclient):
    ds, now = jsim.data, jsim.clock.now_s()
    lo, hi = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 20, 12, tzinfo=UTC)
    truth = truth_rows(jsim, now, lo, hi)
    in_window = {m["message_id"] for m in truth}
    first = int(np.searchsorted(ds.m_created, lo.timestamp()))
    phone = int(ds.m_phone[first])
    of_phone = [int(i) for i in jsim.message_ids()[ds.m_phone == phone] if int(i) in in_window]
    asked = [
        ({"phones": [phone, 1]}, of_phone),
        ({"country": "poland"}, [m["message_id"] for m in truth if m["country_name"] == "Poland"]),
        ({"status": "Rejected"},
         [m["message_id"] for m in truth if m["export_status"] == "Rejected"]),
    ]  # fmt: skip
    for extra, want in asked:
        key = create(jclient, {**NOVEMBER, **extra})["key"]
        ready(jsim)
        got = [int(r["message_id"]) for r in show(jclient, key)["result"]]
        jclient.delete(f"{JOBS}/{key}", headers=BEARER)
        assert got == want and got, extra


# ------------------------------------------------------------- the limit, expiry, delete
def test_two_jobs_at_most(jsim, jclient):
    first = create(jclient, NOVEMBER)["key"]
    second = create(jclient, {"type": "message", "message_id": [100_000_001]})["key"]
    assert create(jclient, NOVEMBER) == MAX_REACHED
    ready(jsim)  # ready jobs are active too
    assert create(jclient, NOVEMBER) == MAX_REACHED
    # a bad body is refused for what it is, not for the limit
    r = jclient.post(JOBS, json={"type": "params"}, headers=BEARER)
    assert (r.status_code, r.json()) == (
        422, {"error": 1, "errorDescription": "The time_in_from field is required."}
    )  # fmt: skip
    assert jclient.delete(f"{JOBS}/{first}", headers=BEARER).json() == {
        "error": 0,
        "errorDescription": "No errors",
    }
    third = create(jclient, NOVEMBER)["key"]
    assert len({first, second, third}) == 3
    assert create(jclient, NOVEMBER) == MAX_REACHED


def test_jobs_expire(jsim, jclient):
    ttl = jsim.config.export_ttl_seconds
    assert ttl == 900.0 and jsim.config.export_ready_seconds == 1.0
    first = create(jclient, NOVEMBER)["key"]
    jsim.export_jobs.wall.t += 100
    second = create(jclient, NOVEMBER)["key"]
    assert show(jclient, first)["status"] == "Done"
    jsim.export_jobs.wall.t += ttl - 100 - 0.001  # the first's last moment
    assert show(jclient, first)["status"] == "Done"
    jsim.export_jobs.wall.t += 0.001
    assert show(jclient, first) == NOT_FOUND
    assert jclient.delete(f"{JOBS}/{first}", headers=BEARER).json() == NOT_FOUND
    listed = jclient.get(JOBS, headers=BEARER).json()
    job = {"key": second, "request": NOVEMBER, "status": "Done"}
    assert listed == {"error": 0, "result": [job]}
    assert KEY_RE.match(create(jclient, NOVEMBER)["key"])  # its place is free again
    jsim.export_jobs.wall.t += ttl
    assert jclient.get(JOBS, headers=BEARER).json() == {"error": 0, "result": []}


def test_list_delete_and_unknown_keys(jsim, jclient):
    assert jclient.get(JOBS, headers=BEARER).json() == {"error": 0, "result": []}
    by_ids = {"type": "message", "message_id": [100_000_002, 100_000_001], "extra": "kept"}
    first = create(jclient, NOVEMBER)["key"]
    jsim.export_jobs.wall.t += 0.5
    second = create(jclient, by_ids)["key"]
    jsim.export_jobs.wall.t += 0.5  # the first is ready, the second not yet
    assert jclient.get(JOBS, headers=BEARER).json() == {
        "error": 0,
        "result": [
            {"key": first, "request": NOVEMBER, "status": "Done"},
            {"key": second, "request": by_ids, "status": "In progress"},
        ],
    }
    assert jclient.delete(f"{JOBS}/{first}", headers=BEARER).json() == {
        "error": 0,
        "errorDescription": "No errors",
    }
    assert jclient.delete(f"{JOBS}/{first}", headers=BEARER).json() == NOT_FOUND
    assert show(jclient, first) == NOT_FOUND
    for key in ("0123456789abcdef01", "nope"):
        assert show(jclient, key) == NOT_FOUND
        r = jclient.delete(f"{JOBS}/{key}", headers=BEARER)
        assert (r.status_code, r.json()) == (200, NOT_FOUND)
    assert [j["key"] for j in jclient.get(JOBS, headers=BEARER).json()["result"]] == [second]


# -------------------------------------------------------------------------- bad bodies
@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"not json", "The request body must be a JSON object."),
        ([1, 2], "The request body must be a JSON object."),
        ({}, "The type field is required."),
        ({"type": "fax"}, "The selected type is invalid; params or message."),
        ({"type": "params", "time_in_to": "2026-11-20 12:00:00"},
         "The time_in_from field is required."),
        ({**NOVEMBER, "time_in_to": ""}, "The time_in_to field is required."),
        ({**NOVEMBER, "time_in_from": "yesterday"},
         "The time_in_from does not match the format Y-m-d H:i:s (or RFC 3339)."),
        ({**NOVEMBER, "time_in_from": "2026-11-01"},
         "The time_in_from does not match the format Y-m-d H:i:s (or RFC 3339)."),
        ({**NOVEMBER, "time_in_to": 20261120},
         "The time_in_to does not match the format Y-m-d H:i:s (or RFC 3339)."),
        ({**NOVEMBER, "time_in_from": "2026-11-20 12:00:00", "time_in_to": "2026-11-20 11:59:59"},
         "The time_in_from must be a date before or equal to time_in_to."),
        ({**NOVEMBER, "time_in_to": "2026-11-20 12:00:01"},
         "The time_in_to must be a date before or equal to now."),
        ({**NOVEMBER, "time_in_from": "2026-11-21 00:00:00", "time_in_to": "2026-11-22 00:00:00"},
         "The time_in_from must be a date before or equal to now."),
        ({**QUARTER, "time_in_from": "2026-08-20 11:59:59"},
         "The period may not be longer than 3 months."),
        ({**NOVEMBER, "time_sent_from": "2026-11-01 00:00:00"},
         "The time_sent_from filter is not served by the simulator."),
        ({**NOVEMBER, "phones": "380"}, "The phones must be a list of integers."),
        ({**NOVEMBER, "status": "delivered"},
         "The selected status is invalid; one of Delivered, Rejected, Scheduled, Moderation, "
         "Accepted, Sending, Sent, Expired, Failed, Undelivered, Unknown."),
        ({"type": "message", "message_id": []},
         "The message_id must be a list of 1 to 10000 integers."),
        ({"type": "message", "message_id": ["1"]},
         "The message_id must be a list of 1 to 10000 integers."),
    ],
)  # fmt: skip
def test_bad_bodies_are_422(jsim, jclient, body, why):
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    r = jclient.post(JOBS, content=content, headers={**BEARER, "content-type": "application/json"})
    assert (r.status_code, r.json()) == (422, {"error": 1, "errorDescription": why})
    assert jsim.export_jobs.jobs == {}


def test_the_longest_window_is_three_months(jsim, jclient):
    assert KEY_RE.match(create(jclient, QUARTER)["key"])


def test_every_route_wants_the_bearer(jclient):
    for method, path in (("POST", JOBS), ("GET", JOBS), ("GET", f"{JOBS}/ab"),
                         ("DELETE", f"{JOBS}/ab"), ("GET", "/api/accounts/balance")):  # fmt: skip
        r = jclient.request(method, path, json=NOVEMBER if method == "POST" else None)
        assert (r.status_code, r.json()) == (401, {"message": "Unauthenticated."}), path


# -------------------------------------------------------------------------------- faults
@pytest.mark.parametrize(("kind", "made"), [("truncated", 1), ("drop", 1), ("500", 0),
                                            ("429_bare", 0), ("503_html", 0)])  # fmt: skip
def test_a_fault_on_create_may_leave_an_orphan(kind, made):
    """A 429/5xx answers before the route (no job); `truncated` and `drop` spoil the answer
    of a job that was made: it holds a place, and the list shows it with its request."""
    sim = _sim(fault_rate=1.0, fault_kinds=(kind,))
    with client_for(sim) as c:
        try:
            r = c.post(JOBS, json=NOVEMBER, headers=BEARER)
            assert r.status_code != 200 or not r.text.endswith("}")
        except Exception as exc:  # the dropped connection
            assert kind == "drop", exc
    listed = sim.stat_jobs_list()["result"]
    assert [j["request"] for j in listed] == [NOVEMBER] * made


# ------------------------------------------------------------------------------- balance
def test_balance_is_its_ground_truth(jsim, jclient):
    body = jclient.get("/api/accounts/balance", headers=BEARER).json()
    truth = jsim.ground_truth_balance()
    assert truth == {
        "balance": Decimal("228.7733860"),
        "credit": Decimal("0E-7"),
        "currency": "EUR",
        "start": Decimal("506.0900000"),
        "spend": Decimal("277.3166140"),
        "at": TEST_NOW,
    }
    assert body == {"data": {"balance": 228.773386, "currency": "EUR", "credit": 0.0}}
    assert Decimal(str(body["data"]["balance"])) == truth["balance"]


def _converted(units_by_currency: dict[str, int], to: str) -> Decimal:
    total = sum(
        (
            Decimal(u).scaleb(-7) * Decimal(D.EUR_PER[c]) / Decimal(D.EUR_PER[to])
            for c, u in units_by_currency.items()
        ),
        Decimal(0),
    )
    return total.quantize(Decimal("0.0000001"))


def test_balance_is_start_minus_every_cost_so_far_converted():
    sim = make_simulator(balance_start=1000.0, credit=125.0, account_currency="USD")
    spend = _converted(sim.spend(), "USD")
    truth = sim.ground_truth_balance()
    assert (truth["start"], truth["spend"], truth["credit"], truth["currency"]) == (
        Decimal("1000.0000000"), spend, Decimal("125.0000000"), "USD"
    )  # fmt: skip
    assert truth["balance"] == Decimal("1000") - spend == Decimal("1000") - Decimal("301.1038154")
    assert sim.balance_body() == {
        "data": {"balance": 698.8961846, "currency": "USD", "credit": 125.0}
    }
    # the next messages cost their amounts, converted, once the clock reaches their creation
    last = int(sim.data.m_created[-1])
    sim.clock.set(last - 1)
    before = sim.ground_truth_balance()["spend"]
    sim.clock.set(last)
    assert sim.ground_truth_balance()["spend"] == _converted(sim.spend(), "USD") > before


def test_the_default_start_leaves_four_weeks_of_the_last_weeks_spend():
    sim = make_simulator(messages=20_000)
    a = datetime(2026, 11, 20, tzinfo=UTC)
    at_anchor = sim.ground_truth_balance(a - timedelta(seconds=1))
    week = at_anchor["spend"] - sim.ground_truth_balance(a - timedelta(days=7, seconds=1))["spend"]
    assert at_anchor["start"] == Decimal("1076.6900000")
    runway = at_anchor["balance"] / (week / 7)
    assert Decimal("27.99") < runway < Decimal("28.01")  # the start is rounded up to cents
    assert sim.ground_truth_balance()["balance"] == Decimal("104.4425018")


# --------------------------------------------------------------------------------- speed
@pytest.mark.slow
def test_a_100k_row_export():
    """The rows of 100k messages (built vectorised; `test_exports` says nothing of time)."""
    sim = _sim(messages=200_000)
    with client_for(sim) as c:
        key = create(c, QUARTER)["key"]
        ready(sim)
        body = show(c, key)
    lo, hi = datetime(2026, 8, 20, 12, tzinfo=UTC), datetime(2026, 11, 20, 12, tzinfo=UTC)
    assert len(body["result"]) > 100_000
    assert rows_as_costs(body["result"]) == truth_rows(sim, sim.clock.now_s(), lo, hi)
