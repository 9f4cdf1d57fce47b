"""Hypothesis: random pages mixing every quirk, nulls, unicode, huge and tiny money, missing
keys and wrong types never crash the transform, always reconcile, and keep money exact."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bsg_analytics.batch import transform_pages
from bsg_analytics.schemas.tables import TABLES
from tests.transforms.transform_helpers import page

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)
ids = st.one_of(st.integers(1, 50), st.integers(1, 50).map(str), junk)
money_text = st.one_of(
    st.decimals(
        min_value=Decimal("-99999999999.9999999"),
        max_value=Decimal("99999999999.9999999"),
        places=7,
        allow_nan=False,
        allow_infinity=False,
    ).map(lambda d: format(d, "f")),
    st.sampled_from(["0.0000001", "0", "1e5", "", "string", "1" * 30, "0.12345678"]),
    junk,
)
times = st.one_of(
    st.datetimes(datetime(2000, 1, 1), datetime(2030, 1, 1)).map(
        lambda d: d.strftime("%Y-%m-%d %H:%M:%S")
    ),
    st.sampled_from(["2024-03-31 02:30:00", "2024-10-27 02:30:00", "", "yesterday"]),
    junk,
)
phones = st.one_of(st.integers(0, 10**15), st.from_regex(r"\+?[0-9 ]{1,15}", fullmatch=True), junk)
money_obj = st.one_of(
    st.fixed_dictionaries({"value": money_text, "currency": st.sampled_from(["UAH", "EUR"])}),
    junk,
)
suggestion = st.fixed_dictionaries(
    {}, optional={"text": st.text(max_size=5), "phone": phones, "url": st.text(max_size=5)}
)
card = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "text": st.text(max_size=8),
            "media": st.one_of(st.fixed_dictionaries({"url": st.text(max_size=5)}), junk),
            "suggestions": st.one_of(st.lists(suggestion, max_size=3), junk),
        },
    ),
    junk,
)
message = st.fixed_dictionaries(
    {},
    optional={
        "id": ids,
        "campaign_id": ids,
        "reference_id": st.text(max_size=10),
        "type": st.sampled_from(["sms", "rcs", "viber"]),
        "source": st.sampled_from(["web", "rest"]),
        "text": st.text(max_size=30),
        "phone": phones,
        "validity": st.one_of(st.integers(0, 100), junk),
        "status": st.one_of(st.sampled_from(["delivered", "read", "sent", "zzz_new"]), junk),
        "amount": money_obj,
        "amont": st.one_of(money_obj, st.lists(money_obj, max_size=2)),
        "sender": st.text(max_size=8),
        "created_at": times,
        "sent_at": times,
        "send_at": times,
        "delivered_at": times,
        "options": junk,
        "country": st.text(max_size=3),
        "parts": st.one_of(st.integers(0, 5), junk),
        "rcs_options": st.one_of(
            st.fixed_dictionaries({"cards": st.one_of(st.lists(card, max_size=3), junk)}), junk
        ),
        "alternative_channels": st.one_of(
            st.fixed_dictionaries(
                {
                    "sms": st.fixed_dictionaries(
                        {"parts": st.integers(0, 3)},
                        optional={
                            "id": st.one_of(
                                st.lists(st.one_of(st.integers(0, 99), junk), max_size=3), junk
                            )
                        },
                    )
                }
            ),
            st.just({}),
            junk,
        ),
        "surprise": junk,
    },
)
stats = st.dictionaries(
    st.sampled_from(["delivered", "sent", "read", "failed", "weird"]),
    st.one_of(st.integers(0, 9), junk),
    max_size=4,
)
campaign = st.fixed_dictionaries(
    {},
    optional={
        "id": ids,
        "name": st.text(max_size=8),
        "status": st.sampled_from(["creation", "done", "stopped", "mystery"]),
        "message_type": st.sampled_from(["sms", "rcs"]),
        "type": st.sampled_from(["sms", "rcs"]),
        "start_at": times,
        "started_at": times,
        "real_start_at": times,
        "actual_start_at": times,
        "finished_at": times,
        "created_at": times,
        "statistics": st.one_of(stats, junk),
        "statistic": stats,
        "calculated_price": st.one_of(st.floats(-1e9, 1e9), junk),
        "alternative_channels": st.one_of(
            st.fixed_dictionaries({"sms": st.fixed_dictionaries({"statistic": stats})}), junk
        ),
        "total_messages": st.one_of(st.integers(0, 10), junk),
        "total_price": money_text,
        "total price": money_text,
        "currency": st.just("EUR"),
    },
)
legacy = st.fixed_dictionaries(
    {},
    optional={
        "error": st.one_of(st.sampled_from([0, "0", 25, "25"]), junk),
        "errorDescription": st.text(max_size=8),
        "id": ids,
        "msisdn": phones,
        "time_in": times,
        "time_dr": times,
        "status": st.text(max_size=5),
        "price": st.one_of(st.floats(-1e6, 1e6), money_text),
        "originator": st.text(max_size=5),
        "totalprice": st.one_of(st.floats(0, 1e6), junk),
        "sent": st.one_of(st.integers(0, 5), junk),
        "validity": st.one_of(st.integers(0, 5), junk),
    },
)


def _body(draw, obj) -> bytes:
    style = draw(st.sampled_from(["compact", "pretty", "ascii", "broken", "plain"]))
    if style == "broken":
        return draw(st.sampled_from([b"", b"<html>", b"{", b"null", b"[1,2]", b'{"data": 5}']))
    text = json.dumps(obj, ensure_ascii=style == "ascii", indent=3 if style == "pretty" else None)
    return text.encode()


@st.composite
def pages(draw):
    out = []
    t0 = datetime(2024, 4, 1, tzinfo=UTC)
    for seq in range(draw(st.integers(1, 6))):
        stream = draw(
            st.sampled_from(["messages", "messages", "campaigns", "campaign_detail", "legacy_sms"])
        )
        if stream == "messages":
            obj = {"data": draw(st.lists(message, max_size=8)), "meta": {"page": {"total": 1}}}
        elif stream == "campaigns":
            obj = {"data": draw(st.lists(campaign, max_size=4))}
        elif stream == "campaign_detail":
            c = draw(campaign)
            obj = {"en-US": c} if draw(st.booleans()) else c
        else:
            obj = draw(legacy)
        fetched = t0 + timedelta(minutes=draw(st.integers(0, 3)))
        out.append(page(stream, _body(draw, obj), seq=seq, fetched_at=fetched))
    return out


@SETTINGS
@given(pages(), st.sampled_from(["UTC", "Europe/Kyiv", "America/New_York"]))
def test_random_pages_never_crash_and_always_reconcile(pages_, zone):
    batch = transform_pages(pages_, zone)  # raises ReconciliationError if counts do not add up
    for name, df in batch.tables.items():
        assert dict(df.schema) == dict(TABLES[name].schema)
        key = list(TABLES[name].key)
        if key:
            assert df.select(pl.struct(key).is_unique().all()).item(), name
            assert df.select(pl.all_horizontal(pl.col(k).is_not_null() for k in key).all()).item()
    for counts in batch.report.counts.values():
        assert counts.reconciles
    total = batch.report.totals
    assert total.quarantined == batch["quarantine"].height
    assert batch["messages"]["created_at"].null_count() == 0


@SETTINGS
@given(
    st.lists(
        st.decimals(
            min_value=Decimal("-9999999.9999999"),
            max_value=Decimal("9999999.9999999"),
            places=7,
            allow_nan=False,
            allow_infinity=False,
        ),
        min_size=1,
        max_size=40,
    )
)
def test_money_sums_are_exact(values):
    recs = [
        {
            "id": i,
            "created_at": "2024-01-01 00:00:00",
            "amount": {"value": format(v, "f"), "currency": "EUR"},
        }
        for i, v in enumerate(values)
    ]
    df = transform_pages([page("messages", {"data": recs})], "UTC")["messages"]
    assert df["amount_value"].to_list() == [v.quantize(Decimal("0.0000001")) for v in values]
    assert df["amount_value"].sum() == sum(values)


@st.composite
def valid_message(draw, i):
    rec = {
        "id": draw(st.sampled_from([i, str(i)])),
        "created_at": draw(
            st.datetimes(datetime(2000, 1, 1), datetime(2030, 1, 1)).map(
                lambda d: d.strftime("%Y-%m-%d %H:%M:%S")
            )
        ),
        "status": draw(st.sampled_from(["delivered", "read", "not_viber_user", "brand_new"])),
        "phone": draw(
            st.one_of(
                st.integers(1, 10**15),
                st.from_regex(r"\+?[0-9][0-9 ]{0,14}", fullmatch=True),
            )
        ),
        "text": draw(st.text(max_size=20)),
    }
    value = format(draw(st.decimals(min_value=0, max_value=10**6, places=7, allow_nan=False)), "f")
    money = {"value": value, "currency": "EUR"}
    kind = draw(st.sampled_from(["amount", "amont", "amont_list", "none"]))
    if kind == "amount":
        rec["amount"] = money
    elif kind == "amont":
        rec["amont"] = money
    elif kind == "amont_list":
        rec["amont"] = [money]
    rec[draw(st.sampled_from(["sent_at", "send_at"]))] = rec["created_at"]
    fb = draw(st.sampled_from(["none", "empty", "ids"]))
    if fb == "empty":
        rec["alternative_channels"] = {"sms": {"parts": 1, "id": []}}
    elif fb == "ids":
        rec["alternative_channels"] = {"sms": {"parts": 1, "id": [1, "2"]}}
    return rec


@pytest.mark.slow  # (the default pass keeps a quicker sibling)
@SETTINGS
@given(st.data())
def test_valid_records_with_any_mix_of_quirks_all_become_rows(data):
    n = data.draw(st.integers(1, 30))
    recs = [data.draw(valid_message(i)) for i in range(1, n + 1)]
    batch = transform_pages([page("messages", {"data": recs})], "Europe/Kyiv")
    assert batch["quarantine"].is_empty(), batch["quarantine"]["reason"].to_list()
    df = batch["messages"].sort("message_id")
    assert df["message_id"].to_list() == list(range(1, n + 1))
    assert df["phone"].str.contains(r"^\d+$").all()
    for rec, row in zip(recs, df.iter_rows(named=True), strict=True):
        fb = rec.get("alternative_channels")
        assert row["fallback_sms_ids"] == (
            None if fb is None else [int(x) for x in fb["sms"]["id"]]
        )
        money = rec.get("amount") or rec.get("amont")
        money = money[0] if isinstance(money, list) else money
        assert row["amount_value"] == (None if money is None else Decimal(money["value"]))
