"""Bad input: hypothesis-generated API bodies (missing keys, wrong types, nulls, huge strings,
unicode, unparsable dates and money, absurd numbers, unknown statuses and fields, empty pages
with non-zero totals, non-JSON) served through an httpx.MockTransport to a full `run_sync`:
the run never crashes (it completes, or stops with a BSG error / an incomplete window), the
records always reconcile, and rows written by an earlier good run are never lost."""

from __future__ import annotations

import itertools
import shutil
from datetime import timedelta
from pathlib import Path

import httpx
import orjson
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bsg_analytics.pipeline import IncompleteWindow, run_sync
from bsg_analytics.raw import RawStore
from bsg_analytics.storage import DataDir
from bsg_client.errors import BSGError
from bsg_simulator.testing import TEST_NOW
from tests.reliability.rel_helpers import FIGURES, SECRETS, read_table, settings_for

SINCE = (TEST_NOW - timedelta(days=6)).date()  # one message window, one campaign window
COUNTS = {"examples": 0, "completed": 0, "clean_failures": 0, "records": 0, "quarantined": 0}

# --- strategies ----------------------------------------------------------------------------

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.just("x" * 20_000),
    st.just("\u202e<script>alert(1)</script>\x00\n"),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)
dates = st.one_of(
    st.just("2026-11-18 10:11:12"),
    st.just("2026-02-30 25:61:61"),
    st.just("18/11/2026"),
    st.just(""),
    st.just("2026-11-18T10:11:12Z"),
    st.just("9999-12-31 23:59:59"),
    st.just("0001-01-01 00:00:00"),
    junk,
)
money = st.one_of(
    st.just("0.0350000"),
    st.just("-1.5"),
    st.just("1e9"),
    st.just("12345678901234567890.1234567"),
    st.just("0.12345678"),
    st.just("NaN"),
    st.just(""),
    junk,
)
statuses = st.one_of(
    st.sampled_from(["delivered", "read", "sent", "expired", "not_viber_user", "exploded"]),
    junk,
)
ids = st.one_of(
    st.integers(min_value=1, max_value=60),
    st.integers(min_value=1, max_value=60),
    st.integers(min_value=1, max_value=60),
    st.integers(),
    st.just("12"),
    st.text(max_size=4),
    junk,
)


def message_record():
    return st.fixed_dictionaries(
        {"id": ids},
        optional={
            "campaign_id": ids,
            "reference_id": junk,
            "type": st.one_of(st.sampled_from(["sms", "rcs", "viber"]), junk),
            "source": junk,
            "text": st.one_of(st.text(), junk),
            "phone": st.one_of(st.just("380661234567"), st.just(380661234567), junk),
            "validity": st.one_of(st.integers(-5, 10**12), junk),
            "status": statuses,
            "amount": st.one_of(
                st.fixed_dictionaries({"value": money, "currency": junk}),
                st.lists(st.fixed_dictionaries({"value": money, "currency": junk}), max_size=2),
                junk,
            ),
            "amont": junk,
            "sender": st.one_of(st.text(), junk),
            "created_at": dates,
            "sent_at": dates,
            "send_at": dates,
            "delivered_at": dates,
            "rcs_options": st.one_of(
                st.fixed_dictionaries({"cards": st.lists(junk, max_size=3)}), junk
            ),
            "alternative_channels": junk,
            "surprise_field\n": junk,
        },
    )


VALID_MESSAGE = {
    "id": 1, "campaign_id": 7, "reference_id": "ext1", "type": "sms", "source": "rest",
    "text": "hi", "phone": "380661234567", "validity": 24, "status": "delivered",
    "amount": {"value": "0.0350000", "currency": "EUR"}, "sender": "Shop",
    "created_at": "2026-11-16 10:00:00", "sent_at": "2026-11-16 10:00:05",
    "delivered_at": "2026-11-16 10:00:09",
}  # fmt: skip


def nearly_valid_message():
    """A sound message with a fresh id and at most one field spoiled."""
    spoil = st.one_of(
        st.none(),
        st.tuples(st.sampled_from(sorted(set(VALID_MESSAGE) - {"id"})), junk),
        st.tuples(st.just("status"), statuses),
        st.tuples(st.just("created_at"), dates),
        st.tuples(st.just("amount"), st.fixed_dictionaries({"value": money, "currency": junk})),
    )

    def build(args):
        i, change = args
        rec = {**VALID_MESSAGE, "id": i}
        if change is not None:
            rec[change[0]] = change[1]
        return rec

    return st.tuples(st.integers(1, 10_000), spoil).map(build)


