"""The legacy lookup streams against a scripted API (`test_legacy_fake.LegacyFake`): SMS ids
batched through getStatus (100 a call), the one-by-one fallback, references, Viber ids and
references, tasks, a refused key, bad ids; exact requests, raw pages and results."""

from __future__ import annotations

import httpx
import orjson
import pytest

from bsg_analytics.batch import transform_pages
from bsg_analytics.pipeline import extract_legacy
from bsg_analytics.raw import RawStore
from bsg_client import BSGAuthError
from tests.extract.test_legacy_fake import (
    NOT_FOUND_SMS,
    LegacyFake,
    client_for,
    status_item,
)
from tests.fixtures.fakebsg import REST_KEY


def pages_of(data_dir, *streams):
    return list(RawStore(data_dir).iter_pages(list(streams)))


def test_250_ids_are_three_get_status_calls_of_100_100_50(data_dir):
    ids = list(range(1, 251))
    fake = LegacyFake(sms=set(ids) - {7, 150})
    with client_for(fake) as client:
        res = extract_legacy(client, RawStore(data_dir), "run-1", sms_ids=ids)
    assert fake.calls == [
        ("POST", "/rest/sms/getStatus", {"ids": list(range(1, 101))}),
        ("POST", "/rest/sms/getStatus", {"ids": list(range(101, 201))}),
        ("POST", "/rest/sms/getStatus", {"ids": list(range(201, 251))}),
    ]
    assert all(r.headers["X-API-KEY"] == REST_KEY for r in fake.requests)
    assert res.landed["legacy_sms"] == 248
    assert res.not_found == [("sms", "7"), ("sms", "150")]
    assert res.errors == []
    pages = pages_of(data_dir, "legacy_sms")
    assert [(p.group, p.seq, p.endpoint) for p in pages] == [
        ("status-0000", 0, "/rest/sms/getStatus"),
        ("status-0001", 0, "/rest/sms/getStatus"),
        ("status-0002", 0, "/rest/sms/getStatus"),
    ]
    # each page says which ids it asked (the request's body), and keeps the answer as it came
    assert pages[2].params == {"ids": ",".join(map(str, range(201, 251)))}
    answer = {"result": [status_item(i) for i in range(201, 251)]}
    assert orjson.loads(pages[2].body) == answer
    legacy = transform_pages(pages, "UTC")["legacy_sms"].sort("message_id")
    assert legacy["message_id"].to_list() == sorted(set(ids) - {7, 150})
    assert legacy.row(0, named=True)["reference"] == "ref1"


def test_ids_are_asked_once_each(data_dir):
    fake = LegacyFake(sms={5, 6})
    with client_for(fake) as client:
        res = extract_legacy(client, RawStore(data_dir), "r", sms_ids=[5, "5", " 005 ", 6, 5])
    assert fake.calls == [("POST", "/rest/sms/getStatus", {"ids": [5, 6]})]
    assert res.landed["legacy_sms"] == 2 and res.not_found == []


def test_a_server_without_get_status_is_asked_one_by_one(data_dir):
    ids = list(range(1, 103))
    fake = LegacyFake(sms=set(ids) - {2})
    fake.get_status = lambda ids: httpx.Response(405, text="<html>Method Not Allowed</html>")
    with client_for(fake) as client:
        res = extract_legacy(client, RawStore(data_dir), "r", sms_ids=ids)
    # getStatus tried once; then every id of every batch by GET /rest/sms/{id}
    assert fake.calls == [("POST", "/rest/sms/getStatus", {"ids": list(range(1, 101))})] + [
        ("GET", f"/rest/sms/{i}", None) for i in ids
    ]
    assert res.landed["legacy_sms"] == 101 and res.not_found == [("sms", "2")]
    groups = [p.group for p in pages_of(data_dir, "legacy_sms")]
    assert groups == sorted(f"sms-{i}" for i in ids if i != 2)


def test_a_batch_answered_with_an_error_body_is_asked_one_by_one(data_dir):
    ids = list(range(1, 106))
    fake = LegacyFake(sms={1, 104})
    batches = iter(
        [
            httpx.Response(200, json=NOT_FOUND_SMS),  # which id? the answer does not say
            httpx.Response(200, json={"result": [status_item(104)]}),
        ]
    )
    fake.get_status = lambda ids: next(batches)
    with client_for(fake) as client:
        res = extract_legacy(client, RawStore(data_dir), "r", sms_ids=ids)
    assert fake.calls == (
        [("POST", "/rest/sms/getStatus", {"ids": list(range(1, 101))})]
        + [("GET", f"/rest/sms/{i}", None) for i in range(1, 101)]
        + [("POST", "/rest/sms/getStatus", {"ids": list(range(101, 106))})]
    )
    assert res.landed["legacy_sms"] == 2
    assert res.not_found == [("sms", str(i)) for i in ids if i not in (1, 104)]
    assert [p.group for p in pages_of(data_dir, "legacy_sms")] == ["sms-1", "status-0001"]


