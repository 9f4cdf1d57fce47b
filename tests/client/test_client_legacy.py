"""Legacy REST calls: getStatus (up to 100 ids), Viber by id and reference, and a refused
key (error 2 / 4 in an HTTP 200) raising the refused-credential error."""

import json
import logging
from pathlib import Path

import httpx
import pytest

from bsg_analytics.flows.run import describe_failure
from bsg_analytics.pipeline import extract_legacy
from bsg_analytics.raw import RawStore
from bsg_client import BSGAPIError, BSGAuthError
from bsg_client.client import LEGACY_STATUS_MAX_IDS
from tests.fixtures.fakebsg import LOGIN_KEY, REST, REST_KEY, TOKEN, FakeBSG, make_client

DATA = Path(__file__).parent / "data"
GET_STATUS = (DATA / "legacy_get_status_provider_example.json").read_bytes()
VIBER = (DATA / "legacy_viber_provider_example.json").read_bytes()


def refused(code, words: str = "Invalid API key") -> bytes:
    return json.dumps({"error": code, "errorDescription": words}).encode()


def test_get_status_posts_the_ids_as_json():
    fake = FakeBSG(0)
    fake.legacy["/rest/sms/getStatus"] = (200, GET_STATUS)
    with make_client(fake) as client:
        resp = client.legacy_sms_status([123, "124", " 125 "])
    (req,) = fake.requests
    assert (req.method, str(req.url)) == ("POST", f"{REST}/rest/sms/getStatus")
    assert json.loads(req.content) == {"ids": [123, 124, 125]}
    assert req.headers["X-API-KEY"] == REST_KEY and "Authorization" not in req.headers
    assert req.headers["Content-Type"] == "application/json"
    assert resp.label == "POST /rest/sms/getStatus" and resp.params == {}
    assert resp.body == GET_STATUS  # byte for byte
    assert [r["id"] for r in resp.data["result"]] == ["123", "123"]


def test_get_status_takes_at_most_100_ids_a_call():
    fake = FakeBSG(0)
    fake.legacy["/rest/sms/getStatus"] = (200, b'{"result": []}')
    with make_client(fake) as client:
        client.legacy_sms_status(range(1, LEGACY_STATUS_MAX_IDS + 1))
        assert len(json.loads(fake.requests[0].content)["ids"]) == 100
        with pytest.raises(ValueError, match="101 ids given, at most 100 a call; send them in"):
            client.legacy_sms_status(range(1, 102))
        with pytest.raises(ValueError, match="no SMS id given"):
            client.legacy_sms_status([])
        for bad in ("abc", 0, -3, True, 1.5, "1e3", "١٢"):
            with pytest.raises(ValueError, match="is not an SMS id"):
                client.legacy_sms_status([1, bad])
    assert len(fake.requests) == 1


def test_viber_by_id_and_by_reference():
    fake = FakeBSG(0)
    fake.legacy["/rest/viber/9"] = (200, VIBER)
    fake.legacy["/rest/viber/reference/viber_ref_125"] = (200, VIBER)
    with make_client(fake) as client:
        by_id = client.legacy_viber(9)
        by_ref = client.legacy_viber_by_reference("viber_ref_125")
    assert [(r.method, r.url.path) for r in fake.requests] == [
        ("GET", "/rest/viber/9"),
        ("GET", "/rest/viber/reference/viber_ref_125"),
    ]
    assert by_id.data["alt_route"][0] == {
        "price": 0.03, "channel": "sms", "id": "10", "status": "delivered",
    }  # fmt: skip
    assert by_ref.label == "GET /rest/viber/reference/viber_ref_125"


def test_a_reference_stays_one_path_segment():
    fake = FakeBSG(0)
    with make_client(fake) as client:
        client.legacy_sms_by_reference("a/b?c#d")
        client.legacy_viber_by_reference("x y")
    assert [r.url.raw_path for r in fake.requests] == [
        b"/rest/sms/reference/a%2Fb%3Fc%23d",
        b"/rest/viber/reference/x%20y",
    ]


def test_task_path_shapes():
    fake = FakeBSG(0)
    with make_client(fake) as client:
        client.legacy_task(501)
        client.legacy_task(502, "plain")
        with pytest.raises(ValueError, match="path_shape must be 'task' or 'plain'"):
            client.legacy_task(503, "other")
    assert [r.url.path for r in fake.requests] == ["/rest/sms/task/501", "/rest/sms/502"]


CALLS = [
    ("GET /rest/sms/5", "/rest/sms/5", lambda c: c.legacy_sms(5)),
    ("GET /rest/sms/reference/r1", "/rest/sms/reference/r1",
     lambda c: c.legacy_sms_by_reference("r1")),
    ("GET /rest/sms/task/7", "/rest/sms/task/7", lambda c: c.legacy_task(7)),
    ("GET /rest/sms/7", "/rest/sms/7", lambda c: c.legacy_task(7, "plain")),
    ("POST /rest/sms/getStatus", "/rest/sms/getStatus", lambda c: c.legacy_sms_status([1, 2])),
    ("GET /rest/viber/9", "/rest/viber/9", lambda c: c.legacy_viber(9)),
    ("GET /rest/viber/reference/v1", "/rest/viber/reference/v1",
     lambda c: c.legacy_viber_by_reference("v1")),
]  # fmt: skip


