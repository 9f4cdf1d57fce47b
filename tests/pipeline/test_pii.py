"""`BSG_PII`: phones as a keyed pseudonym and texts dropped (`hash`), or both dropped
(`drop`), as the pages land: no file of the data directory holds a phone or a text the
setting does not keep, the tables hold the pseudonyms, and the same phone gets the same one."""

from __future__ import annotations

import orjson
import polars as pl
import pytest

from bsg_analytics.pii import PiiPolicy
from bsg_analytics.pipeline import run_sync
from bsg_analytics.settings import SettingsError, load_settings
from bsg_simulator.testing import TEST_NOW, make_simulator
from tests.pipeline.e2e import SINCE, read_table, settings_for
from tests.reliability.rel_helpers import all_files, file_text

KEY = "pii-key-SECRET-0123456789abcdef"


def test_a_page_loses_what_the_mode_does_not_keep():
    page = {
        "data": [
            {"id": 1, "phone": "+380 50 123 45 67", "text": "code 4711",
             "rcs_options": {"text": "hi Ann", "cards": [{"title": "Sale", "suggestions": [
                 {"type": "call", "text": "Call us", "phone": "380441112233"}]}]}},
            {"id": 2, "phone": 380501234567, "text": None},
        ],
        "meta": {"page": {"total": 2}},
    }  # fmt: skip
    body = orjson.dumps(page)
    hashed = orjson.loads(PiiPolicy("hash", b"k" * 16).scrub(body))
    a, b = hashed["data"]
    assert a["phone"] == b["phone"]  # one phone, written two ways: one pseudonym
    assert len(a["phone"]) == 18 and a["phone"].startswith("0") and a["phone"].isdigit()
    assert a["text"] is None and a["rcs_options"]["text"] is None
    card = a["rcs_options"]["cards"][0]
    assert card["title"] == "Sale" and card["suggestions"][0]["phone"] == "380441112233"
    assert PiiPolicy("hash", b"another-key-0000").pseudonym("380501234567") != a["phone"]
    dropped = orjson.loads(PiiPolicy("drop").scrub(body))["data"]
    assert [r["phone"] for r in dropped] == [None, None]
    assert PiiPolicy("keep").scrub(body) is body
    export = {"result": [{"message_id": 7, "msisdn": "380501234567", "body": "code 1"}]}
    row = orjson.loads(PiiPolicy("hash", b"k" * 16).scrub(orjson.dumps(export)))["result"][0]
    assert row["msisdn"] == a["phone"] and row["body"] is None
    fell_back = [{"id": "9", "message": "code 4711", "sender": "Shop"}]
    viber = {"error": 0, "errorDescription": "No errors", "msisdn": "380501234567",
             "alt_route_messages": fell_back}  # fmt: skip
    got = orjson.loads(PiiPolicy("hash", b"k" * 16).scrub(orjson.dumps(viber)))
    assert got["msisdn"] == a["phone"] and got["errorDescription"] == "No errors"
    assert got["alt_route_messages"] == [{"id": "9", "message": None, "sender": "Shop"}]


def test_hash_without_a_key_is_one_line():
    with pytest.raises(SettingsError) as info:
        load_settings(pii="hash")
    assert "BSG_PII=hash needs BSG_PII_KEY" in str(info.value)
    assert "\n" not in str(info.value).strip()
    with pytest.raises(SettingsError):
        load_settings(pii="sometimes")


@pytest.mark.parametrize("mode", ["hash", "drop"])
def test_no_file_holds_a_phone_or_a_text_the_setting_does_not_keep(tmp_path, transport_for, mode):
    sim = make_simulator(messages=1_500, seed=5)
    d = tmp_path / "d"
    settings = settings_for(d, pii=mode, pii_key=KEY, export_costs=True)
    run_sync(settings, SINCE, transport=transport_for(sim), now=TEST_NOW)
    truth = sim.ground_truth_messages(TEST_NOW)
    phones = set(truth["phone"].drop_nulls().to_list())
    texts = {t for t in truth["text"].drop_nulls().to_list() if len(t) >= 12}
    assert len(phones) > 100 and texts
    for path in all_files(d):
        if path.suffix in (".parquet", ".duckdb"):
            continue  # columns, read below
        content = file_text(path)
        leaked = [p for p in phones if p in content] + [t for t in texts if t in content]
        assert not leaked, (path, leaked[:3])
    assert KEY not in "".join(file_text(p) for p in all_files(d) if p.suffix != ".parquet")
    got = read_table(d, "messages")
    assert got.height == truth.height
    assert got["text"].null_count() == got.height
    if mode == "hash":
        policy = settings.pii_policy()
        want = truth.select("message_id", pl.col("phone").map_elements(
            policy.pseudonym, return_dtype=pl.String))  # fmt: skip
        assert got.select("message_id", "phone").sort("message_id").equals(want.sort("message_id"))
    else:
        assert got["phone"].null_count() == got.height
    assert read_table(d, "message_costs").height == got.height


def test_legacy_lookups_keep_only_pseudonyms(tmp_path, transport_for):
    from bsg_analytics.pipeline import run_legacy

    sim = make_simulator(messages=800, seed=6)
    d = tmp_path / "d"
    settings = settings_for(d, pii="hash", pii_key=KEY)
    truth = sim.ground_truth_messages(TEST_NOW)
    sms = truth.filter(pl.col("channel") == "sms").head(20)
    viber = truth.filter(pl.col("channel") == "viber").head(10)
    run_legacy(
        settings, sms_ids=sms["message_id"].to_list(), viber_ids=viber["message_id"].to_list(),
        transport=transport_for(sim),
    )  # fmt: skip
    phones = set(sms["phone"].to_list()) | set(viber["phone"].to_list())
    for path in all_files(d):
        if path.suffix not in (".parquet", ".duckdb"):
            content = file_text(path)
            assert not [p for p in phones if p in content], path
    got = read_table(d, "legacy_sms")
    assert got.height == 20
    policy = settings.pii_policy()
    assert set(got["msisdn"].to_list()) == {policy.pseudonym(p) for p in sms["phone"]}
