"""The API's clock, as its answers' ``Date`` headers tell it: `BSGClient.api_clock_offset`,
a Retry-After date read against the answer's own Date, and the 422 a window end after the
API's now gets, in one line that says what to do."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from bsg_client import BSGAPIError
from bsg_client.client import CLOCK_PROBE_PATH, clock_gap, date_offset, http_date
from tests.fixtures.fakebsg import FakeBSG, make_client

NOW = datetime(2026, 12, 7, 12, 0, 0, tzinfo=UTC)


def dated(offset_seconds: float):
    """A transport answering every request 200 with a Date `offset_seconds` from NOW."""
    seen: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        stamp = format_datetime(NOW + timedelta(seconds=offset_seconds), usegmt=True)
        body = {"data": []} if request.url.path == "/api/messages" else {"data": {"balance": 1}}
        return httpx.Response(200, json=body, headers={"Date": stamp})

    return httpx.MockTransport(handle), seen


def test_date_offset_and_http_date():
    assert date_offset("Mon, 07 Dec 2026 11:00:00 GMT", NOW) == -3600.0
    assert date_offset("Mon, 07 Dec 2026 12:00:05 GMT", NOW) == 5.0
    assert date_offset("yesterday", NOW) is None
    assert http_date("") is None and http_date(None) is None
    assert http_date("Mon, 07 Dec 2026 12:00:00 GMT") == NOW


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.4, "0 s"), (42, "42 s"), (119.4, "119 s"), (119.6, "2 min"), (420, "7 min"),
     (3600, "1 h 0 min"), (-11_100, "3 h 5 min")],
)  # fmt: skip
def test_clock_gap(seconds, text):
    assert clock_gap(seconds) == text


def test_the_offset_comes_from_one_probe_then_from_every_answer():
    transport, seen = dated(-3600)
    with make_client(FakeBSG(), transport=transport, now=lambda: NOW) as client:
        assert client.api_clock_offset() == -3600.0
        assert seen == [CLOCK_PROBE_PATH]
        assert client.api_clock_offset() == -3600.0
        assert seen == [CLOCK_PROBE_PATH]  # the latest answer's Date: no second probe
        client.get_list_page("/api/messages", {})
        assert len(seen) == 2 and client.api_clock_offset() == -3600.0


def test_no_date_or_a_failed_probe_tells_nothing_and_is_tried_once():
    fake = FakeBSG()  # its answers carry no Date
    with make_client(fake) as client:
        assert client.api_clock_offset() is None
    assert [r.url.path for r in fake.requests] == [CLOCK_PROBE_PATH]  # a 404 here: no retry
    fake = FakeBSG()
    fake.fail(lambda r: httpx.Response(503, text="down"))
    with make_client(fake) as client:
        assert client.api_clock_offset() is None
        assert client.stats.requests == 1  # one try, not max_retries


def test_a_probe_refused_still_tells_the_clock_by_its_date():
    def handle(request):
        stamp = format_datetime(NOW - timedelta(hours=2), usegmt=True)
        return httpx.Response(403, json={"message": "Forbidden"}, headers={"Date": stamp})

    transport = httpx.MockTransport(handle)
    with make_client(FakeBSG(), transport=transport, now=lambda: NOW) as client:
        assert client.api_clock_offset() == -7200.0


def test_a_retry_after_date_is_read_against_the_answers_own_date():
    """An API whose clock is an hour behind says "retry at its now + 3 s": a 3 s wait, not
    none (against this machine's clock that moment passed an hour ago)."""
    fake = FakeBSG(3)
    api_now = datetime.now(UTC) - timedelta(hours=1)
    headers = {
        "Date": format_datetime(api_now, usegmt=True),
        "Retry-After": format_datetime(api_now + timedelta(seconds=3), usegmt=True),
    }
    fake.fail(lambda r: httpx.Response(429, headers=headers, json={"message": "slow"}))
    with make_client(fake, backoff_max_seconds=30) as client:
        client.get_list_page("/api/messages", {"page[limit]": 50})
    assert client.stats.waits == [3.0]


def test_a_window_end_after_the_apis_now_is_one_line_that_says_what_to_do():
    msg = "The filter[to] must be a date before or equal to now."

    def handle(request):
        stamp = format_datetime(NOW - timedelta(hours=1), usegmt=True)
        body = {"message": msg, "errors": {"filter[to]": [msg]}}
        return httpx.Response(422, json=body, headers={"Date": stamp})

    transport = httpx.MockTransport(handle)
    with (
        make_client(FakeBSG(), transport=transport, now=lambda: NOW) as client,
        pytest.raises(BSGAPIError) as info,
    ):
        client.get_list_page("/api/messages", {"filter[to]": "2026-12-07 11:58:00"})
    text = str(info.value)
    assert "\n" not in text
    assert text == (
        f"GET /api/messages: HTTP 422 (the API refused the request's parameters): {msg}; "
        "the API's clock reads 1 h 0 min behind this machine's: check this machine's clock, "
        "or wait a minute, and run it again"
    )  # fmt: skip
