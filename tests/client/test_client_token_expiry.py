"""Bearer tokens that say when they expire (JWT `exp`) are renewed ahead of it; the clock is
the client's `now`, so these tests move time by hand."""

from __future__ import annotations

import base64
import json
import logging
import threading
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from bsg_client import BSGAuthError, BSGClient
from bsg_client.client import jwt_times

DATA = Path(__file__).parent / "data"
LOGIN_KEY = "live_SECRET_jwt_key_42"
T0 = 1_767_225_600.0  # 2026-01-01 00:00:00 UTC
DAY = 86_400.0


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_jwt(claims: dict | None = None, *, payload: bytes | None = None, n: int = 0) -> str:
    header = b64(b'{"typ":"JWT","alg":"RS256"}')
    body = payload if payload is not None else json.dumps(claims).encode()
    return f"{header}.{b64(body)}.c2lnLVNFQ1JFVC0{n:04d}"


class Clock:
    def __init__(self, t: float = T0):
        self.t = t

    def __call__(self) -> datetime:
        return datetime.fromtimestamp(self.t, UTC)


class JwtServer:
    """Auth and /api/messages with JWT bearers checked against the (shared) clock; each
    request is recorded with whether its bearer was valid when it came."""

    def __init__(self, clock: Clock, life: float = 30 * DAY, *, iat: bool = True):
        self.clock = clock
        self.life = life
        self.iat = iat
        self.skew = 0.0  # seconds the server's clock runs behind the client's
        self.exp: dict[str, float] = {}
        self.log: list[tuple[str, str | None, bool]] = []  # (path, bearer, valid then)
        self.refresh_ok = True
        self.issued: list[str] = []
        self.lock = threading.Lock()

    def now(self) -> float:
        return self.clock.t - self.skew

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def issue(self) -> httpx.Response:
        now = self.now()
        claims = {"exp": now + self.life, "roles": [], "id": 208}
        if self.iat:
            claims["iat"] = now
        token = make_jwt(claims, n=len(self.issued) + 1)
        self.issued.append(token)
        self.exp[token] = now + self.life
        return httpx.Response(200, json={"bearer": token})

    def handle(self, request: httpx.Request) -> httpx.Response:
        auth = request.headers.get("Authorization", "")
        bearer = auth.removeprefix("Bearer ") if auth else None
        with self.lock:
            valid = bearer is not None and self.now() < self.exp.get(bearer, 0)
            self.log.append((request.url.path, bearer, valid))
            path = request.url.path
            if path == "/api/auth/login":
                if json.loads(request.content).get("api_key") != LOGIN_KEY:
                    return httpx.Response(401, json={"message": "Invalid API key."})
                return self.issue()
            if path == "/api/auth/refresh":
                if not valid or not self.refresh_ok:
                    return httpx.Response(401, json={"message": "Unauthenticated."})
                return self.issue()
        if not valid:
            return httpx.Response(401, json={"message": "Unauthenticated."})
        return httpx.Response(200, json={"data": [], "meta": {"page": {"total": 0}}})

    def paths(self) -> list[str]:
        return [p.removeprefix("/api/") for p, _b, _v in self.log]


def client_for(server: JwtServer, clock: Clock, **kw) -> BSGClient:
    opts = dict(
        api_url="http://one-api.test", rest_url="http://rest.test", api_login_key=LOGIN_KEY,
        max_retries=2, transport=server.transport(), now=clock,
    )  # fmt: skip
    opts.update(kw)
    return BSGClient(**opts)


def get(client: BSGClient) -> None:
    client.get_list_page("/api/messages", {})


def assert_no_secret(text: str, server: JwtServer) -> None:
    assert LOGIN_KEY not in text
    for token in server.issued:
        assert token not in text
        assert token.split(".")[1] not in text  # not even the payload


# --- reading exp ---------------------------------------------------------------------------


