from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from bsg_client import BSGAPIError, BSGAuthError, BSGRetryError, parse_retry_after
from tests.fixtures.fakebsg import API, LOGIN_KEY, REST_KEY, TOKEN, FakeBSG, make_client, recorded

SECRETS = (TOKEN, LOGIN_KEY, REST_KEY)


def ok_list(request):
    return httpx.Response(200, content=recorded("messages_sms_seed001.json"))


def get_page(client):
    return client.get_list_page("/api/messages", {"page[limit]": 50})


def test_429_with_retry_after_seconds_is_honoured():
    fake = FakeBSG(3)
    fake.fail(lambda r: httpx.Response(429, headers={"Retry-After": "3"}, json={"message": "slow"}))
    with make_client(fake, backoff_max_seconds=30) as client:
        resp = get_page(client)
    assert resp.status_code == 200 and resp.attempts == 2
    assert client.stats.waits == [3.0]
    assert client.stats.retries["429"] == 1


def test_429_with_http_date_and_cap():
    fake = FakeBSG(3)
    later = datetime.now(UTC) + timedelta(seconds=20)
    fake.fail(lambda r: httpx.Response(429, headers={"Retry-After": format_datetime(later, True)}))
    fake.fail(lambda r: httpx.Response(429, headers={"Retry-After": "600"}))
    with make_client(fake, backoff_max_seconds=30) as client:
        get_page(client)
    first, second = client.stats.waits
    assert 17 <= first <= 20
    assert second == 30.0  # capped by backoff_max_seconds


def test_parse_retry_after():
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_retry_after("5", now) == 5.0
    assert parse_retry_after("Thu, 01 Jan 2026 00:00:10 GMT", now) == 10.0
    assert parse_retry_after("Wed, 31 Dec 2025 00:00:10 GMT", now) == 0.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None) is None


@pytest.mark.parametrize(
    "fault",
    [
        lambda r: httpx.Response(429, content=recorded("error_429.json")),
        lambda r: httpx.Response(502, content=recorded("error_502.html")),
        lambda r: httpx.Response(503, text="<html>down</html>", headers={"Retry-After": "1"}),
        lambda r: httpx.Response(500, json={"message": "Server Error"}),
        lambda r: httpx.Response(504, text=""),
        lambda r: (_ for _ in ()).throw(httpx.ReadTimeout("timed out", request=r)),
        lambda r: (_ for _ in ()).throw(httpx.ConnectTimeout("timed out", request=r)),
        lambda r: (_ for _ in ()).throw(httpx.RemoteProtocolError("peer closed", request=r)),
        lambda r: (_ for _ in ()).throw(httpx.ReadError("reset", request=r)),
        lambda r: (_ for _ in ()).throw(httpx.ConnectError("refused", request=r)),
        lambda r: httpx.Response(200, content=recorded("messages_variants_string_meta.json")[:100]),
        lambda r: httpx.Response(200, text="<html>maintenance</html>"),
        lambda r: httpx.Response(200, json={"message": "no data key"}),
    ],
    ids=[
        "429-bare",
        "502-html",
        "503-html",
        "500-json",
        "504-empty",
        "read-timeout",
        "connect-timeout",
        "dropped",
        "read-error",
        "connect-error",
        "truncated-json",
        "html-200",
        "wrong-shape-200",
    ],
)
def test_transient_failures_are_retried(fault):
    fake = FakeBSG(3)
    fake.fail_times(2, fault)
    with make_client(fake) as client:
        resp = get_page(client)
    assert resp.attempts == 3
    assert len(fake.requests) == 3
    assert resp.data["meta"]["page"]["total"] == 3


def test_retries_are_bounded_by_max_retries():
    fake = FakeBSG(3)
    fake.fail_times(10, lambda r: httpx.Response(502, content=recorded("error_502.html")))
    with make_client(fake, max_retries=3) as client, pytest.raises(BSGRetryError) as err:
        get_page(client)
    assert len(fake.requests) == 4
    assert "GET /api/messages" in str(err.value) and "4 attempts" in str(err.value)
    assert "502" in str(err.value)


@pytest.mark.parametrize(
    ("status", "fixture", "words", "cls"),
    [
        (422, "error_422.json", "The filter.from must be a date before now.", BSGAPIError),
        (403, "error_403.json", "This action is unauthorized.", BSGAuthError),
        (404, "error_401.json", "Unauthenticated.", BSGAPIError),
        (400, "error_422.json", "The given data was invalid.", BSGAPIError),
    ],
)
def test_client_errors_are_not_retried(status, fixture, words, cls):
    fake = FakeBSG(3)
    # an API that echoes the secret back must not make it leak
    fake.fail(
        lambda r: httpx.Response(
            status,
            content=recorded(fixture).replace(
                b"{", b'{"detail": "token ' + TOKEN.encode() + b'",', 1
            ),
        )
    )
    with make_client(fake) as client, pytest.raises(cls) as err:
        get_page(client)
    text = str(err.value)
    assert len(fake.requests) == 1
    assert "GET /api/messages" in text and str(status) in text and words in text
    assert err.value.status_code == status
    for secret in SECRETS:
        assert secret not in text and secret not in repr(err.value)
    assert "***" in text


def test_static_token_refused_fails_clearly():
    fake = FakeBSG(3, tokens=set())
    with make_client(fake) as client, pytest.raises(BSGAuthError) as err:
        get_page(client)
    text = str(err.value)
    assert "GET /api/messages" in text and "401" in text and "BSG_API_TOKEN" in text
    assert "Unauthenticated." in text
    assert TOKEN not in text
    assert len(fake.requests) == 1


def test_redirect_to_other_host_not_followed():
    fake = FakeBSG(3)
    fake.fail(lambda r: httpx.Response(302, headers={"Location": "http://evil.test/api/messages"}))
    with make_client(fake) as client, pytest.raises(BSGAPIError) as err:
        get_page(client)
    assert "not followed" in str(err.value)
    assert all(r.url.host != "evil.test" for r in fake.requests)


def test_same_origin_redirect_followed_with_credentials():
    fake = FakeBSG(3)
    fake.fail(
        lambda r: httpx.Response(
            301, headers={"Location": f"{API}/api/messages?page%5Blimit%5D=50"}
        )
    )
    with make_client(fake) as client:
        resp = get_page(client)
    assert resp.status_code == 200
    assert [r.url.path for r in fake.requests] == ["/api/messages", "/api/messages"]


def test_no_secret_in_logs_during_retries_and_failures(caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    fake = FakeBSG(3)
    echo = b'{"message": "slow down ' + TOKEN.encode() + b'"}'
    fake.fail_times(2, lambda r: httpx.Response(429, content=echo))
    fake.fail(lambda r: (_ for _ in ()).throw(httpx.ReadError(f"reset {TOKEN}", request=r)))
    with make_client(fake, max_retries=2) as client, pytest.raises(BSGRetryError) as err:
        get_page(client)
    assert caplog.records  # stamina logs each scheduled retry
    for secret in SECRETS:
        assert secret not in caplog.text and secret not in str(err.value)