@pytest.mark.parametrize(("label", "path", "call"), CALLS, ids=[c[0] for c in CALLS])
@pytest.mark.parametrize(
    ("code", "words"),
    [(2, "Invalid API key"), ("2", "Invalid API key"), (4, "Account blocked"), (" 4", "")],
)
def test_an_invalid_key_or_blocked_account_is_a_refused_credential(label, path, call, code, words):
    fake = FakeBSG(0)
    echoed = f"{words} ({REST_KEY})\nsecond line" if words else ""
    fake.legacy[path] = (200, refused(code, echoed))
    with make_client(fake) as client, pytest.raises(BSGAuthError) as err:
        call(client)
    text = str(err.value)
    said = {2: "Invalid API key", 4: "Account blocked"}[int(str(code))]
    expected = f"the legacy REST key was refused ({label}: error {int(str(code))}, "
    assert text.startswith(expected + (f"{said} (***) second line)" if words else f"{said})"))
    assert text.endswith("; check BSG_API_KEY")
    assert "\n" not in text and REST_KEY not in text and REST_KEY not in repr(err.value)
    assert err.value.status_code == 200 and err.value.endpoint == label
    assert REST_KEY not in (err.value.api_message or "")
    assert describe_failure(err.value) == (3, text)
    assert len(fake.requests) == 1  # not retried


@pytest.mark.parametrize("status", [401, 403])
def test_an_http_401_or_403_of_legacy_rest_says_the_same(status):
    fake = FakeBSG(0)
    fake.legacy["/rest/sms/5"] = (status, refused(1, f"Bad key {REST_KEY}"))
    with make_client(fake) as client, pytest.raises(BSGAuthError) as err:
        client.legacy_sms(5)
    assert str(err.value) == (
        f"the legacy REST key was refused (GET /rest/sms/5: HTTP {status}, Bad key ***); "
        "check BSG_API_KEY"
    )


def test_a_one_api_401_keeps_its_own_words():
    fake = FakeBSG(1, tokens=set())
    with make_client(fake) as client, pytest.raises(BSGAuthError) as err:
        client.get_list_page("/api/messages", {})
    assert "GET /api/messages: the API refused the bearer token (401)" in str(err.value)
    assert "legacy" not in str(err.value)


def test_no_legacy_key_is_said_before_asking():
    fake = FakeBSG(0)
    with make_client(fake, rest_api_key=None) as client, pytest.raises(BSGAuthError) as err:
        client.legacy_viber(9)
    assert str(err.value) == "no legacy REST key: set BSG_API_KEY"
    assert fake.requests == []


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (200, b'{"error": 20, "errorDescription": "SMS not found"}'),
        (200, b'{"error": "25", "errorDescription": "Invalid originator"}'),
        (200, b'{"error": 40, "errorDescription": "Message not found"}'),
        (400, b'{"error": "3", "errorDescription": "Something else"}'),
    ],
)
def test_other_codes_are_answers_of_one_lookup(status, body):
    fake = FakeBSG(0)
    fake.legacy["/rest/viber/9"] = (status, body)
    with make_client(fake) as client:
        resp = client.legacy_viber(9)
    assert (resp.status_code, resp.body) == (status, body)


def test_a_refused_key_ends_the_lookups_at_the_first_one(data_dir, caplog):
    """Through the lookup streams: one clear error, not one per id."""
    caplog.set_level(logging.DEBUG)
    fake = FakeBSG(0)
    body = refused("2", f"Invalid API key {REST_KEY}")
    for path in ("/rest/sms/getStatus", "/rest/sms/1", "/rest/sms/2", "/rest/sms/3"):
        fake.legacy[path] = (200, body)  # whichever the lookup streams ask first
    with make_client(fake) as client, pytest.raises(BSGAuthError) as err:
        extract_legacy(client, RawStore(data_dir), "run-1", sms_ids=[1, 2, 3])
    (req,) = fake.requests
    label = f"{req.method} {req.url.path}"
    assert str(err.value) == (
        f"the legacy REST key was refused ({label}: error 2, Invalid API key ***); "
        "check BSG_API_KEY"
    )
    assert list(RawStore(data_dir).iter_pages()) == []
    for secret in (REST_KEY, TOKEN, LOGIN_KEY):
        assert secret not in caplog.text


def test_a_server_error_of_get_status_is_retried():
    fake = FakeBSG(0)
    fake.fail(lambda r: httpx.Response(500, json={"code": 500, "message": "internal"}))
    fake.legacy["/rest/sms/getStatus"] = (200, GET_STATUS)
    with make_client(fake) as client:
        resp = client.legacy_sms_status([123])
    assert resp.attempts == 2
    assert [json.loads(r.content) for r in fake.requests] == [{"ids": [123]}] * 2


def test_a_legacy_transport_failure_is_not_a_refused_key():
    fake = FakeBSG(0)
    fake.fail(lambda r: httpx.Response(404, text="<html>nope</html>"))
    with make_client(fake) as client, pytest.raises(BSGAPIError) as err:
        client.legacy_viber(9)
    assert not isinstance(err.value, BSGAuthError)
    assert err.value.status_code == 404
