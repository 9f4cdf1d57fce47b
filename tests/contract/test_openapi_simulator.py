"""The simulator against our description (schemas/openapi.yaml): every route it serves is
described (method and path) and every described path is served; every answer it gives
validates (jsonschema, Draft 2020-12, the description's components attached) for the default
(published) simulator (against the published branch alone: no pages' variant may show), with
every quirk pinned to the pages' variants, with every quirk mixed, and with each quirk on its
own. The answers asked: message pages of a whole window (all five channels), a typed request,
a page of 500; the campaign list of each `filter[type]` and under the pages' path; the detail
of every campaign (each type, with and without fallback); login and refresh; every legacy
endpoint (SMS by id and reference, getStatus, the task by both paths, Viber by id and
reference), found and not found; and the error answers (401, 404, 422, a refused legacy key,
the injected 429/500/502/503).

Besides validation, the published simulator's answers are checked for what the provider's
files say of them: five channels, SMS and Viber fallbacks that are themselves listed
messages, money with 2 and 7 decimals, `{"data": ...}` details with `[]` or a fallback, three
listable campaign types, getStatus listing the asked ids that exist, and HTTP 200 with error
2 for a refused legacy key.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

import httpx
import pytest

from bsg_analytics.schemas.statuses import CAMPAIGN_LIST_TYPES, CHANNELS
from bsg_simulator.config import FAULT_KINDS, QUIRKS, QuirkConfig
from bsg_simulator.testing import inprocess_transport, make_simulator

from .spec import HTML, JSON, answer_errors, published_spec, spec, template_key

BEARER = {"Authorization": "Bearer test-token"}
KEY = {"X-API-KEY": "test_key"}
BAD_KEY = {"X-API-KEY": "nope"}
# the last 3 months of the fixed test data (TEST_NOW is 2026-11-20 12:00 UTC)
WINDOW = {"filter[from]": "2026-08-21 00:00:00", "filter[to]": "2026-11-20 12:00:00"}
MESSAGES = 3_000
UNKNOWN_ID = "999999999999"


# ------------------------------------------------------------------------------ quirk modes
def _pages_all() -> str:
    """The `--quirk all=...` that pins every quirk to the pages' variants."""
    for variant in ("pages", "B"):
        try:
            QuirkConfig.parse([f"all={variant}"])
        except (ValueError, KeyError):
            continue
        return f"all={variant}"
    raise AssertionError("no `all=` setting pins the quirks to the pages' variants")


def _variants(name: str) -> list[str]:
    """A quirk's variants but the published one (its first, the default)."""
    variants, _doc = QUIRKS[name]
    assert getattr(QuirkConfig(), name) == variants[0]
    return list(variants[1:])


MODES: dict[str, list[str]] = {
    "published": [],
    "pages": [_pages_all()],
    "mixed": ["all=mixed"],
    **{f"{q}={v}": [f"{q}={v}"] for q in QUIRKS for v in _variants(q)},
}


# ---------------------------------------------------------------------------------- answers
@dataclass(frozen=True)
class Answer:
    path: str  # the described path (template)
    method: str
    label: str  # what was asked
    status: int
    content_type: str
    body: Any

    @classmethod
    def of(cls, path: str, r: httpx.Response) -> Answer:
        ctype = r.headers.get("content-type", "").split(";")[0].strip()
        body = r.json() if ctype == JSON else r.text
        label = f"{r.request.method} {r.request.url.raw_path.decode()}"
        return cls(path, r.request.method.lower(), label, r.status_code, ctype, body)


def _client(sim) -> httpx.Client:
    return httpx.Client(transport=inprocess_transport(sim), base_url="http://bsg.test")


def _message_pages(
    c: httpx.Client, out: list[Answer], typed: str | None = None
) -> list[dict[str, Any]]:
    """Every message of the window (of one `filter[type]` when typed), 500 a page."""
    records, offset = [], 0
    while True:
        params: dict[str, Any] = {**WINDOW, "page[limit]": 500, "page[offset]": offset}
        if typed:
            params["filter[type]"] = typed
        r = c.get("/api/messages", params=params, headers=BEARER)
        out.append(Answer.of("/api/messages", r))
        assert r.status_code == 200, r.text
        page = r.json()
        records += page["data"]
        offset += 500
        if offset >= page["meta"]["page"]["total"]:
            return records