def campaign_record():
    return st.fixed_dictionaries(
        {"id": ids},
        optional={
            "name": st.one_of(st.text(), junk),
            "sender": junk,
            "status": st.one_of(st.sampled_from(["done", "sending", "melting"]), junk),
            "message_type": junk,
            "created_at": dates,
            "start_at": dates,
            "statistics": st.one_of(st.fixed_dictionaries({"delivered": junk, "sent": junk}), junk),
            "calculated_price": st.one_of(money, junk),
            "alternative_channels": junk,
        },
    )


def list_body(records):
    total = st.one_of(st.integers(-3, 10**9), st.just("7"), junk)
    page = st.fixed_dictionaries({"total": total, "offset": junk, "limit": junk})
    good = st.fixed_dictionaries({"data": st.lists(records, max_size=6)}).map(
        lambda b: {**b, "meta": {"page": {"total": len(b["data"]), "offset": 0}}}
    )
    return st.one_of(
        good,
        good,
        good,
        st.fixed_dictionaries(
            {"data": st.lists(records, max_size=6), "meta": st.fixed_dictionaries({"page": page})}
        ),
        st.fixed_dictionaries({"data": st.lists(records, max_size=6)}),
        # an empty page that announces rows
        st.just({"data": [], "meta": {"page": {"total": 500, "offset": 0}}}),
        st.fixed_dictionaries({"data": junk, "meta": junk}),
        junk,
    )


def detail_body():
    obj = st.fixed_dictionaries(
        {"id": ids},
        optional={
            "status": st.one_of(st.sampled_from(["done", "sending"]), junk),
            "statistics": st.one_of(st.dictionaries(st.text(max_size=8), junk, max_size=4), junk),
            "total_price": money,
            "total_messages": junk,
            "finished_at": dates,
            "alternative_channels": junk,
        },
    )
    return st.one_of(obj, st.fixed_dictionaries({"en-US": obj}), junk)


def _dumps(value) -> bytes:
    try:
        return orjson.dumps(value)
    except TypeError:  # integers past 64 bits: the standard library writes them
        import json

        return json.dumps(value).encode()


def raw(body_strategy):
    """A body as bytes: JSON of the value, or (sometimes) not JSON at all."""
    as_json = body_strategy.map(_dumps)
    return st.one_of(
        as_json,
        as_json,
        as_json,
        as_json,
        as_json,
        as_json,
        st.just(b"<html><body>502</body></html>"),
        st.just(b'{"data": [{"id": 1, "sta'),
        st.binary(max_size=50),
    )


def envelope(records):
    """A list page with a sound envelope (its records can still be anything)."""
    return st.lists(records, max_size=6).map(
        lambda data: {"data": data, "meta": {"page": {"total": len(data), "offset": 0}}}
    )


def then_sound(bad, sound):
    """Up to three arbitrary bodies (retries move on to the next), then a sound one: the
    window's read gets through once the retries have eaten the bad ones."""
    return st.tuples(st.lists(raw(bad), max_size=3), sound.map(_dumps)).map(lambda t: [*t[0], t[1]])


bodies = st.fixed_dictionaries(
    {
        "messages": then_sound(
            list_body(st.one_of(message_record(), nearly_valid_message())),
            envelope(st.one_of(message_record(), nearly_valid_message(), nearly_valid_message())),
        ),
        "campaigns": then_sound(list_body(campaign_record()), envelope(campaign_record())),
        "detail": then_sound(detail_body(), detail_body()),
        "status": st.lists(st.sampled_from([200] * 30 + [404, 422, 500]), min_size=1, max_size=4),
    }
)

# --- a server of those bodies --------------------------------------------------------------


def serving(spec):
    counters = {k: itertools.count() for k in ("messages", "campaigns", "detail")}
    statuses = itertools.cycle(spec["status"])
    served = []

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        kind = (
            "messages"
            if path == "/api/messages"
            else "detail"
            if path.endswith("/detail")
            else "campaigns"
        )
        options = spec[kind]
        body = options[min(next(counters[kind]), len(options) - 1)]
        status = next(statuses)
        served.append((kind, status))
        return httpx.Response(status, content=body, headers={"content-type": "application/json"})

    return httpx.MockTransport(handler), served


def good_transport():
    msgs = [
        {"id": i, "campaign_id": 7, "type": "sms", "status": "delivered", "sender": "Good",
         "phone": "380661234567", "text": "hi", "validity": 24, "source": "rest",
         "reference_id": f"ref{i}", "amount": {"value": "0.0350000", "currency": "EUR"},
         "created_at": "2026-11-16 10:00:00", "sent_at": "2026-11-16 10:00:05",
         "delivered_at": "2026-11-16 10:00:09"}
        for i in range(1, 21)
    ]  # fmt: skip
    spec = {
        "messages": [orjson.dumps({"data": msgs, "meta": {"page": {"total": 20}}})],
        "campaigns": [orjson.dumps({"data": [], "meta": {"page": {"total": 0}}})],
        "detail": [b"{}"],
        "status": [200],
    }
    return serving(spec)[0]


