"""The retry policy at its edges: what is not retried, redirects, counted reasons."""

import httpx
import pytest

from bsg_client import BSGAPIError, BSGAuthError
from tests.fixtures.fakebsg import API, FakeBSG, make_client


def get_page(client):
    return client.get_list_page("/api/messages", {"page[limit]": 50})


def raising(exc_type):
    return lambda r: (_ for _ in ()).throw(exc_type("no", request=r))


@pytest.mark.parametrize("exc_type", [httpx.ProxyError, httpx.UnsupportedProtocol])
def test_transport_errors_waiting_cannot_mend_are_not_retried(exc_type):
    fake = FakeBSG(3)
    fake.fail(raising(exc_type))
    with make_client(fake) as client, pytest.raises(BSGAPIError) as err:
        get_page(client)
    assert len(fake.requests) == 1
    assert str(err.value).startswith(f"GET /api/messages: {exc_type.__name__}")
    assert not client.stats.retries


def test_each_retried_failure_is_counted_under_its_reason():
    fake = FakeBSG(3)
    fake.fail(raising(httpx.ReadTimeout))
    fake.fail(raising(httpx.ConnectError))
    fake.fail(lambda r: httpx.Response(502, text="<html>bad gateway</html>"))
    fake.fail(lambda r: httpx.Response(200, text="{"))
    fake.fail(lambda r: httpx.Response(429))
    with make_client(fake) as client:
        resp = get_page(client)
    assert resp.attempts == 6
    assert dict(client.stats.retries) == {
        "timeout": 1,
        "connection": 1,
        "502": 1,
        "bad body": 1,
        "429": 1,
    }
    assert client.stats.waits == []  # no Retry-After given: backoff, not a chosen wait
    assert client.stats.requests == 6
    assert client.stats.responses == {502: 1, 200: 2, 429: 1}


def test_retry_after_of_a_5xx_is_not_a_chosen_wait():
    fake = FakeBSG(3)
    fake.fail(lambda r: httpx.Response(503, headers={"Retry-After": "7"}))
    with make_client(fake) as client:
        get_page(client)
    assert client.stats.waits == []
    assert client.stats.retries["503"] == 1


def test_303_redirect_becomes_a_get_without_body_or_params():
    fake = FakeBSG(3)
    fake.fail(lambda r: httpx.Response(303, headers={"Location": "/api/messages?page[limit]=2"}))
    with make_client(fake) as client:
        resp = client.request("POST", "/api/messages", params={"x": 1}, json={"a": 1})
    first, second = fake.requests
    assert (first.method, second.method) == ("POST", "GET")
    assert second.content == b""
    assert "x" not in second.url.params
    assert second.headers["Authorization"] == first.headers["Authorization"]
    assert (resp.method, resp.endpoint, resp.params) == ("GET", "/api/messages", {})
    assert resp.attempts == 1


def test_redirects_are_followed_at_most_three_times():
    fake = FakeBSG(3)
    fake.fail_times(4, lambda r: httpx.Response(302, headers={"Location": f"{API}/api/messages"}))
    with make_client(fake) as client, pytest.raises(BSGAPIError) as err:
        get_page(client)
    assert len(fake.requests) == 4
    assert "GET /api/messages: HTTP 302 (unexpected answer)" in str(err.value)


def test_redirect_without_location_is_not_followed():
    fake = FakeBSG(3)
    fake.fail(lambda r: httpx.Response(307))
    with make_client(fake) as client, pytest.raises(BSGAPIError) as err:
        get_page(client)
    assert "(no Location); not followed" in str(err.value)
    assert err.value.status_code == 307


def test_legacy_accepts_a_4xx_error_body_but_not_html_or_auth():
    fake = FakeBSG(0)
    fake.legacy["/rest/sms/1"] = (404, b'{"error": 20, "errorDescription": "SMS not found"}')
    fake.legacy["/rest/sms/2"] = (404, b"<html>Not Found</html>")
    fake.legacy["/rest/sms/3"] = (403, b'{"error": 1, "errorDescription": "no"}')
    with make_client(fake) as client:
        resp = client.legacy_sms(1)
        assert resp.status_code == 404 and resp.data["error"] == 20
        with pytest.raises(BSGAPIError) as err:
            client.legacy_sms(2)
        assert err.value.status_code == 404
        with pytest.raises(BSGAuthError):
            client.legacy_sms(3)
    assert len(fake.requests) == 3