def _ids(records: list[dict[str, Any]], channel: str, n: int) -> list[dict[str, Any]]:
    return [m for m in records if m.get("type") == channel][:n]


def collect(sim) -> tuple[list[Answer], list[dict[str, Any]]]:
    """(every answer asked of `sim`, the window's message records)."""
    out: list[Answer] = []

    def ask(path: str, method: str, url: str, **kw: Any) -> httpx.Response:
        r = c.request(method, url, **kw)
        out.append(Answer.of(path, r))
        return r

    with _client(sim) as c:
        # messages: the window, and each type of it (a server may honour filter[type])
        by_id = {m["id"]: m for m in _message_pages(c, out)}
        for t in CHANNELS:
            if t in {m["type"] for m in by_id.values()}:  # one typed page is enough
                params = {**WINDOW, "filter[type]": t, "page[limit]": 15}
                ask("/api/messages", "GET", "/api/messages", params=params, headers=BEARER)
            else:  # the listing was typed (the server honours filter[type]): this type's
                by_id.update((m["id"], m) for m in _message_pages(c, out, t))
        records = sorted(by_id.values(), key=lambda m: m["id"])
        unknown_type = {**WINDOW, "filter[type]": "fax"}
        ask("/api/messages", "GET", "/api/messages", params=unknown_type, headers=BEARER)
        ask("/api/messages", "GET", "/api/messages", params={"page[limit]": 9}, headers=BEARER)
        ask("/api/messages", "GET", "/api/messages", params={"page[limit]": 501}, headers=BEARER)
        bad_from = {"filter[from]": "yesterday"}
        ask("/api/messages", "GET", "/api/messages", params=bad_from, headers=BEARER)
        ask("/api/messages", "GET", "/api/messages")
        ask("/api/messages", "GET", "/api/messages", headers={"Authorization": "Basic x"})
        # campaigns
        for kind in (*CAMPAIGN_LIST_TYPES, None):
            typed = {"filter[type]": kind} if kind else {}
            params = {**WINDOW, "page[limit]": 500, **typed}
            ask("/api/campaigns", "GET", "/api/campaigns", params=params, headers=BEARER)
            ask("/api/campaign", "GET", "/api/campaign", params=params, headers=BEARER)
        search = {"search[field]": "sender", "search[value]": "a", "page[limit]": 30}
        ask("/api/campaigns", "GET", "/api/campaigns", params=search, headers=BEARER)
        ask("/api/campaigns", "GET", "/api/campaigns", params={"page[limit]": 15}, headers=BEARER)
        ask("/api/campaigns", "GET", "/api/campaigns", params={"filter[type]": "fax"},
            headers=BEARER)  # fmt: skip
        ask("/api/campaigns", "GET", "/api/campaigns")
        detail = "/api/campaigns/{id}/detail"
        for cid in sim.ground_truth_campaigns()["campaign_id"].to_list():
            ask(detail, "GET", f"/api/campaigns/{cid}/detail", headers=BEARER)
        ask(detail, "GET", f"/api/campaigns/{UNKNOWN_ID}/detail", headers=BEARER)
        ask(detail, "GET", "/api/campaigns/x/detail", headers=BEARER)
        ask(detail, "GET", "/api/campaigns/1/detail")
        # auth
        r = ask("/api/auth/login", "POST", "/api/auth/login", json={"api_key": "test_a"})
        token = r.json().get("bearer") if r.status_code == 200 else "none"
        ask("/api/auth/login", "POST", "/api/auth/login", json={})
        ask("/api/auth/login", "POST", "/api/auth/login", json={"api_key": "nope"})
        ask("/api/auth/refresh", "POST", "/api/auth/refresh",
            headers={"Authorization": f"Bearer {token}"})  # fmt: skip
        ask("/api/auth/refresh", "POST", "/api/auth/refresh")
        # legacy: SMS, by id and reference, one by one and through getStatus
        sms = _ids(records, "sms", 25)
        for m in sms:
            ask("/rest/sms/{id}", "GET", f"/rest/sms/{m['id']}", headers=KEY)
            if m.get("reference_id"):
                ask("/rest/sms/reference/{reference}", "GET",
                    f"/rest/sms/reference/{m['reference_id']}", headers=KEY)  # fmt: skip
        for raw in (UNKNOWN_ID, "x"):
            ask("/rest/sms/{id}", "GET", f"/rest/sms/{raw}", headers=KEY)
        for ref in ("ext0000000000000", "a-b"):
            ask("/rest/sms/reference/{reference}", "GET", f"/rest/sms/reference/{ref}",
                headers=KEY)  # fmt: skip
        status = "/rest/sms/getStatus"
        ids = [int(m["id"]) for m in sms]
        ask(status, "POST", status, json={"ids": [*ids, int(UNKNOWN_ID)]}, headers=KEY)
        many = [int(m["id"]) for m in records if m.get("type") == "sms"][:100]
        ask(status, "POST", status, json={"ids": many}, headers=KEY)
        ask(status, "POST", status, json={"ids": [int(UNKNOWN_ID)]}, headers=KEY)
        # tasks, by the published path and the page's
        for task in [*map(str, sim.task_ids()[:6].tolist()), "5", "x"]:
            ask("/rest/sms/task/{taskId}", "GET", f"/rest/sms/task/{task}", headers=KEY)
            ask("/rest/sms/{id}", "GET", f"/rest/sms/{task}", headers=KEY)
        # Viber
        for m in _ids(records, "viber", 25):
            ask("/rest/viber/{id}", "GET", f"/rest/viber/{m['id']}", headers=KEY)
            if m.get("reference_id"):
                ask("/rest/viber/reference/{reference}", "GET",
                    f"/rest/viber/reference/{m['reference_id']}", headers=KEY)  # fmt: skip
        for m in sms[:2]:  # an SMS is no Viber message
            ask("/rest/viber/{id}", "GET", f"/rest/viber/{m['id']}", headers=KEY)
        ask("/rest/viber/{id}", "GET", f"/rest/viber/{UNKNOWN_ID}", headers=KEY)
        ask("/rest/viber/reference/{reference}", "GET", "/rest/viber/reference/nothing1",
            headers=KEY)  # fmt: skip
        _exports(sim, ask)
        # a refused legacy key, and none at all
        for headers in (BAD_KEY, {}):
            ask("/rest/sms/{id}", "GET", f"/rest/sms/{sms[0]['id']}", headers=headers)
            ask(status, "POST", status, json={"ids": ids[:3]}, headers=headers)
            ask("/rest/sms/task/{taskId}", "GET", f"/rest/sms/task/{sim.task_ids()[0]}",
                headers=headers)  # fmt: skip
            ask("/rest/viber/{id}", "GET", f"/rest/viber/{sms[0]['id']}", headers=headers)
    return out, records