def test_jwt_times_of_the_providers_example_token():
    token = json.loads((DATA / "auth_login_provider_example.json").read_text())["bearer"]
    assert jwt_times(token) == (1738777668.0, 1741369668.0)  # iat, exp: 30 days


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("tok-SECRET-static-123", (None, None)),  # not a JWT
        ("issued-token-0001", (None, None)),
        ("a.b", (None, None)),
        ("a.!!!.c", (None, None)),  # not base64
        (make_jwt(payload=b"not json"), (None, None)),
        (make_jwt(payload=b"[1, 2]"), (None, None)),  # not an object
        (make_jwt({"iat": 100}), (100.0, None)),  # no exp
        (make_jwt({"exp": "2000"}), (None, 2000.0)),  # a numeric string
        (make_jwt({"exp": True, "iat": None}), (None, None)),
        (make_jwt({"exp": "soon"}), (None, None)),
        (make_jwt({"exp": -5}), (None, None)),
        (make_jwt({"exp": 1e400}), (None, None)),  # inf
        (make_jwt({"exp": 1741369668.5}), (None, 1741369668.5)),
    ],
)
def test_jwt_times_tolerates_what_is_not_a_jwt_with_times(token, expected):
    assert jwt_times(token) == expected


# --- renewing ahead ------------------------------------------------------------------------


def test_refreshed_ahead_within_ten_percent_of_its_life(caplog):
    caplog.set_level(logging.INFO, "bsg_client")
    clock = Clock()
    server = JwtServer(clock, life=30 * DAY)  # margin: 3 days
    with client_for(server, clock) as client:
        get(client)
        clock.t = T0 + 27 * DAY - 1  # not yet due
        get(client)
        clock.t = T0 + 27 * DAY + 1  # due: refreshed with the still-valid bearer
        get(client)
        get(client)
        assert client.stats.renewals == client.stats.renewals_ahead == 1
        assert client.stats.logins == 1
    assert server.paths() == [
        "auth/login", "messages", "messages", "auth/refresh", "messages", "messages",
    ]  # fmt: skip
    first, second = server.issued
    assert [b for p, b, _v in server.log if p == "/api/messages"] == [first, first, second, second]
    assert all(valid for p, _b, valid in server.log if p != "/api/auth/login")
    assert "refreshed ahead of time" in caplog.text
    assert_no_secret(caplog.text, server)


@pytest.mark.parametrize(
    ("life", "margin"),
    [
        (30 * 60, 300),  # 10% is 3 minutes: at least 5
        (2 * 3600, 720),  # 10%: 12 minutes
        (4 * 60, 120),  # 5 minutes would be more than half its life: half
    ],
)
def test_the_margin_is_ten_percent_at_least_five_minutes_at_most_half(life, margin):
    clock = Clock()
    server = JwtServer(clock, life=life)
    with client_for(server, clock) as client:
        get(client)
        clock.t = T0 + life - margin - 1
        get(client)
        assert server.paths().count("auth/refresh") == 0
        clock.t = T0 + life - margin
        get(client)
        assert server.paths().count("auth/refresh") == 1


def test_without_iat_the_life_counts_from_when_it_was_obtained():
    clock = Clock()
    server = JwtServer(clock, life=10 * DAY, iat=False)  # margin: 1 day
    with client_for(server, clock) as client:
        get(client)
        clock.t = T0 + 9 * DAY - 1
        get(client)
        clock.t = T0 + 9 * DAY
        get(client)
    assert server.paths() == ["auth/login", "messages", "messages", "auth/refresh", "messages"]


def test_refresh_refused_then_a_new_login():
    clock = Clock()
    server = JwtServer(clock, life=DAY)
    server.refresh_ok = False
    with client_for(server, clock) as client:
        get(client)
        clock.t = T0 + 0.95 * DAY
        get(client)
        assert client.stats.logins == 2 and client.stats.renewals_ahead == 1
    assert server.paths() == ["auth/login", "messages", "auth/refresh", "auth/login", "messages"]
    assert server.log[-1][1] == server.issued[1]


def test_a_static_jwt_that_cannot_be_refreshed_is_used_until_it_expires(caplog):
    """No login key: one refresh try while it is valid, then the token as it is; once
    expired it is never sent to refresh, and the API's 401 ends it with a clear error."""
    caplog.set_level(logging.INFO, "bsg_client")
    clock = Clock()
    server = JwtServer(clock, life=DAY)
    static = server.issue().json()["bearer"]
    server.refresh_ok = False
    with client_for(server, clock, api_token=static, api_login_key=None) as client:
        get(client)
        clock.t = T0 + 0.95 * DAY  # due: the refresh is refused
        get(client)
        get(client)  # not tried again for this token
        clock.t = T0 + DAY + 1  # expired
        with pytest.raises(BSGAuthError) as err:
            get(client)
    assert server.paths() == ["messages", "auth/refresh", "messages", "messages", "messages"]
    assert [v for _p, _b, v in server.log] == [True, True, True, True, False]
    text = str(err.value)
    assert "the API refused the bearer token (401)" in text
    assert "it expired at 2026-01-02 00:00:00 UTC" in text and "BSG_API_LOGIN_KEY" in text
    assert "could not renew the bearer token ahead of its expiry at 2026-01-02" in caplog.text
    assert_no_secret(caplog.text + text, server)


