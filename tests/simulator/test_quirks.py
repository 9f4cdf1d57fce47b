"""Every quirk in each variant, and mixed mode stable across re-reads."""

from __future__ import annotations

import pytest

from bsg_simulator import QUIRKS, QuirkConfig
from bsg_simulator.testing import make_simulator

from .conftest import BEARER, KEY, WINDOW, client_for


def _messages(c, n=500):
    return c.get("/api/messages", params={"page[limit]": n, **WINDOW}, headers=BEARER).json()[
        "data"
    ]


def _rcs_campaigns(c):
    return c.get(
        "/api/campaign", params={"filter[type]": "rcs", "page[limit]": 500}, headers=BEARER
    ).json()["data"]


def _details(c):
    return [
        c.get(f"/api/campaigns/{x['id']}/detail", headers=BEARER).json() for x in _rcs_campaigns(c)
    ]


def observe(c, sim, name: str) -> set[str]:
    """Which variants of quirk `name` the served bodies show."""
    seen: set[str] = set()
    if name == "amount_field":
        seen = {"amount" if "amount" in m else "amont" for m in _messages(c)}
        for m in _messages(c):
            if "amont" in m:
                assert isinstance(m["amont"], list) and len(m["amont"]) == 1
    elif name == "sent_at_name":
        seen = {"sent_at" if "sent_at" in m else "send_at" for m in _messages(c)}
    elif name == "phone_type":
        seen = {"string" if isinstance(m["phone"], str) else "number" for m in _messages(c)}
    elif name == "country_field":
        seen = {"present" if "country" in m else "absent" for m in _messages(c)}
    elif name == "parts_field":
        seen = {"present" if "parts" in m else "absent" for m in _messages(c)}
    elif name == "detail_wrapper":
        seen = {"locale" if "en-US" in d else "bare" for d in _details(c)}
    elif name == "detail_start_names":
        bodies = [d.get("en-US", d) for d in _details(c)]
        seen = {"started_at" if "started_at" in b else "start_at" for b in bodies}
        for b in bodies:
            assert ("started_at" in b) == ("actual_start_at" in b) != ("real_start_at" in b)
    elif name == "fallback_stats_name":
        seen = {next(iter(x["alternative_channels"]["sms"])) for x in _rcs_campaigns(c)}
    elif name == "legacy_id_type":
        sms = sim.ground_truth_legacy_sms()["message_id"].to_list()[:200]
        for mid in sms:
            b = c.get(f"/rest/sms/{mid}", headers=KEY).json()
            assert type(b["id"]) is type(b["msisdn"])
            seen.add("string" if isinstance(b["id"], str) else "number")
    elif name == "legacy_error_type":
        for i in range(40):
            b = c.get(f"/rest/sms/{i}", headers=KEY).json()
            seen.add("string" if isinstance(b["error"], str) else "number")
    elif name == "undocumented_statuses":
        rows = []
        offset = 0
        while offset < 6000:
            page = c.get(
                "/api/messages", params={"page[limit]": 500, "page[offset]": offset}, headers=BEARER
            ).json()
            rows += page["data"]
            offset += 500
        has = any(m["status"] == "not_rcs_user" for m in rows)
        keys = {"not_rcs_user" in d.get("en-US", d)["statistics"] for d in _details(c)}
        if has:
            seen.add("present")
        if False in keys:
            seen.add("absent")
        if has:
            assert True in keys
    return seen


@pytest.mark.parametrize("name", list(QUIRKS))
@pytest.mark.parametrize("which", [0, 1])
def test_quirk_variant_pinned(name, which):
    variant = QUIRKS[name][which]
    sim = make_simulator(messages=3_000, quirks=[f"{name}={variant}"])
    with client_for(sim) as c:
        assert observe(c, sim, name) == {variant}


@pytest.mark.parametrize("name", list(QUIRKS))
def test_quirk_mixed_shows_both(name):
    sim = make_simulator(messages=3_000)
    with client_for(sim) as c:
        assert observe(c, sim, name) == set(QUIRKS[name][:2])


def test_mixed_is_stable_per_record(client):
    a = client.get("/api/messages", params={"page[limit]": 200, **WINDOW}, headers=BEARER).content
    b = client.get("/api/messages", params={"page[limit]": 200, **WINDOW}, headers=BEARER).content
    assert a == b


def test_parse_and_list():
    q = QuirkConfig.parse(["amount_field=amont", "phone_type=number"])
    assert q.amount_field == "amont" and q.phone_type == "number" and q.sent_at_name == "mixed"
    assert QuirkConfig.all_variant("B").detail_wrapper == "bare"
    for bad in (["amount_field=nope"], ["nope=amount"], ["amount_field"]):
        with pytest.raises(ValueError):
            QuirkConfig.parse(bad)
    text = QuirkConfig.describe()
    assert all(name in text for name in QUIRKS)