def _exports(sim, ask) -> None:
    """The statistics export jobs (pending, the two-job limit, ready, listed, deleted,
    unknown, bad bodies) on a wall clock of the test's own, and the balance."""
    wall = [0.0]
    sim.export_jobs.wall = lambda: wall[0]
    jobs, job = "/api/stat/jobs", "/api/stat/jobs/{id}"
    window = {"type": "params", "time_in_from": WINDOW["filter[from]"],
              "time_in_to": WINDOW["filter[to]"]}  # fmt: skip
    first = ask(jobs, "POST", jobs, json=window, headers=BEARER).json()["key"]
    ask(job, "GET", f"{jobs}/{first}", headers=BEARER)  # pending
    ids = {"type": "message", "message_id": [100_000_001, 100_000_002, int(UNKNOWN_ID)]}
    second = ask(jobs, "POST", jobs, json=ids, headers=BEARER).json()["key"]
    ask(jobs, "POST", jobs, json=window, headers=BEARER)  # the limit
    ask(jobs, "GET", jobs, headers=BEARER)
    wall[0] += sim.config.export_ready_seconds
    for key in (first, second):
        ask(job, "GET", f"{jobs}/{key}", headers=BEARER)
    ask(jobs, "GET", jobs, headers=BEARER)
    for key in (first, first, "0123456789abcdef01"):
        ask(job, "DELETE", f"{jobs}/{key}", headers=BEARER)
    ask(job, "GET", f"{jobs}/{first}", headers=BEARER)
    for bad in ({}, {"type": "params"}, {**window, "time_in_from": "2026-01-01 00:00:00"},
                {**window, "time_in_to": "2027-01-01 00:00:00"}, {"type": "fax"}, [1]):  # fmt: skip
        ask(jobs, "POST", jobs, json=bad, headers=BEARER)
    ask(jobs, "GET", jobs)
    ask(job, "GET", f"{jobs}/{second}")
    ask("/api/accounts/balance", "GET", "/api/accounts/balance", headers=BEARER)
    ask("/api/accounts/balance", "GET", "/api/accounts/balance")
    sim.export_jobs.wall = time.monotonic


