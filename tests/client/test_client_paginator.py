import threading
import time

import httpx
import pytest

from bsg_client import BSGPaginationError
from tests.fixtures.fakebsg import FakeBSG, make_client, recorded

WINDOW = {"filter[from]": "2026-01-01 00:00:00", "filter[to]": "2026-12-31 23:59:59"}


def offsets(fake):
    return [int(r.url.params["page[offset]"]) for r in fake.requests]


def test_stops_on_total_with_stable_sort_and_limit():
    fake = FakeBSG(120)
    with make_client(fake) as client:
        pag = client.paginate("/api/messages", WINDOW)
        pages = list(pag)
    assert [p.offset for p in pages] == [0, 50, 100]
    assert offsets(fake) == [0, 50, 100]
    p = fake.requests[0].url.params
    assert (p["sort"], p["way"], p["page[limit]"]) == ("id", "asc", "50")
    assert p["filter[to]"] == WINDOW["filter[to]"]
    s = pag.stats
    assert (s.pages, s.records, s.distinct_ids, s.duplicates, s.total) == (3, 120, 120, 0, 120)
    assert s.complete and not s.stalled
    assert [p.seq for p in pages] == [0, 1, 2]


def test_exact_multiple_does_not_fetch_an_extra_page():
    fake = FakeBSG(100)
    with make_client(fake) as client:
        assert len(list(client.paginate("/api/messages", WINDOW))) == 2


def test_empty_window_one_request():
    fake = FakeBSG(0)
    with make_client(fake) as client:
        pag = client.paginate("/api/messages", WINDOW)
        assert len(list(pag)) == 1
    assert pag.stats.complete and pag.stats.records == 0


def test_no_meta_stops_on_short_page():
    fake = FakeBSG(0)
    body = recorded("messages_no_meta.json")
    fake.fail(lambda r: httpx.Response(200, content=body))
    with make_client(fake) as client:
        pag = client.paginate("/api/messages", WINDOW)
        assert len(list(pag)) == 1
    assert pag.stats.total is None and pag.stats.complete


def test_server_ignoring_offsets_ends_on_no_new_ids():
    fake = FakeBSG(120)
    fake.ignore_offset = True
    with make_client(fake) as client:
        pag = client.paginate("/api/messages", WINDOW)
        pages = list(pag)
    assert len(pages) == 2
    assert pag.stats.stalled and not pag.stats.complete
    assert pag.stats.distinct_ids == 50 and pag.stats.duplicates == 50


def test_duplicates_counted():
    fake = FakeBSG(120)
    fake.overlap = 5  # the second page starts 5 rows early: 5 rows served twice
    with make_client(fake) as client:
        pag = client.paginate("/api/messages", WINDOW)
        list(pag)
    s = pag.stats
    assert s.duplicates == 5 and s.records == 125
    assert s.distinct_ids == 120 and s.complete


def test_moving_total_rereads_the_window():
    fake = FakeBSG(120)
    # the total moves on the 2nd request only: the first read is abandoned, the second holds
    fake.total_hook = lambda n: 1 if n == 2 else 0
    with make_client(fake) as client:
        pag = client.paginate("/api/messages", WINDOW)
        pages = list(pag)
    assert pag.stats.rereads == 1 and pag.stats.complete
    assert [(p.read, p.offset) for p in pages] == [(0, 0), (0, 50), (1, 0), (1, 50), (1, 100)]
    assert pag.stats.distinct_ids == 120 and pag.stats.duplicates == 0


def test_total_that_keeps_moving_is_a_clear_error():
    fake = FakeBSG(120)
    fake.total_hook = lambda n: n  # grows on every request
    with make_client(fake) as client, pytest.raises(BSGPaginationError) as err:
        list(client.paginate("/api/messages", WINDOW, max_rereads=2))
    assert "GET /api/messages" in str(err.value) and "2026-01-01 00:00:00" in str(err.value)
    assert len([r for r in fake.requests if r.url.params["page[offset]"] == "0"]) == 3


