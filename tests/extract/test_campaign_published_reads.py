"""The campaign streams against recorded published bodies (tests/fixtures/api/campaign*
_published_*.json, served through `httpx.MockTransport`): the list is read at
`/api/campaigns` first and at the pages' `/api/campaign` only when that answers 404; one read
per listable type (sms, rcs, whatsapp); the detail's status is read from `{"data": {...}}`;
the detail stream plans the campaigns that messages show and no list can (Viber, HLR)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import httpx
import pytest

from bsg_analytics.raw import RawStore
from bsg_analytics.schemas.statuses import CAMPAIGN_LIST_TYPES
from bsg_analytics.streams import REGISTRY, RunContext
from bsg_analytics.streams import campaign_detail as detail_stream
from bsg_analytics.streams.campaign_detail import (
    detail_status,
    extract_campaign_details,
    unlisted_campaigns,
)
from bsg_analytics.streams.campaigns import (
    CAMPAIGN_TYPES,
    LIST_PATHS,
    extract_campaigns_window,
)
from bsg_client import BSGAPIError, split_windows
from tests.fixtures.fakebsg import FakeBSG, make_client, recorded

NOW = datetime(2024, 4, 10, 12, tzinfo=UTC)
(WINDOW,) = split_windows(date(2024, 4, 1), date(2024, 4, 8), 7, "UTC", NOW)
NOT_FOUND = json.dumps({"message": "Not Found"}).encode()
EMPTY = json.dumps({"data": [], "meta": {"page": {"total": 0, "offset": 0, "limit": 30}}})


class Server:
    """Answers by path (and `filter[type]` for the lists) from recorded bodies; records every
    request."""

    def __init__(self, routes: dict[str, bytes | dict[str, bytes]]):
        self.routes = routes
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.routes.get(request.url.path)
        if isinstance(answer, dict):
            answer = answer.get(request.url.params.get("filter[type]", "sms"), EMPTY.encode())
        if answer is None:
            return httpx.Response(404, content=NOT_FOUND)
        return httpx.Response(200, content=answer)

    def asked(self) -> list[tuple[str, str | None]]:
        return [(r.url.path, r.url.params.get("filter[type]")) for r in self.requests]


def client_for(server: Server):
    return make_client(FakeBSG(0), transport=httpx.MockTransport(server))


def lists(**by_type: str) -> dict[str, bytes]:
    return {t: recorded(f"campaigns_published_{name}.json") for t, name in by_type.items()}


def test_the_list_types_are_the_three_listable_ones():
    assert CAMPAIGN_TYPES == CAMPAIGN_LIST_TYPES == ("sms", "rcs", "whatsapp")
    assert REGISTRY["campaigns"].variants == ("sms", "rcs", "whatsapp")
    assert LIST_PATHS == ("/api/campaigns", "/api/campaign")
    assert REGISTRY["campaigns"].endpoints == LIST_PATHS


def test_every_listable_type_is_read_at_the_published_path(data_dir):
    server = Server({"/api/campaigns": lists(sms="sms", whatsapp="whatsapp")})
    store = RawStore(data_dir)
    with client_for(server) as client:
        results = {
            t: extract_campaigns_window(client, store, WINDOW, t, "run-1") for t in CAMPAIGN_TYPES
        }
        assert client.campaign_list_path == "/api/campaigns"
    assert server.asked() == [
        ("/api/campaigns", "sms"),
        ("/api/campaigns", "rcs"),
        ("/api/campaigns", "whatsapp"),
    ]
    assert results["sms"].campaign_statuses == {53651994: "done", 53651995: "moderation"}
    assert results["rcs"].campaign_statuses == {}
    assert results["whatsapp"].campaign_statuses == {53652001: "sending"}
    assert results["whatsapp"].group == f"{WINDOW.key}.type=whatsapp"
    landed = sorted((p.endpoint, p.params["filter[type]"]) for p in store.iter_pages(["campaigns"]))
    assert landed == [
        ("/api/campaigns", "rcs"),
        ("/api/campaigns", "sms"),
        ("/api/campaigns", "whatsapp"),
    ]


def test_the_pages_path_is_only_a_fallback_and_is_remembered(data_dir):
    server = Server({"/api/campaign": lists(sms="sms", whatsapp="whatsapp")})
    store = RawStore(data_dir)
    with client_for(server) as client:
        sms = extract_campaigns_window(client, store, WINDOW, "sms", "run-1")
        whatsapp = extract_campaigns_window(client, store, WINDOW, "whatsapp", "run-1")
        assert client.campaign_list_path == "/api/campaign"
    # one 404 from the published path, then the pages' spelling for every read
    assert server.asked() == [
        ("/api/campaigns", "sms"),
        ("/api/campaign", "sms"),
        ("/api/campaign", "whatsapp"),
    ]
    assert set(sms.campaign_statuses) == {53651994, 53651995}
    assert set(whatsapp.campaign_statuses) == {53652001}


def test_a_404_from_both_paths_is_an_error(data_dir):
    server = Server({})
    with client_for(server) as client, pytest.raises(BSGAPIError) as err:
        extract_campaigns_window(client, RawStore(data_dir), WINDOW, "sms", "run-1")
    assert err.value.status_code == 404
    assert server.asked() == [("/api/campaigns", "sms"), ("/api/campaign", "sms")]


@pytest.mark.parametrize("kind", ["viber", "hlr", "email"])
def test_a_type_no_list_shows_is_refused(data_dir, kind):
    with client_for(Server({})) as client, pytest.raises(ValueError, match="whatsapp"):
        extract_campaigns_window(client, RawStore(data_dir), WINDOW, kind, "run-1")


def test_published_details_give_their_statuses(data_dir):
    server = Server(
        {
            "/api/campaigns/53651994/detail": recorded("campaign_detail_published_details.json"),
            "/api/campaigns/53652100/detail": recorded("campaign_detail_published_viber.json"),
            "/api/campaigns/53652200/detail": recorded("campaign_detail_published_hlr.json"),
            "/api/campaigns/1/detail": recorded("campaign_detail_seed002.json"),
        }
    )
    store = RawStore(data_dir)
    with client_for(server) as client:
        res = extract_campaign_details(client, store, [53652200, 53651994, 53652100, 1, 9], "r")
    assert res.statuses == {
        1: "creation",
        53651994: "done",
        53652100: "done",
        53652200: "moderation",
    }
    assert res.not_found == [9] and res.pages == 4
    assert detail_status(json.loads(recorded("campaign_detail_published_whatsapp.json"))) == (
        "sending"
    )
    assert detail_status({"data": {"id": 1}}) is None


def test_unlisted_campaigns_are_those_of_types_no_list_shows():
    seen = {
        11: "viber",
        12: {"hlr"},
        13: ["sms"],
        14: {"viber", "sms"},  # a Viber campaign whose SMS fallbacks are messages too
        15: ("rcs", "whatsapp"),
        "16": "VIBER",
        0: "viber",
        -3: "hlr",
        "x": "viber",
    }
    assert unlisted_campaigns(seen) == {11, 12, 14, 16}
    assert unlisted_campaigns(None) == set() == unlisted_campaigns({})


def test_detail_ids_are_planned_from_lists_open_campaigns_and_messages():
    plan_ids = REGISTRY["campaign_detail"].plan_ids
    assert plan_ids is detail_stream._plan_ids
    context = RunContext(open_campaigns={5: "sending"}, seen={3: "done", 4: "sending"})
    # the messages stream has not told anything (or this version of it cannot)
    assert plan_ids(context) == [3, 4, 5]
    # campaign id -> the message types seen with it, as the messages stream records them
    context.message_campaigns = {7: {"viber"}, 8: {"sms"}, 3: {"hlr"}, 9: {"hlr"}}
    assert plan_ids(context) == [3, 4, 5, 7, 9]