@cache
def answers(mode: str) -> tuple[list[Answer], list[dict[str, Any]]]:
    # an export job pending for a second (make_simulator's are ready at once)
    return collect(make_simulator(messages=MESSAGES, quirks=MODES[mode], export_ready_seconds=1.0))


def _invalid(items: list[Answer], published_only: bool) -> list[str]:
    """Why each answer does not meet the description. Against the published branch alone, a
    path that only a quirk serves (the pages' `/api/campaign`) must answer 404."""
    out = []
    for a in items:
        path, status = a.path, a.status
        if published_only and path not in published_spec()["paths"]:
            if status != 404:
                out.append(f"{a.label}: a quirk's path answers {status}, not 404")
                continue
            path = "/api/campaigns/{id}/detail"  # any path with the One API's 404
        for why in answer_errors(
            path, a.method, status, a.content_type, a.body, published_only=published_only
        ):
            out.append(f"{a.label}: {why}")
    return out


def _report(errors: list[str], limit: int = 25) -> str:
    head = "\n".join(errors[:limit])
    return f"{len(errors)} invalid answers:\n{head}" + ("\n..." if len(errors) > limit else "")


# ------------------------------------------------------------------------------- the routes
def _described() -> set[tuple[str, str]]:
    return {
        (template_key(path), method.upper())
        for path, item in spec()["paths"].items()
        for method in item
        if method in ("get", "post", "put", "delete", "patch")
    }


def test_every_route_is_described_and_every_described_path_served():
    sim = make_simulator(messages=200)
    served = {
        (template_key(route.path), m)
        for route in sim.app.routes
        for m in (route.methods or set()) - {"HEAD"}
    }
    assert served - _described() == set(), "served but not described"
    assert _described() - served == set(), "described but not served"


# --------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    "mode",
    [
        "published",
        pytest.param("pages", marks=pytest.mark.slow),
        pytest.param("mixed", marks=pytest.mark.slow),
    ],
)
def test_answers_validate(mode):
    items, _ = answers(mode)
    assert len(items) > 100
    errors = _invalid(items, published_only=mode == "published")
    assert errors == [], _report(errors)


QUIRK_MODES = [m for m in MODES if m not in ("published", "pages", "mixed")]


