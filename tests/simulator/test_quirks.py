"""Every quirk in each of its variants (and all of them in mixed mode), the published variant
by default, and mixed mode stable across re-reads."""

from __future__ import annotations

import pytest

from bsg_simulator import QUIRKS, QuirkConfig
from bsg_simulator.config import MIXED, SERVER_QUIRKS
from bsg_simulator.testing import make_simulator

from .conftest import BEARER, KEY, MONTHS, WINDOW, all_pages, client_for, detail_body

CASES = [(name, v) for name, (variants, _) in QUIRKS.items() for v in variants]


def _messages(c) -> list[dict]:
    out: list[dict] = []
    for w in MONTHS:
        out += all_pages(c, "/api/messages", w)
    return out


def _list_path(c) -> str:
    return (
        "/api/campaigns"
        if c.get("/api/campaigns", headers=BEARER).status_code == 200
        else ("/api/campaign")
    )


def _campaigns(c) -> list[dict]:
    path = _list_path(c)
    return [x for t in ("sms", "rcs", "whatsapp") for w in MONTHS
            for x in all_pages(c, path, {**w, "filter[type]": t})]  # fmt: skip


def _details(c, sim) -> list[tuple[dict, dict]]:
    """(truth row, detail answer) of every campaign."""
    return [
        (row, c.get(f"/api/campaigns/{row['campaign_id']}/detail", headers=BEARER).json())
        for row in sim.ground_truth_campaigns().iter_rows(named=True)
    ]


def _suggestions(messages: list[dict]) -> list[dict]:
    return [s for m in messages for card in (m.get("rcs_options") or {}).get("cards", [])
            for s in card["suggestions"]]  # fmt: skip


def observe(c, sim, name: str) -> set[str]:
    """Which variants of quirk `name` the served bodies show."""
    seen: set[str] = set()
    if name in ("amount_field", "sent_at_name", "phone_type", "country_field", "parts_field"):
        for m in _messages(c):
            if name == "amount_field":
                seen.add("amount" if "amount" in m else "amont")
                if "amont" in m:
                    assert isinstance(m["amont"], list) and len(m["amont"]) == 1
            elif name == "sent_at_name":
                seen.add("sent_at" if "sent_at" in m else "send_at")
            elif name == "phone_type":
                seen.add("string" if isinstance(m["phone"], str) else "number")
            elif name == "country_field":
                seen.add("present" if "country" in m else "absent")
            else:
                seen.add("present" if "parts" in m else "absent")
    elif name == "rcs_non_user_status":
        for m in _messages(c):
            if m["status"] in ("not_service_user", "not_rcs_user") and m["type"] == "rcs":
                seen.add(m["status"])
        for row, d in _details(c, sim):  # the detail counts them as not_rcs_user either way
            assert detail_body(d)["statistics"]["not_rcs_user"] == row["primary_not_rcs_user"]
    elif name == "suggestion_shape":
        for s in _suggestions(_messages(c)):
            seen.add("typed" if "type" in s else "untyped")
            if "type" not in s:
                assert set(s) in ({"text", "url"}, {"text", "phone"})
    elif name == "options_field":
        for m in _messages(c):
            if m["type"] == "rcs":
                if "options" in m:
                    seen.add("present")
                elif sim.data.m_options[m["id"] - 100_000_001]:
                    seen.add("absent")
    elif name in ("detail_wrapper", "detail_start_names", "detail_no_fallback"):
        for row, d in _details(c, sim):
            b = detail_body(d)
            if name == "detail_wrapper":
                seen.add("data" if "data" in d else "locale" if "en-US" in d else "bare")
            elif name == "detail_start_names":
                seen.add("started_at" if "started_at" in b else "start_at")
                assert ("started_at" in b) == ("actual_start_at" in b) != ("real_start_at" in b)
            elif row["fallback_channel"] != "sms":
                seen.add({"[]": "list", "None": "null"}[str(b["alternative_channels"])])
    elif name == "list_fallback_stats":
        for x in _campaigns(c):
            seen.add(next(iter(x["alternative_channels"]["sms"])) if "alternative_channels"
                     in x else "absent")  # fmt: skip
    elif name == "legacy_id_type":
        for mid in sim.ground_truth_legacy_sms()["message_id"].to_list()[:200]:
            b = c.get(f"/rest/sms/{mid}", headers=KEY).json()
            assert type(b["id"]) is type(b["msisdn"])
            seen.add("string" if isinstance(b["id"], str) else "number")
    elif name == "legacy_error_type":
        for i in range(40):
            b = c.get(f"/rest/sms/{i}", headers=KEY).json()
            seen.add("string" if isinstance(b["error"], str) else "number")
    elif name == "legacy_task_path":
        for task in sim.task_ids().tolist():
            assert c.get(f"/rest/sms/task/{task}", headers=KEY).json()["error"] == 0
            b = c.get(f"/rest/sms/{task}", headers=KEY).json()
            seen.add("plain" if int(b["error"]) == 0 else "task")
            if int(b["error"]):
                assert int(b["error"]) == 20
    elif name == "campaign_list_path":
        for path, variant in (("/api/campaigns", "campaigns"), ("/api/campaign", "campaign")):
            r = c.get(path, headers=BEARER)
            assert r.status_code in (200, 404)
            if r.status_code == 200:
                seen.add(variant)
    elif name == "messages_type_filter":
        for hour in range(10):
            q = {**WINDOW, "filter[to]": f"2026-11-20 {hour:02d}:00:00", "filter[type]": "viber"}
            types = {m["type"] for m in all_pages(c, "/api/messages", q)}
            seen.add("honoured" if types == {"viber"} else "ignored")
    elif name == "list_search":
        base = {"page[limit]": "500", **WINDOW}
        path = _list_path(c)
        everything = len(c.get(path, params=base, headers=BEARER).json()["data"])
        assert everything
        for prefix in ("search", "filter"):
            q = {f"{prefix}[field]": "sender", f"{prefix}[value]": "zzz", **base}
            if not c.get(path, params=q, headers=BEARER).json()["data"]:
                seen.add(prefix)
    else:
        raise AssertionError(f"no observer for quirk {name}")
    return seen