def test_a_static_jwt_is_refreshed_ahead_too():
    clock = Clock()
    server = JwtServer(clock, life=DAY)
    static = server.issue().json()["bearer"]
    with client_for(server, clock, api_token=static, api_login_key=None) as client:
        clock.t = T0 + 0.95 * DAY
        get(client)
        clock.t = T0 + 1.5 * DAY  # the refreshed one lives until T0 + 1.95 days
        get(client)
    assert server.paths() == ["auth/refresh", "messages", "messages"]
    assert all(v for _p, _b, v in server.log)


def test_an_expired_token_is_never_sent_to_refresh_a_new_login_instead():
    clock = Clock()
    server = JwtServer(clock, life=DAY)
    with client_for(server, clock) as client:
        get(client)
        clock.t = T0 + 3 * DAY  # the machine slept past its expiry
        get(client)
    assert server.paths() == ["auth/login", "messages", "auth/login", "messages"]
    assert all(v for p, _b, v in server.log if p != "/api/auth/login")


def test_a_configured_jwt_already_expired_is_replaced_by_a_login_first():
    clock = Clock()
    server = JwtServer(clock, life=DAY)
    old = server.issue().json()["bearer"]
    clock.t = T0 + 2 * DAY
    with client_for(server, clock, api_token=old) as client:
        get(client)
    assert server.paths() == ["auth/login", "messages"]


def test_tokens_the_clock_puts_in_the_past_are_renewed_on_401_only(caplog):
    """The server's clock runs 40 days behind: every token it issues looks expired here.
    No renewal on every request; on a 401, no refresh with it (expired here): a login."""
    clock = Clock(T0 + 40 * DAY)
    server = JwtServer(clock, life=30 * DAY)
    server.skew = 40 * DAY
    with client_for(server, clock) as client:
        for _ in range(3):
            get(client)
        server.exp.clear()  # the server drops its tokens
        get(client)
    assert server.paths() == [
        "auth/login", "messages", "messages", "messages", "messages", "auth/login", "messages",
    ]  # fmt: skip
    assert "is the clock right?" in caplog.text
    assert_no_secret(caplog.text, server)


def test_a_jwt_without_exp_is_renewed_on_401_as_before():
    clock = Clock()
    server = JwtServer(clock, life=DAY)
    token = make_jwt({"iat": T0, "id": 1}, n=99)
    server.exp[token] = T0 + DAY
    with client_for(server, clock, api_token=token) as client:
        clock.t = T0 + DAY - 1  # near the server's end for it, but the token does not say
        get(client)
        clock.t = T0 + DAY + 1
        get(client)  # 401; the client cannot know it expired: refresh (refused), login
    assert server.paths() == ["messages", "messages", "auth/refresh", "auth/login", "messages"]


def test_threads_that_find_the_token_due_renew_it_once():
    clock = Clock()
    server = JwtServer(clock, life=DAY)
    with client_for(server, clock, concurrency=8) as client:
        get(client)
        clock.t = T0 + 0.95 * DAY
        threads = [threading.Thread(target=get, args=(client,)) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert server.paths().count("auth/refresh") == 1
    assert server.paths().count("auth/login") == 1
    assert [b for p, b, _v in server.log if p == "/api/messages"][1:] == [server.issued[1]] * 8


def test_a_refused_login_at_expiry_is_a_clean_error():
    clock = Clock()
    server = JwtServer(clock, life=DAY)
    with client_for(server, clock) as client:
        get(client)
        clock.t = T0 + 2 * DAY
        client._login_key.value = "live_SECRET_wrong_key"  # the key was revoked meanwhile
        client.scrubber.add("live_SECRET_wrong_key")
        with pytest.raises(BSGAuthError) as err:
            get(client)
    assert "POST /api/auth/login: the API refused the login key (HTTP 401" in str(err.value)
    assert "live_SECRET_wrong_key" not in str(err.value)
    assert_no_secret(str(err.value), server)