def test_server_capping_the_limit():
    fake = FakeBSG(120)
    fake.max_limit = 30
    with make_client(fake) as client:
        pag = client.paginate("/api/messages", WINDOW)
        list(pag)
    assert offsets(fake) == [0, 30, 60, 90]
    assert pag.stats.distinct_ids == 120 and pag.stats.complete


@pytest.mark.parametrize("cap", [None, 30])
def test_parallel_pages_in_offset_order(cap):
    fake = FakeBSG(1003)
    fake.max_limit = cap
    lock = threading.Lock()
    state = {"now": 0, "peak": 0}
    inner = fake.handle

    def slow(request):
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        # later offsets answer sooner: completion order differs from offset order
        time.sleep(0.02 / (1 + int(request.url.params.get("page[offset]", 0)) // 50))
        try:
            return inner(request)
        finally:
            with lock:
                state["now"] -= 1

    fake.handle = slow
    with make_client(fake, concurrency=8) as client:
        pag = client.paginate("/api/messages", WINDOW, parallel=4)
        pages = list(pag)
    got = [p.offset for p in pages]
    assert got == sorted(got)
    ids = [i for p in pages for i in p.ids]
    assert ids == list(range(1, 1004))
    assert pag.stats.complete and pag.stats.duplicates == 0
    assert 1 < state["peak"] <= 4


def test_parallel_moving_total_rereads():
    fake = FakeBSG(300)
    fake.total_hook = lambda n: 1 if n == 3 else 0
    with make_client(fake) as client:
        pag = client.paginate("/api/messages", WINDOW, parallel=3)
        list(pag)
    assert pag.stats.rereads == 1 and pag.stats.complete and pag.stats.distinct_ids == 300


def test_early_close_cancels_outstanding_pages():
    fake = FakeBSG(2000)
    with make_client(fake) as client:
        it = iter(client.paginate("/api/messages", WINDOW, parallel=2))
        next(it)
        next(it)
        it.close()
    time.sleep(0.05)
    assert len(fake.requests) < 40


def test_a_skimmed_page_keeps_the_fields_asked_and_lands_its_body_whole():
    fake = FakeBSG(3)
    with make_client(fake) as client:
        (page,) = list(client.paginate("/api/messages", WINDOW, skim=("type",)))
    assert page.records == [{"id": 1, "type": "rcs"}, {"id": 2, "type": "sms"},
                            {"id": 3, "type": "sms"}]  # fmt: skip
    assert page.total == 3 and page.ids == [1, 2, 3]
    assert b'"created_at"' in page.response.body  # the body as received


@pytest.mark.parametrize(
    ("body", "records", "ids"),
    [
        # a record that is no object: the page is decoded whole, the record has no id
        (b'{"data": [7, {"id": 2, "type": "sms", "x": 1}], "meta": {"page": {"total": 2}}}',
         [7, {"id": 2, "type": "sms", "x": 1}], [None, 2]),
        # an id beyond 64 bits is still an id
        (b'{"data": [{"id": 123456789012345678901234567890}], "meta": {"page": {"total": 1}}}',
         [{"id": 123456789012345678901234567890}], [123456789012345678901234567890]),
    ],
)  # fmt: skip
def test_a_page_not_of_the_skimmed_shape_is_decoded_whole(body, records, ids):
    fake = FakeBSG(0)
    fake.fail(lambda r: httpx.Response(200, content=body))
    with make_client(fake) as client:
        (page,) = list(client.paginate("/api/messages", WINDOW, skim=("type",)))
    assert page.records == records and page.ids == ids


@pytest.mark.parametrize(
    "body", [b'{"data": [{"id": 1}', b'{"data": null}', b"[]", b"<html>502</html>"]
)
def test_a_bad_body_is_retried_whether_skimmed_or_not(body):
    fake = FakeBSG(2)
    fake.fail(lambda r: httpx.Response(200, content=body))
    with make_client(fake) as client:
        (page,) = list(client.paginate("/api/messages", WINDOW, skim=("type",)))
    assert page.ids == [1, 2]
    assert client.stats.retries["bad body"] == 1