@pytest.mark.parametrize("name,variant", CASES)
def test_quirk_variant_pinned(name, variant):
    sim = make_simulator(messages=3_000, quirks=[f"{name}={variant}"])
    with client_for(sim) as c:
        assert observe(c, sim, name) == {variant}


@pytest.mark.parametrize("name", list(QUIRKS))
def test_quirk_mixed_shows_every_variant(name):
    sim = make_simulator(messages=3_000, quirks=[f"{name}=mixed"])
    with client_for(sim) as c:
        assert observe(c, sim, name) == set(QUIRKS[name][0])


def test_default_is_published_everywhere():
    q = QuirkConfig()
    assert {name: getattr(q, name) for name in QUIRKS} == {
        name: variants[0] for name, (variants, _) in QUIRKS.items()
    }
    assert QuirkConfig.all_variant("published") == q == QuirkConfig.all_variant("A")
    assert make_simulator(messages=10).quirks == q


def test_all_variants():
    pages = QuirkConfig.all_variant("pages")
    assert pages == QuirkConfig.all_variant("B")
    assert {n: getattr(pages, n) for n in QUIRKS} == {n: v[1] for n, (v, _) in QUIRKS.items()}
    mixed = QuirkConfig.all_variant("mixed")
    assert {getattr(mixed, n) for n in QUIRKS} == {MIXED}
    with pytest.raises(ValueError, match="all=published"):
        QuirkConfig.parse(["all=C"])


def test_mixed_is_stable_per_record():
    sim = make_simulator(messages=3_000, quirks=["all=mixed"])
    with client_for(sim) as c:
        params = {"page[limit]": 200, **WINDOW}
        a = c.get("/api/messages", params=params, headers=BEARER).content
        b = c.get("/api/messages", params=params, headers=BEARER).content
    assert a == b


def test_parse_and_list():
    q = QuirkConfig.parse(["amount_field=amont", "phone_type=string", "detail_wrapper=locale"])
    assert (q.amount_field, q.phone_type, q.detail_wrapper) == ("amont", "string", "locale")
    assert q.sent_at_name == "sent_at"
    # later items win: all= then one quirk
    q = QuirkConfig.parse(["all=pages", "amount_field=amount"])
    assert (q.amount_field, q.sent_at_name) == ("amount", "send_at")
    for bad in (["amount_field=nope"], ["nope=amount"], ["amount_field"]):
        with pytest.raises(ValueError):
            QuirkConfig.parse(bad)
    text = QuirkConfig.describe()
    assert all(name in text for name in QUIRKS)
    assert all(f"{name}" in text and "[server]" in text for name in SERVER_QUIRKS)
