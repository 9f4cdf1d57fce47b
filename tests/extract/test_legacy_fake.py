"""A scripted legacy REST API for the lookup tests (they import it; its one test checks it
speaks the published shapes), served through `httpx.MockTransport`: the SMS, tasks and Viber
messages it knows, answered in the provider's published shapes (getStatus
``{"result": [...]}``, SmsStatusResponse, SmsTaskStatusResponse, ViberStatusResponse), every
request recorded."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

from tests.fixtures.fakebsg import API, REST, REST_KEY, TOKEN

NOT_FOUND_SMS = {"error": 20, "errorDescription": "SMS not found"}
NOT_FOUND_TASK = {"error": 30, "errorDescription": "Task not found"}
NOT_FOUND_VIBER = {"error": 40, "errorDescription": "Message not found"}


def sms_body(i: int) -> dict:
    """The published SmsStatusResponse of SMS `i`."""
    return {
        "error": 0,
        "errorDescription": "No errors",
        "id": str(i),
        "msisdn": f"38050{i:07d}",
        "reference": f"ref{i}",
        "time_in": "2025-01-14 15:30:00",
        "time_sent": "2025-01-14 15:30:20",
        "time_dr": "2025-01-14 15:30:25",
        "status": "delivered",
        "price": 0.05,
        "currency": "USD",
    }


def status_item(i: int) -> dict:
    """SMS `i` as an item of getStatus's `result` (published names: external_id, no time_in)."""
    body = sms_body(i)
    return {
        "id": body["id"],
        "external_id": body["reference"],
        "msisdn": body["msisdn"],
        "time_sent": body["time_sent"],
        "time_dr": body["time_dr"],
        "status": body["status"],
        "price": body["price"],
        "currency": body["currency"],
    }


def viber_body(i: int) -> dict:
    return {
        "error": 0,
        "errorDescription": "No errors",
        "id": str(i),
        "msisdn": f"38067{i:07d}",
        "reference": f"vref{i}",
        "time_in": "2025-01-15 10:30:00",
        "time_sent": "2025-01-15 10:30:01",
        "time_dr": "2025-01-15 10:30:10",
        "status": "not_viber_user",
        "price": 0.08,
        "currency": "USD",
        "alt_route": [{"channel": "sms", "id": str(i + 1), "status": "delivered", "price": 0.05}],
        "alt_route_messages": [
            {
                "id": str(i + 1),
                "time_in": "2025-01-15 10:30:11",
                "time_sent": "2025-01-15 10:30:12",
                "time_dr": "2025-01-15 10:30:15",
                "status": "delivered",
                "price": 0.05,
                "currency": "USD",
                "message": "fallback text",
                "sender": "BSG",
            }
        ],
    }


def task_body(i: int) -> dict:
    return {
        "error": 0,
        "errorDescription": "No errors",
        "originator": "BSG",
        "body": f"task {i}",
        "validity": 72,
        "totalprice": 5.25,
        "currency": "USD",
        "sent": 100,
        "total": 100,
        "queued": 0,
        "accepted": 95,
        "enroute": 3,
        "delivered": 92,
        "expired": 2,
        "undeliverable": 3,
        "unknown": 0,
    }


class LegacyFake:
    """`sms`, `tasks`, `viber`: the ids it knows. `get_status` answers a batch: by default
    the known ids in published items (unknown ids left out); set it to answer otherwise."""

    def __init__(self, sms=(), tasks=(), viber=(), key: str = REST_KEY):
        self.sms = set(sms)
        self.tasks = set(tasks)
        self.viber = set(viber)
        self.key = key
        self.requests: list[httpx.Request] = []
        self.get_status: Callable[[list[int]], httpx.Response] = self.status_result
        self.overrides: dict[str, httpx.Response] = {}  # path -> answer

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def status_result(self, ids: list[int]) -> httpx.Response:
        return httpx.Response(200, json={"result": [status_item(i) for i in ids if i in self.sms]})

    @property
    def calls(self) -> list[tuple[str, str, object]]:
        """(method, path, JSON body or None) of every request."""
        return [
            (r.method, r.url.path, json.loads(r.content) if r.content else None)
            for r in self.requests
        ]

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if request.headers.get("X-API-KEY") != self.key:
            return httpx.Response(200, json={"error": 2, "errorDescription": "Invalid API key"})
        if path in self.overrides:
            return self.overrides[path]
        parts = path.strip("/").split("/")
        if path == "/rest/sms/getStatus" and request.method == "POST":
            return self.get_status(json.loads(request.content)["ids"])
        if parts[:3] == ["rest", "sms", "reference"]:
            found = [i for i in self.sms if f"ref{i}" == parts[3]]
            return httpx.Response(200, json=sms_body(found[0]) if found else NOT_FOUND_SMS)
        if parts[:3] == ["rest", "sms", "task"]:
            i = int(parts[3])
            return httpx.Response(200, json=task_body(i) if i in self.tasks else NOT_FOUND_TASK)
        if parts[:2] == ["rest", "sms"] and len(parts) == 3:
            i = int(parts[2])
            return httpx.Response(200, json=sms_body(i) if i in self.sms else NOT_FOUND_SMS)
        if parts[:3] == ["rest", "viber", "reference"]:
            found = [i for i in self.viber if f"vref{i}" == parts[3]]
            return httpx.Response(200, json=viber_body(found[0]) if found else NOT_FOUND_VIBER)
        if parts[:2] == ["rest", "viber"] and len(parts) == 3:
            i = int(parts[2])
            return httpx.Response(200, json=viber_body(i) if i in self.viber else NOT_FOUND_VIBER)
        return httpx.Response(404, text="<html>Not Found</html>")


def client_for(fake: LegacyFake, **kw):
    from bsg_client import BSGClient

    opts: dict[str, Any] = dict(
        api_url=API,
        rest_url=REST,
        api_token=TOKEN,
        rest_api_key=REST_KEY,
        max_retries=2,
        transport=fake.transport(),
    )
    opts.update(kw)
    return BSGClient(**opts)


def test_the_fake_answers_in_the_published_shapes():
    """Its bodies have exactly the keys of the provider's examples (tests/fixtures/api)."""
    from tests.fixtures.fakebsg import recorded_json

    def keys(name):
        return set(recorded_json(f"legacy_published_{name}.json"))

    assert set(sms_body(1)) == keys("sms") | {"error", "errorDescription"}
    assert set(status_item(1)) == set(
        recorded_json("legacy_published_get_status.json")["result"][0]
    )
    assert set(task_body(1)) == keys("task")
    assert set(viber_body(1)) == keys("viber_with_sms_fallback")
    published = recorded_json("legacy_published_viber_with_sms_fallback.json")
    assert set(viber_body(1)["alt_route"][0]) == set(published["alt_route"][0])
    assert set(viber_body(1)["alt_route_messages"][0]) == set(published["alt_route_messages"][0])