def run_bad(data_dir: Path, spec):
    transport, served = serving(spec)
    # the served bodies are of /api/messages and the campaigns: the export is not asked
    s = settings_for(
        data_dir, concurrency=1, max_retries=3, backoff_max_seconds=0.001, export_costs=False
    )
    try:
        report = run_sync(s, SINCE, transport=transport, now=TEST_NOW)
    except (BSGError, IncompleteWindow) as exc:
        text = str(exc)
        assert "\n" not in text.strip(), text
        assert not any(secret in text for secret in SECRETS)
        return None, served
    return report, served


def check_reconciles(report, data_dir: Path) -> None:
    """Records in = rows + quarantined + duplicates, per stream, against what was landed."""
    t = report.transform
    t.check()
    totals = t.totals
    assert totals.records_in == totals.rows_out + totals.quarantined + totals.duplicates
    store = RawStore(DataDir(data_dir))
    landed = 0
    for page in store.iter_pages(["messages"]):
        landed += len(orjson.loads(page.body)["data"])
    assert t.counts.get("messages") is None or t.counts["messages"].records_in == landed
    if landed == 0:
        return
    m = t.counts["messages"]
    quarantine = read_table(data_dir, "quarantine")
    msg_q = quarantine.filter(pl.col("endpoint") == "/api/messages").height
    assert msg_q == m.quarantined, f"quarantine table {msg_q} != report {m.quarantined}"
    assert read_table(data_dir, "messages").height == m.rows_out


def check_bad_bodies(spec, tmp_path, label: str) -> None:
    n = COUNTS["examples"] = COUNTS["examples"] + 1
    d = tmp_path / f"ex{n}"
    report, _served = run_bad(d, spec)
    if report is None:
        COUNTS["clean_failures"] += 1
    else:
        COUNTS["completed"] += 1
        COUNTS["records"] += report.records_in
        COUNTS["quarantined"] += report.quarantined
        check_reconciles(report, d)
    shutil.rmtree(d, ignore_errors=True)
    FIGURES[f"bad bodies, full run_sync each (hypothesis{label})"] = dict(COUNTS)


HYPOTHESIS = dict(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                           HealthCheck.data_too_large],
    derandomize=True,
)  # fmt: skip


@settings(max_examples=30, **HYPOTHESIS)
@given(spec=bodies)
def test_bad_bodies_never_crash_and_always_reconcile(spec, tmp_path):
    check_bad_bodies(spec, tmp_path, "")


@pytest.mark.slow
@settings(max_examples=400, **{**HYPOTHESIS, "derandomize": False})
@given(spec=bodies)
def test_many_bad_bodies_never_crash_and_always_reconcile(spec, tmp_path):
    check_bad_bodies(spec, tmp_path, ", slow")


LOST = {"examples": 0, "good_rows_lost": 0}


@pytest.fixture(scope="module")
def good_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("good") / "d"
    s = settings_for(d, export_costs=False)
    run_sync(s, SINCE, transport=good_transport(), now=TEST_NOW)
    assert read_table(d, "messages").height == 20
    return d


@settings(max_examples=12, **HYPOTHESIS)
@given(spec=bodies)
def test_a_bad_run_after_a_good_one_loses_no_good_row(spec, tmp_path, good_dir):
    LOST["examples"] += 1
    d = tmp_path / f"ex{LOST['examples']}"
    shutil.copytree(good_dir, d)
    good = read_table(good_dir, "messages").drop("extracted_at")
    report, _served = run_bad(d, spec)
    if report is not None:
        report.transform.check()
    after = read_table(d, "messages")
    # every good row is still there; those the bad run did not serve again are unchanged
    bad_ids = set()
    for page in RawStore(DataDir(d)).iter_pages(["messages"]):
        for rec in orjson.loads(page.body)["data"]:
            if isinstance(rec, dict):
                bad_ids.add(str(rec.get("id")))
    missing = set(good["message_id"].to_list()) - set(after["message_id"].to_list())
    LOST["good_rows_lost"] += len(missing)
    assert not missing
    untouched = good.filter(~pl.col("message_id").cast(pl.String).is_in(list(bad_ids)))
    kept = after.drop("extracted_at").join(untouched.select("message_id"), on="message_id")
    assert kept.sort("message_id").equals(untouched.sort("message_id"))
    shutil.rmtree(d, ignore_errors=True)
    FIGURES["bad run after a good one (hypothesis)"] = dict(LOST)
