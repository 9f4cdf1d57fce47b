"""TLS and redirects: the client verifies certificates unless `verify_tls=False` says
otherwise, and never sends a credential to another origin: redirects (301/302/303/307/308) to
another host, scheme or port are not followed."""

from __future__ import annotations

import ssl
from collections import defaultdict

import httpx
import pytest

from bsg_analytics.pipeline import run_sync
from bsg_analytics.settings import load_settings
from bsg_client import BSGClient
from bsg_client.errors import BSGAPIError
from bsg_simulator.testing import TEST_NOW
from tests.reliability.rel_helpers import API_KEY, LOGIN_KEY, SINCE, TOKEN, settings_for


def ssl_context(client: BSGClient) -> ssl.SSLContext:
    return client.http._transport._pool._ssl_context


def test_tls_is_verified_by_default_and_only_verify_tls_false_turns_it_off(tmp_path, monkeypatch):
    base = {"api_token": TOKEN, "data_dir": str(tmp_path)}
    for extra in ({}, {"api_url": "http://one-api.bsg.world"}, {"timeout_seconds": 1},
                  {"concurrency": 1}, {"max_retries": 0}):  # fmt: skip
        with BSGClient.from_settings(load_settings(**base, **extra)) as client:
            ctx = ssl_context(client)
            assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname, extra
    with BSGClient.from_settings(load_settings(**base, verify_tls=False)) as client:
        assert ssl_context(client).verify_mode == ssl.CERT_NONE
    monkeypatch.setenv("BSG_VERIFY_TLS", "false")
    with BSGClient.from_settings(load_settings(**base)) as client:
        assert ssl_context(client).verify_mode == ssl.CERT_NONE
    assert load_settings(**base).verify_tls is False
    monkeypatch.delenv("BSG_VERIFY_TLS")
    assert load_settings(**base).verify_tls is True


TARGETS = [
    "http://evil.test/api/messages",
    "//evil.test/api/messages",
    "https://api.bsg.test/api/messages",  # another scheme
    "http://api.bsg.test:8443/api/messages",  # another port
    "http://api.bsg.test@evil.test/api/messages",
    "http://rest.bsg.test/rest/sms/1",  # the other configured base: still another origin
]


class Hosts:
    def __init__(self, status: int, location: str):
        self.seen: dict[str, list[httpx.Request]] = defaultdict(list)
        self.status, self.location = status, location

    def __call__(self, request: httpx.Request) -> httpx.Response:
        origin = f"{request.url.scheme}://{request.url.host}:{request.url.port}"
        self.seen[origin].append(request)
        if (
            request.url.host == "api.bsg.test"
            and request.url.port is None
            and (request.url.scheme == "http")
        ):
            return httpx.Response(self.status, headers={"Location": self.location})
        if request.url.host == "rest.bsg.test" and request.url.path.startswith("/rest/"):
            return httpx.Response(self.status, headers={"Location": self.location})
        return httpx.Response(200, json={"data": [], "meta": {"page": {"total": 0}}})

    def credentials_sent_to_others(self) -> list[str]:
        out = []
        for origin, requests in self.seen.items():
            if origin in ("http://api.bsg.test:None", "http://rest.bsg.test:None"):
                continue
            for r in requests:
                if "authorization" in r.headers or "x-api-key" in r.headers:
                    out.append(origin)
                if LOGIN_KEY.encode() in r.content:
                    out.append(origin)
        return out


def client_for(hosts: Hosts, **kw) -> BSGClient:
    return BSGClient(api_url="http://api.bsg.test", rest_url="http://rest.bsg.test",
                     api_token=kw.pop("api_token", TOKEN), rest_api_key=API_KEY,
                     transport=httpx.MockTransport(hosts), max_retries=0, **kw)  # fmt: skip


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("location", TARGETS)
def test_a_redirect_to_another_origin_gets_no_credentials(status, location):
    hosts = Hosts(status, location)
    with client_for(hosts) as client:
        with pytest.raises(BSGAPIError) as info:
            client.get_list_page("/api/messages", {"page[limit]": 50})
        assert "not followed" in str(info.value)
        with pytest.raises(BSGAPIError):
            client.legacy_sms(1)
    assert hosts.credentials_sent_to_others() == []
    assert set(hosts.seen) <= {"http://api.bsg.test:None", "http://rest.bsg.test:None"}


@pytest.mark.parametrize("status", [302, 307])
def test_a_login_answered_by_a_redirect_sends_the_key_nowhere_else(status):
    hosts = Hosts(status, "http://evil.test/api/auth/login")
    client = client_for(hosts, api_token=None, api_login_key=LOGIN_KEY)
    with client, pytest.raises(BSGAPIError):
        client.get_list_page("/api/messages", {})
    assert hosts.credentials_sent_to_others() == []
    assert "http://evil.test:None" not in hosts.seen


def test_a_same_origin_redirect_is_followed():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.host, request.url.path, request.headers.get("authorization")))
        if request.url.path == "/api/messages":
            return httpx.Response(301, headers={"Location": "/v2/api/messages?page[offset]=0"})
        return httpx.Response(200, json={"data": [], "meta": {"page": {"total": 0}}})

    with BSGClient(api_url="http://api.bsg.test", api_token=TOKEN,
                   transport=httpx.MockTransport(handler)) as client:  # fmt: skip
        client.get_list_page("/api/messages", {})
    assert [s[1] for s in seen] == ["/api/messages", "/v2/api/messages"]
    assert all(s[0] == "api.bsg.test" for s in seen)


def test_a_sync_whose_api_redirects_away_stops_with_one_line_and_leaks_nothing(tmp_path):
    hosts = Hosts(302, "https://evil.test/steal")
    s = settings_for(tmp_path / "d", api_url="http://api.bsg.test", rest_url="http://rest.bsg.test")
    with pytest.raises(BSGAPIError) as info:
        run_sync(s, SINCE, transport=httpx.MockTransport(hosts), now=TEST_NOW)
    assert "\n" not in str(info.value) and "evil.test" in str(info.value)
    assert hosts.credentials_sent_to_others() == []