def test_references_viber_and_tasks(data_dir):
    fake = LegacyFake(sms={3}, tasks={501}, viber={16, 30})
    fake.overrides["/rest/viber/31"] = httpx.Response(
        200, json={"error": "25", "errorDescription": f"Viber not supported ({REST_KEY})"}
    )
    with client_for(fake) as client:
        res = extract_legacy(
            client, RawStore(data_dir), "r",
            sms_ids=[3], references=["ref3", "nope"], task_ids=[501, 502],
            viber_ids=[16, 31, 99], viber_references=["vref30", "gone"],
        )  # fmt: skip
    assert [(m, p) for m, p, _ in fake.calls] == [
        ("POST", "/rest/sms/getStatus"),
        ("GET", "/rest/sms/reference/ref3"),
        ("GET", "/rest/sms/reference/nope"),
        ("GET", "/rest/sms/task/501"),
        ("GET", "/rest/sms/task/502"),
        ("GET", "/rest/sms/502"),  # the page's path shape, when the task path finds nothing
        ("GET", "/rest/viber/16"),
        ("GET", "/rest/viber/31"),
        ("GET", "/rest/viber/99"),
        ("GET", "/rest/viber/reference/vref30"),
        ("GET", "/rest/viber/reference/gone"),
    ]
    assert res.landed == {"legacy_sms": 2, "legacy_task": 1, "legacy_viber": 2}
    assert res.not_found == [
        ("reference", "nope"),
        ("task", "502"),
        ("viber", "99"),
        ("viber_reference", "gone"),
    ]
    assert res.errors == [("viber", "31", 25, "Viber not supported (***)")]
    groups = {(p.stream, p.group) for p in RawStore(data_dir).iter_pages()}
    assert groups == {
        ("legacy_sms", "status-0000"),
        ("legacy_sms", "ref-ref3"),
        ("legacy_task", "task-501"),
        ("legacy_viber", "viber-16"),
        ("legacy_viber", "vref-vref30"),
    }
    batch = transform_pages(list(RawStore(data_dir).iter_pages()), "UTC")
    viber = batch["legacy_viber"].sort("message_id")
    assert viber.select("message_id", "status", "alt_message_id", "alt_text").rows() == [
        (16, "not_viber_user", 17, "fallback text"),
        (30, "not_viber_user", 31, "fallback text"),
    ]
    assert batch["legacy_tasks"]["task_id"].to_list() == [501]
    assert batch["legacy_sms"].sort("message_id")["message_id"].to_list() == [3]  # one row
    assert batch["quarantine"].is_empty()


def test_a_refused_key_ends_the_lookups_at_the_first_call(data_dir):
    fake = LegacyFake(sms={1, 2}, viber={16}, key="another key")
    with client_for(fake) as client, pytest.raises(BSGAuthError) as err:
        extract_legacy(client, RawStore(data_dir), "r", sms_ids=range(1, 251), viber_ids=[16])
    assert str(err.value) == (
        "the legacy REST key was refused (POST /rest/sms/getStatus: error 2, Invalid API key); "
        "check BSG_API_KEY"
    )
    assert len(fake.requests) == 1
    assert list(RawStore(data_dir).iter_pages()) == []


@pytest.mark.parametrize(
    ("asked", "message"),
    [
        ({"sms_ids": [1, "abc"]}, "SMS id 'abc' is not a whole number >= 1"),
        ({"sms_ids": [0]}, "SMS id 0 is not a whole number >= 1"),
        ({"task_ids": ["-3"]}, "task id '-3' is not a whole number >= 1"),
        ({"viber_ids": [1.5]}, "Viber id 1.5 is not a whole number"),
        ({"viber_ids": [True]}, "Viber id True is not a whole number"),
        ({"references": ["a", " "]}, "an empty reference was given"),
        ({"viber_references": [""]}, "an empty viber reference was given"),
    ],
)
def test_bad_ids_are_refused_before_any_call(data_dir, asked, message):
    fake = LegacyFake()
    with client_for(fake) as client, pytest.raises(ValueError) as err:
        extract_legacy(client, RawStore(data_dir), "r", **asked)
    assert str(err.value) == message
    assert fake.requests == []


def test_items_of_a_get_status_answer_with_their_own_error(data_dir):
    fake = LegacyFake()
    items = [
        status_item(1),
        {"id": "2", "error": 20, "errorDescription": "SMS not found"},
        {"id": "3", "error": "25", "errorDescription": f"Invalid originator {REST_KEY}"},
        status_item(99),  # not asked: landed with the page, not counted
    ]
    fake.get_status = lambda ids: httpx.Response(200, json={"result": items})
    with client_for(fake) as client:
        res = extract_legacy(client, RawStore(data_dir), "r", sms_ids=[1, 2, 3, 4])
    assert len(fake.requests) == 1
    assert res.landed["legacy_sms"] == 1
    assert res.not_found == [("sms", "2"), ("sms", "4")]
    assert res.errors == [("sms", "3", 25, "Invalid originator ***")]