@pytest.mark.parametrize("kind", [k for k in FAULT_KINDS if k[:3].isdigit()])
def test_fault_answers_are_described(kind):
    """The injected 429s, 500 and 502/503 HTML pages, on both API families."""
    sim = make_simulator(messages=200, fault_rate=1.0, fault_kinds=(kind,))
    with _client(sim) as c:
        asked = [
            ("/api/messages", c.get("/api/messages", headers=BEARER)),
            ("/api/campaigns", c.get("/api/campaigns", headers=BEARER)),
            ("/api/campaigns/{id}/detail", c.get("/api/campaigns/1/detail", headers=BEARER)),
            ("/rest/sms/{id}", c.get("/rest/sms/1", headers=KEY)),
            ("/rest/sms/getStatus", c.post("/rest/sms/getStatus", json={"ids": [1]},
                                           headers=KEY)),
            ("/rest/viber/{id}", c.get("/rest/viber/1", headers=KEY)),
            ("/api/stat/jobs", c.post("/api/stat/jobs", json={"type": "params"}, headers=BEARER)),
            ("/api/stat/jobs", c.get("/api/stat/jobs", headers=BEARER)),
            ("/api/stat/jobs/{id}", c.get("/api/stat/jobs/ab", headers=BEARER)),
            ("/api/stat/jobs/{id}", c.delete("/api/stat/jobs/ab", headers=BEARER)),
            ("/api/accounts/balance", c.get("/api/accounts/balance", headers=BEARER)),
        ]  # fmt: skip
    items = [Answer.of(p, r) for p, r in asked]
    assert {a.status for a in items} == {int(kind[:3])}
    assert {a.content_type for a in items} == {HTML if "html" in kind else JSON}
    errors = _invalid(items, published_only=True)
    assert errors == [], _report(errors)


# ------------------------------------------------- what the published simulator answers
def _published() -> tuple[list[Answer], list[dict[str, Any]]]:
    return answers("published")


def _where(path: str, status: int = 200) -> Iterator[Answer]:
    return (a for a in _published()[0] if a.path == path and a.status == status)


def test_published_messages_cover_every_channel_and_fallback():
    _, records = _published()
    assert {m["type"] for m in records} == set(CHANNELS)
    by_id = {m["id"]: m for m in records}
    fallbacks: dict[str, int] = {}
    for m in records:
        alt = m.get("alternative_channels")
        if not alt:
            continue
        ((channel, sent),) = alt.items()
        fallbacks[channel] = fallbacks.get(channel, 0) + 1
        for fid in sent["id"]:  # a fallback is itself a listed message, of that channel
            assert fid in by_id and by_id[fid]["type"] == channel, (m["id"], channel, fid)
    assert set(fallbacks) == {"sms", "viber"}


def test_published_money_has_2_and_7_decimals():
    _, records = _published()
    decimals = {len(m["amount"]["value"].split(".")[1]) for m in records}
    decimals |= {
        len(a.body["data"]["total_price"].split(".")[1])
        for a in _where("/api/campaigns/{id}/detail")
    }
    assert decimals == {2, 7}


def test_published_campaign_list_by_type():
    listed: dict[str, set[str]] = {}
    for a in _where("/api/campaigns"):
        wanted = re.search(r"filter%5Btype%5D=(\w+)|filter\[type\]=(\w+)", a.label)
        if wanted and a.body["data"]:
            t = wanted.group(1) or wanted.group(2)
            listed[t] = {rec["message_type"] for rec in a.body["data"]}
            assert all("currency" in rec for rec in a.body["data"])
    assert listed == {t: {t} for t in CAMPAIGN_LIST_TYPES}


def test_published_details_of_every_type_with_and_without_fallback():
    details = [a.body for a in _where("/api/campaigns/{id}/detail")]
    assert details and all(set(d) == {"data"} for d in details)
    types = {d["data"]["type"] for d in details}
    assert types >= set(CAMPAIGN_LIST_TYPES)
    fallback = {
        "none" if d["data"]["alternative_channels"] in ([], None) else "sms" for d in details
    }
    assert fallback == {"none", "sms"}


def test_published_get_status_lists_the_asked_ids_that_exist():
    _, records = _published()
    sms_ids = {str(m["id"]) for m in records if m["type"] == "sms"}
    seen = 0
    for a in _where("/rest/sms/getStatus"):
        if "result" not in a.body:
            continue
        listed = [str(item["id"]) for item in a.body["result"]]
        assert len(listed) == len(set(listed)) and set(listed) <= sms_ids
        seen += len(listed)
    assert seen >= 100


