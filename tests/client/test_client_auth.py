import threading

import httpx
import pytest

from bsg_analytics.settings import Settings
from bsg_client import BSGAuthError, BSGClient
from tests.fixtures.fakebsg import (
    API,
    LOGIN_KEY,
    REST,
    REST_KEY,
    TOKEN,
    FakeBSG,
    make_client,
    recorded,
)


def test_login_key_exchanged_for_bearer():
    fake = FakeBSG(3, tokens=set())
    with make_client(fake, api_token=None, api_login_key=LOGIN_KEY) as client:
        client.get_list_page("/api/messages", {})
        client.get_list_page("/api/messages", {})
    paths = [r.url.path for r in fake.requests]
    assert paths == ["/api/auth/login", "/api/messages", "/api/messages"]
    assert fake.requests[0].method == "POST"
    assert fake.requests[1].headers["Authorization"] == "Bearer issued-SECRET-0001"
    assert client.stats.logins == 1


def test_renewed_once_after_401_via_refresh():
    fake = FakeBSG(3, tokens=set())
    with make_client(fake, api_token=None, api_login_key=LOGIN_KEY) as client:
        client.get_list_page("/api/messages", {})
        fake.expire_tokens()
        resp = client.get_list_page("/api/messages", {})
    assert resp.status_code == 200
    paths = [r.url.path for r in fake.requests]
    assert paths == [
        "/api/auth/login",
        "/api/messages",
        "/api/messages",  # 401
        "/api/auth/refresh",
        "/api/messages",
    ]
    assert fake.requests[-1].headers["Authorization"] == "Bearer issued-SECRET-0002"
    assert client.stats.renewals == 1


def test_refresh_refused_then_new_login():
    fake = FakeBSG(3, tokens=set())
    fake.refresh_ok = False
    with make_client(fake, api_token=TOKEN, api_login_key=LOGIN_KEY) as client:
        fake.expire_tokens()
        client.get_list_page("/api/messages", {})
    paths = [r.url.path for r in fake.requests]
    assert paths == ["/api/messages", "/api/auth/refresh", "/api/auth/login", "/api/messages"]


def test_second_401_after_renewal_fails_without_loop():
    fake = FakeBSG(3, tokens=set())
    fake.fail_times(
        5, lambda r: httpx.Response(401, content=recorded("error_401.json")), "/api/messages"
    )
    client = make_client(fake, api_token=None, api_login_key=LOGIN_KEY)
    with client, pytest.raises(BSGAuthError) as err:
        client.get_list_page("/api/messages", {})
    assert "401" in str(err.value) and "GET /api/messages" in str(err.value)
    assert len([r for r in fake.requests if r.url.path == "/api/messages"]) == 2
    for secret in (LOGIN_KEY, "issued-SECRET-0001", "issued-SECRET-0002"):
        assert secret not in str(err.value)


def test_bad_login_key_is_clear_and_scrubbed():
    fake = FakeBSG(3, tokens=set())
    fake.fail(
        lambda r: httpx.Response(401, json={"message": f"bad key {LOGIN_KEY}"}), "/api/auth/login"
    )
    client = make_client(fake, api_token=None, api_login_key=LOGIN_KEY)
    with client, pytest.raises(BSGAuthError) as err:
        client.get_list_page("/api/messages", {})
    assert "BSG_API_LOGIN_KEY" in str(err.value)
    assert LOGIN_KEY not in str(err.value)


def test_no_credentials_is_clear():
    fake = FakeBSG(3)
    with make_client(fake, api_token=None) as client, pytest.raises(BSGAuthError) as err:
        client.get_list_page("/api/messages", {})
    assert "BSG_API_TOKEN" in str(err.value)
    assert fake.requests == []


def test_concurrent_401s_renew_once():
    fake = FakeBSG(3, tokens=set())
    with make_client(fake, api_token=None, api_login_key=LOGIN_KEY, concurrency=8) as client:
        client.get_list_page("/api/messages", {})
        fake.expire_tokens()
        threads = [
            threading.Thread(target=client.get_list_page, args=("/api/messages", {}))
            for _ in range(8)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    renewals = [r for r in fake.requests if r.url.path.startswith("/api/auth/")]
    assert len(renewals) == 2  # the first login, then exactly one refresh


def test_headers_go_only_to_their_own_origin():
    fake = FakeBSG(3)
    fake.legacy["/rest/sms/211"] = (200, recorded("legacy_sms_seed004.json"))
    with make_client(fake) as client:
        client.get_list_page("/api/messages", {})
        client.legacy_sms(211)
    api_req, rest_req = fake.requests
    assert api_req.url.host == httpx.URL(API).host
    assert api_req.headers["Authorization"] == f"Bearer {TOKEN}"
    assert "X-API-KEY" not in api_req.headers
    assert rest_req.url.host == httpx.URL(REST).host
    assert rest_req.headers["X-API-KEY"] == REST_KEY
    assert "Authorization" not in rest_req.headers
    # the query string never carries a credential
    for r in fake.requests:
        for secret in (TOKEN, REST_KEY, LOGIN_KEY):
            assert secret not in str(r.url)


def test_from_settings_repr_and_defaults():
    settings = Settings(
        api_url=API, rest_url=REST, api_token=TOKEN, api_key=REST_KEY, timezone="Europe/Kyiv"
    )
    with BSGClient.from_settings(settings, transport=FakeBSG(0).transport()) as client:
        text = repr(client) + repr(client.__dict__)
        for secret in (TOKEN, REST_KEY):
            assert secret not in text
        assert client.http.follow_redirects is False
        assert client.page_limit == 500 and client.timezone == "Europe/Kyiv"
        assert client.scrub(f"x {TOKEN} y {REST_KEY}") == "x *** y ***"
    # the real transport verifies TLS by default
    with BSGClient.from_settings(settings) as client:
        pool = client.http._transport._pool
        assert pool._ssl_context.verify_mode.name == "CERT_REQUIRED"