def test_published_refused_legacy_key_is_error_2_with_http_200():
    """A refused key (or none) is not an HTTP error on the legacy API: 200, error 2."""
    sim = make_simulator(messages=600, api_key="test_right")
    with _client(sim) as c:
        for headers in (BAD_KEY, {"X-API-KEY": "test_wrong"}, {}):
            asked = [
                c.get("/rest/sms/1", headers=headers),
                c.get("/rest/sms/reference/abc", headers=headers),
                c.post("/rest/sms/getStatus", json={"ids": [1, 2]}, headers=headers),
                c.get("/rest/sms/task/1", headers=headers),
                c.get("/rest/viber/1", headers=headers),
                c.get("/rest/viber/reference/abc", headers=headers),
            ]
            for r in asked:
                assert r.status_code == 200, (r.request.url, r.status_code, r.text)
                body = r.json()
                assert int(body["error"]) == 2, (r.request.url, body)
                assert body["errorDescription"] == "Invalid API key"


def test_published_one_api_errors():
    items = _published()[0]
    assert {a.status for a in items if a.path == "/api/messages" and a.status != 200} == {
        401,
        422,
    }
    assert any(a.path == "/api/campaigns/{id}/detail" and a.status == 404 for a in items)
    assert {a.status for a in items if a.path.startswith("/api/auth/")} == {200, 401, 422}


def test_published_exports_and_balance():
    """Every answer of the export jobs was asked: a key, the limit, pending, ready rows (of
    the window, and of ids: the unknown one left out), the list, deleted, error 90, 422s,
    401s; and the balance."""
    items = _published()[0]
    bodies = [a.body for a in items if a.path.startswith("/api/stat/jobs") and a.status == 200]
    assert sum("key" in b for b in bodies) == 2
    assert {"error": 0, "errorDescription": "Maximum count of exports reached"} in bodies
    assert {"error": 0, "status": "In progress"} in bodies
    done = [b for b in bodies if b.get("status") == "Done"]
    assert len(done) == 2 and len(done[0]["result"]) > 500
    assert [r["message_id"] for r in done[1]["result"]] == ["100000001", "100000002"]
    assert {"error": 0, "errorDescription": "No errors"} in bodies
    assert bodies.count({"error": 90, "errorDescription": "File not found"}) == 3
    lists = [b["result"] for b in bodies if "result" in b and "status" not in b]
    assert [[j["status"] for j in jobs] for jobs in lists] == [
        ["In progress", "In progress"],
        ["Done", "Done"],
    ]
    statuses = {a.status for a in items if a.path.startswith("/api/stat/jobs")}
    assert statuses == {200, 401, 422}
    (balance,) = [a.body for a in items if a.path == "/api/accounts/balance" and a.status == 200]
    assert set(balance["data"]) == {"balance", "currency", "credit"}


def _quirks_described(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["x-quirk"]} if "x-quirk" in node else set()
        return found.union(*(_quirks_described(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_quirks_described(v) for v in node))
    return set()


def test_the_described_quirks_are_the_simulators():
    """Each `x-quirk` names a simulator quirk, and each simulator quirk that changes a shape
    is described (a field's presence, and a choice between published shapes, are not)."""
    described = _quirks_described(spec())
    assert described <= set(QUIRKS), described - set(QUIRKS)
    assert set(QUIRKS) - described == {"country_field", "parts_field", "detail_no_fallback"}


# quirks whose pages' variant leaves every answer within the published branch: a field's
# presence, a choice between two published shapes, and server behaviours (what is listed)
SHAPELESS = {
    "country_field",
    "parts_field",
    "detail_no_fallback",
    "messages_type_filter",
    "list_search",
}


@pytest.mark.slow
@pytest.mark.parametrize("mode", QUIRK_MODES)
def test_answers_validate_with_one_quirk(mode):
    """Each quirk on its own: every answer validates, and the published-branch check sees the
    pages' variant (answers the published branch refuses, the quirk's own branch takes)."""
    items, _ = collect(make_simulator(messages=300, quirks=MODES[mode]))
    errors = _invalid(items, published_only=False)
    assert errors == [], _report(errors)
    refused = _invalid(items, published_only=True)
    if mode.split("=")[0] in SHAPELESS:
        assert refused == [], _report(refused)
    else:
        assert refused, f"{mode}: every answer is within the published branch"
