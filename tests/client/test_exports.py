"""The statistics export jobs (`bsg_client.exports`) over a scripted ``/api/stat/jobs``: the
exact requests of a run (create, poll with backoff, land, delete), resuming a saved key, the
time limit, the account's "Maximum count of exports reached" (adopt, delete an orphan, wait
for foreign jobs), the client's own two places and cancellation; and the balance call.

Nothing sleeps: each run's `sleep` records its wait and moves a fake clock (`FakeTime`)."""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from bsg_client import BSGCancelled, BSGClient
from bsg_client.client import BALANCE_PATH
from bsg_client.exports import (
    PATH,
    ExportError,
    ExportJobs,
    ExportLimitReached,
    ExportTimeout,
    is_ready,
)
from tests.fixtures.fakebsg import API, TOKEN, FakeBSG, make_client

PROVIDER = Path(__file__).parents[1] / "fixtures" / "provider"


def provider(name: str) -> bytes:
    return (PROVIDER / name).read_bytes()


REQUEST = {"type": "params", "time_in_from": "2026-02-18 00:00:00",
           "time_in_to": "2026-02-18 23:59:59"}  # fmt: skip
EARLIER = {"type": "params", "time_in_from": "2026-02-17 00:00:00",
           "time_in_to": "2026-02-17 23:59:59"}  # fmt: skip
FOREIGN = {"type": "params", "time_in_from": "2025-12-01 00:00:00",
           "time_in_to": "2025-12-31 23:59:59"}  # fmt: skip
SHOWN = provider("stat_jobs_show__job_example.json")  # the provider's ready job: no `status`
ROWS = json.loads(SHOWN)["result"]
PENDING = b'{"error":0,"status":"In progress"}'
DONE = json.dumps({"error": 0, "status": "Done", "result": ROWS}).encode()
MAX_REACHED = provider("stat_jobs_create__error.json")
DELETED = provider("stat_jobs_delete__success.json")
NOT_FOUND = provider("stat_jobs_delete__job_not_exist.json")  # also the poll of a gone key
BALANCE = provider("account_balance__schema_example.json")


def job(key: str) -> str:
    return f"{PATH}/{key}"


class FakeJobs:
    """``/api/stat/jobs`` as the provider answers it, through `httpx.MockTransport`.

    A new job is ``jobN`` (N counts the jobs made); its first `pending` polls answer
    `PENDING`, then `ready`. The account holds `places` active jobs (created, not deleted;
    None: no limit) and answers `MAX_REACHED` past them. While `hold` is set, a job not
    `released` stays pending. `cut` answers of ``POST`` are cut short after the job was made
    (an answer lost on the way). `script[(method, path)]` answers first, body by body;
    `after(request)` runs after each answer. `log` says what happened, in order."""

    def __init__(self, *, pending: int = 0, ready: bytes = DONE, places: int | None = 2):
        self.lock = threading.Condition()
        self.requests: list[httpx.Request] = []
        self.jobs: dict[str, dict[str, Any]] = {}  # key -> {"request", "pending", "polls"}
        self.posted: dict[str, Any] = {}  # key -> the request that made it
        self.pending = pending
        self.ready = ready
        self.places = places
        self.hold = False
        self.released: set[str] = set()
        self.cut = 0
        self.made = 0
        self.peak = 0  # most jobs active at once
        self.log: list[str] = []
        self.script: dict[tuple[str, str], deque[bytes]] = {}
        self.after: Callable[[httpx.Request], None] | None = None

    def add(self, key: str, request: Any, pending: int = 0) -> None:
        """A job made before the run (by someone else, or by an earlier run)."""
        self.jobs[key] = {"request": request, "pending": pending, "polls": 0}

    def release(self, key: str | None = None) -> None:
        """Let `key` (None: every job) become ready."""
        with self.lock:
            if key is None:
                self.hold = False
            else:
                self.released.add(key)

    def wait_until(self, done: Callable[[], bool]) -> None:
        with self.lock:
            assert self.lock.wait_for(done, timeout=5), self.log

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.requests.append(request)
            scripted = self.script.get((request.method, request.url.path))
            body = scripted.popleft() if scripted else self._serve(request)
            if self.after is not None:
                self.after(request)
            self.lock.notify_all()
        return httpx.Response(200, content=body)

    def _serve(self, request: httpx.Request) -> bytes:
        method, path = request.method, request.url.path
        if (method, path) == ("POST", PATH):
            if self.places is not None and len(self.jobs) >= self.places:
                return MAX_REACHED
            self.made += 1
            key = f"job{self.made}"
            self.posted[key] = json.loads(request.content)
            self.add(key, self.posted[key], self.pending)
            self.peak = max(self.peak, len(self.jobs))
            self.log.append(f"POST {key}")
            if self.cut:
                self.cut -= 1
                return b'{"error":0,"ke'
            return json.dumps({"error": 0, "key": key}).encode()
        if (method, path) == ("GET", PATH):
            listed = [
                {"key": key, "request": j["request"], "status": "In progress"}
                for key, j in self.jobs.items()
            ]
            return json.dumps({"error": 0, "result": listed}).encode()
        key = path.removeprefix(f"{PATH}/")
        found = self.jobs.get(key)
        if found is None:
            return NOT_FOUND
        if method == "DELETE":
            del self.jobs[key]
            self.log.append(f"DELETE {key}")
            return DELETED
        found["polls"] += 1
        if (self.hold and key not in self.released) or found["polls"] <= found["pending"]:
            return PENDING
        self.log.append(f"ready {key}")
        return self.ready


class FakeTime:
    """A run's clock and sleep: `sleep` records the wait and (when `advance`) moves the
    clock by it, without waiting, and answers whether the client was cancelled (as
    `BSGClient.wait` does)."""

    def __init__(self, client: BSGClient, *, advance: bool = True):
        self.client = client
        self.advance = advance
        self.now = 0.0
        self.waits: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> bool:
        self.waits.append(seconds)
        if self.advance:
            self.now += seconds
        return self.client.cancelled


def jobs_client(fake: FakeJobs, *, advance: bool = True, **kw: Any) -> tuple[BSGClient, FakeTime]:
    """A client over `fake` whose exports sleep on a `FakeTime`."""
    client = make_client(FakeBSG(), transport=fake.transport())
    clock = FakeTime(client, advance=advance)
    client.exports = ExportJobs(client, sleep=clock.sleep, clock=clock.clock, **kw)
    return client, clock


def asked(fake: FakeJobs) -> list[tuple[str, str]]:
    return [(r.method, r.url.path) for r in fake.requests]


# a run -----------------------------------------------------------------------------------
@pytest.mark.parametrize("ready", [DONE, SHOWN], ids=["status-done", "provider-no-status"])
def test_run_posts_the_request_polls_with_backoff_lands_then_deletes(ready):
    fake = FakeJobs(pending=9, ready=ready)
    client, clock = jobs_client(fake)
    seen: list[tuple[str, str, int]] = []
    with client:
        key, resp = client.exports.run(
            REQUEST,
            on_key=lambda k: seen.append(("key", k, len(fake.requests))),
            on_ready=lambda k, r: seen.append(("ready", k, len(fake.requests))),
        )
    assert asked(fake) == [("POST", PATH)] + [("GET", job("job1"))] * 10 + [("DELETE", job("job1"))]
    post = fake.requests[0]
    assert str(post.url) == f"{API}{PATH}" and json.loads(post.content) == REQUEST
    assert post.headers["Authorization"] == f"Bearer {TOKEN}"
    assert post.headers["Content-Type"] == "application/json"
    # the key before the first poll; the answer before the delete
    assert seen == [("key", "job1", 1), ("ready", "job1", 11)]
    assert clock.waits == [0.25, 0.5, 1, 2, 4, 8, 10, 10, 10]  # capped at poll_max_seconds
    assert key == "job1" and resp.body == ready and resp.data["result"] == ROWS
    assert resp.label == f"GET {job('job1')}"
    assert (client.exports.created, client.exports.polls) == (1, 10)
    assert fake.jobs == {}


def test_a_ready_answer_without_its_result_is_retried_as_malformed():
    fake = FakeJobs()
    fake.script[("GET", job("job1"))] = deque([b'{"error":0,"status":"Done"}'])
    client, _ = jobs_client(fake)
    with client:
        _, resp = client.exports.run(REQUEST)
    assert asked(fake) == [("POST", PATH), ("GET", job("job1")), ("GET", job("job1")),
                           ("DELETE", job("job1"))]  # fmt: skip
    assert resp.attempts == 2 and resp.body == DONE
    assert client.stats.retries == {"bad body": 1}


def test_a_poll_answering_another_error_keeps_the_key():
    fake = FakeJobs()
    fake.script[("GET", job("job1"))] = deque([b'{"error":12,"errorDescription":"Denied"}'])
    client, _ = jobs_client(fake)
    with client, pytest.raises(ExportError) as err:
        client.exports.run(REQUEST)
    assert str(err.value) == (
        "GET /api/stat/jobs/job1 answered error 12 (Denied): the key is kept, run the sync again"
    )
    assert asked(fake) == [("POST", PATH), ("GET", job("job1"))]
    assert list(fake.jobs) == ["job1"]


# resuming ---------------------------------------------------------------------------------
def test_a_saved_key_is_polled_first_and_nothing_is_made():
    fake = FakeJobs()
    fake.add("k1", REQUEST, pending=1)
    client, clock = jobs_client(fake)
    keys: list[str] = []
    with client:
        key, resp = client.exports.run(REQUEST, key="k1", on_key=keys.append)
    assert asked(fake) == [("GET", job("k1")), ("GET", job("k1")), ("DELETE", job("k1"))]
    assert (key, resp.body, keys, clock.waits) == ("k1", DONE, [], [0.25])
    assert client.exports.created == 0


def test_a_gone_key_is_forgotten_and_the_export_made_anew():
    fake = FakeJobs()
    client, _ = jobs_client(fake)
    keys: list[str] = []
    with client:
        key, resp = client.exports.run(REQUEST, key="k1", on_key=keys.append)
    assert asked(fake) == [("GET", job("k1")), ("POST", PATH), ("GET", job("job1")),
                           ("DELETE", job("job1"))]  # fmt: skip
    assert (key, keys, resp.body) == ("job1", ["job1"], DONE)
    assert fake.posted == {"job1": REQUEST}


def test_a_job_pending_past_the_time_limit_is_kept_for_the_next_run():
    fake = FakeJobs(pending=10**6)
    client, clock = jobs_client(fake, timeout_seconds=5)
    with client, pytest.raises(ExportTimeout) as err:
        client.exports.run(REQUEST)
    assert str(err.value) == (
        "export job1 (2026-02-18 00:00:00 .. 2026-02-18 23:59:59) was still pending after 5 s: "
        "its key is kept and the next sync polls it again (BSG_EXPORT_TIMEOUT_SECONDS waits "
        "longer)"
    )
    assert err.value.key == "job1"
    assert clock.waits == [0.25, 0.5, 1, 2, 1.25]  # the last one ends at the limit
    assert asked(fake) == [("POST", PATH)] + [("GET", job("job1"))] * 6  # no DELETE
    assert list(fake.jobs) == ["job1"]


# the account's two places ------------------------------------------------------------------
def test_a_listed_job_of_our_request_is_adopted_whatever_its_key_order():
    fake = FakeJobs()
    fake.add("foreign1", FOREIGN)
    fake.add("lost1", dict(reversed(REQUEST.items())))
    client, _ = jobs_client(fake)
    keys: list[str] = []
    with client:
        key, resp = client.exports.run(REQUEST, on_key=keys.append)
    assert asked(fake) == [("POST", PATH), ("GET", PATH), ("GET", job("lost1")),
                           ("DELETE", job("lost1"))]  # fmt: skip
    assert (key, keys, resp.body) == ("lost1", ["lost1"], DONE)
    assert list(fake.jobs) == ["foreign1"] and client.exports.created == 0


def test_the_job_a_lost_answer_made_is_adopted():
    fake = FakeJobs()
    fake.add("foreign1", FOREIGN)
    fake.cut = 1  # the POST made job1, its answer was cut: retried, the places are full
    client, _ = jobs_client(fake)
    with client:
        key, _ = client.exports.run(REQUEST)
    assert asked(fake) == [("POST", PATH), ("POST", PATH), ("GET", PATH), ("GET", job("job1")),
                           ("DELETE", job("job1"))]  # fmt: skip
    assert key == "job1" and fake.made == 1
    assert client.stats.retries == {"bad body": 1}


def test_the_provider_listing_of_our_request_is_recognised():
    """The provider lists a job made with ``{"type": "message", "message_id": [...]}`` as
    ``{"message_ids": [...], "user_id": ...}`` (its list example): still ours."""
    listed = json.loads(provider("stat_jobs_list__job_list_example.json"))["result"][0]
    fake = FakeJobs()
    fake.add(listed["key"], listed["request"])
    fake.script[("POST", PATH)] = deque([MAX_REACHED])
    fake.script[("GET", PATH)] = deque([provider("stat_jobs_list__job_list_example.json")])
    client, _ = jobs_client(fake)
    with client:
        key, _ = client.exports.run({"type": "message", "message_id": [3282067917]})
    assert key == "3941ffacdd698b404e"
    assert asked(fake) == [("POST", PATH), ("GET", PATH), ("GET", job(key)),
                           ("DELETE", job(key))]  # fmt: skip


def test_an_orphan_of_this_client_is_deleted_then_the_export_made():
    fake = FakeJobs()
    fake.add("foreign1", FOREIGN)
    client, _ = jobs_client(fake)
    # an export of this client whose DELETE did not take: its job stays, held by no one
    fake.script[("DELETE", job("job1"))] = deque([NOT_FOUND])
    with client:
        assert client.exports.run(EARLIER)[0] == "job1"
        key, _ = client.exports.run(REQUEST)
    assert asked(fake) == [
        ("POST", PATH),
        ("GET", job("job1")),
        ("DELETE", job("job1")),  # answered "not found", and the job is still there
        ("POST", PATH),  # Maximum count of exports reached
        ("GET", PATH),
        ("DELETE", job("job1")),  # foreign1 is left alone
        ("POST", PATH),
        ("GET", job("job2")),
        ("DELETE", job("job2")),
    ]
    assert [json.loads(r.content) for r in fake.requests if r.method == "POST"] == [
        EARLIER, REQUEST, REQUEST
    ]  # fmt: skip
    assert key == "job2" and list(fake.jobs) == ["foreign1"]


def test_foreign_jobs_are_waited_for_then_the_limit_is_reported():
    fake = FakeJobs()
    fake.add("foreign1", FOREIGN)
    fake.add("foreign2", EARLIER)
    client, clock = jobs_client(fake, timeout_seconds=3)
    with client, pytest.raises(ExportLimitReached) as err:
        client.exports.run(REQUEST)
    assert str(err.value) == (
        "the account's 2 export places stayed taken for 3 s (jobs foreign1, foreign2, not made "
        "by this sync): let them finish or delete them, then sync again"
    )
    assert clock.waits == [0.25, 0.5, 1, 1.25]
    assert asked(fake) == [("POST", PATH), ("GET", PATH)] * 5
    assert list(fake.jobs) == ["foreign1", "foreign2"] and fake.made == 0


def test_a_place_freed_by_someone_else_is_taken():
    fake = FakeJobs()
    fake.add("foreign1", FOREIGN)
    fake.add("foreign2", EARLIER)

    def free_after_two_lists(request: httpx.Request) -> None:
        if asked(fake).count(("GET", PATH)) == 2:
            fake.jobs.pop("foreign2", None)

    fake.after = free_after_two_lists
    client, clock = jobs_client(fake)
    with client:
        key, _ = client.exports.run(REQUEST)
    assert asked(fake) == [("POST", PATH), ("GET", PATH)] * 2 + [
        ("POST", PATH), ("GET", job("job1")), ("DELETE", job("job1"))
    ]  # fmt: skip
    assert key == "job1" and clock.waits == [0.25, 0.5]


def test_a_new_job_is_held_while_on_key_runs():
    """Another thread of this client that finds the places full while `on_key` saves the
    new key must not take that job for an orphan (here `on_key` runs that other export)."""
    fake = FakeJobs()
    fake.add("foreign1", FOREIGN)
    client, _ = jobs_client(fake, timeout_seconds=1)
    other: list[str] = []

    def meanwhile(key: str) -> None:
        with pytest.raises(ExportLimitReached) as err:
            client.exports.run(EARLIER)
        other.append(str(err.value))

    with client:
        key, _ = client.exports.run(REQUEST, on_key=meanwhile)
    assert key == "job1" and fake.log == ["POST job1", "ready job1", "DELETE job1"]
    assert other == [
        "the account's 2 export places stayed taken for 1 s (jobs foreign1, not made by this "
        "sync): let them finish or delete them, then sync again"
    ]


def test_a_new_key_is_held_from_the_moment_its_answer_is_read(monkeypatch):
    """Another thread of this client that finds the places full just after the POST
    answered, before the export that made the job goes on, must not delete that job as an
    orphan (it did: "export job1 was gone before it was read", exit 1, seen in a walkthrough)."""
    fake = FakeJobs(places=1)
    client, _ = jobs_client(fake, timeout_seconds=1)
    create = ExportJobs.create
    other: list[str] = []

    def racing_create(self, request):
        key = create(self, request)
        if request == REQUEST:  # the other export runs in this very gap
            t = threading.Thread(target=lambda: other.append(_outcome(client, EARLIER)))
            t.start()
            t.join()
        return key

    monkeypatch.setattr(ExportJobs, "create", racing_create)
    with client:
        key, _ = client.exports.run(REQUEST)
    assert key == "job1" and fake.log == ["POST job1", "ready job1", "DELETE job1"]
    assert other == [
        "ExportLimitReached: the account's 2 export places stayed taken for 1 s (jobs none "
        "listed, not made by this sync): let them finish or delete them, then sync again"
    ]


def _outcome(client: BSGClient, request: dict) -> str:
    try:
        client.exports.run(request)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return "exported"


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (b'{"error":0,"errorDescription":"The time_in_from field is required."}',
         "The time_in_from field is required."),
        (b'{"error":0}', "no description"),
        (f'{{"error":3,"errorDescription":"bad token {TOKEN}"}}'.encode(), "bad token ***"),
    ],
    ids=["described", "undescribed", "secret-echoed"],
)  # fmt: skip
def test_a_post_answered_without_a_key_fails_in_one_line(body, said):
    fake = FakeJobs()
    fake.script[("POST", PATH)] = deque([body])
    client, _ = jobs_client(fake)
    with client, pytest.raises(ExportError) as err:
        client.exports.run(REQUEST)
    assert type(err.value) is ExportError and err.value.status_code == 200
    assert str(err.value) == (
        f"POST /api/stat/jobs answered no key ({said}): check the request; nothing was exported"
    )
    assert asked(fake) == [("POST", PATH)]


def test_delete_answers_whether_the_job_was_there():
    fake = FakeJobs()
    fake.add("k1", REQUEST)
    client, _ = jobs_client(fake)
    with client:
        assert client.exports.delete("k1") is True
        assert client.exports.delete("k1") is False  # error 90, File not found
    assert asked(fake) == [("DELETE", job("k1"))] * 2


# the client's two places -------------------------------------------------------------------
def run_in_threads(client: BSGClient, requests: list[dict[str, str]]) -> tuple[list, list]:
    """Threads each running one export; their outcomes (a result or an exception)."""
    outcomes: list[Any] = [None] * len(requests)

    def work(i: int) -> None:
        try:
            outcomes[i] = client.exports.run(requests[i])
        except Exception as exc:
            outcomes[i] = exc

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(requests))]
    for t in threads:
        t.start()
    return threads, outcomes


def days(n: int) -> list[dict[str, str]]:
    return [
        {"type": "params", "time_in_from": f"2026-02-1{d} 00:00:00",
         "time_in_to": f"2026-02-1{d} 23:59:59"}
        for d in range(n)
    ]  # fmt: skip


def test_at_most_two_exports_at_once_from_one_client():
    fake = FakeJobs(places=None)  # the account sets no limit here: only the client does
    fake.hold = True
    client, _ = jobs_client(fake, advance=False)
    with client:
        threads, outcomes = run_in_threads(client, days(3))
        fake.wait_until(lambda: fake.made == 2)  # two made, polling; the third waits
        fake.release("job1")
        fake.wait_until(lambda: fake.made == 3)
        fake.release()
        for t in threads:
            t.join(timeout=5)
    assert not any(t.is_alive() for t in threads)
    assert fake.peak == 2 and fake.jobs == {}
    assert fake.log.index("POST job3") > fake.log.index("DELETE job1")
    assert sorted(key for key, _ in outcomes) == ["job1", "job2", "job3"]
    for request, (key, resp) in zip(days(3), outcomes, strict=True):
        assert fake.posted[key] == request and resp.body == DONE


def test_cancel_ends_runs_waiting_for_a_job_or_a_place():
    fake = FakeJobs(places=None)
    fake.hold = True
    client, _ = jobs_client(fake, advance=False)
    with client:
        threads, outcomes = run_in_threads(client, days(3))
        fake.wait_until(lambda: fake.made == 2)
        client.cancel()
        for t in threads:
            t.join(timeout=5)
    assert not any(t.is_alive() for t in threads)
    assert all(isinstance(o, BSGCancelled) for o in outcomes), outcomes
    assert sorted(map(str, outcomes)) == [
        "GET /api/stat/jobs/job1: stopped",
        "GET /api/stat/jobs/job2: stopped",
        "POST /api/stat/jobs: stopped",  # the third never had a place
    ]
    assert fake.made == 2


def test_cancel_ends_a_poll_wait_at_once():
    """With the client's own sleep (`BSGClient.wait`): cancelled during the first poll, the
    wait after it returns at once."""
    fake = FakeJobs(pending=1)
    client = make_client(FakeBSG(), transport=fake.transport())

    def cancel_on_poll(request: httpx.Request) -> None:
        if request.method == "GET":
            client.cancel()

    fake.after = cancel_on_poll
    with client, pytest.raises(BSGCancelled) as err:
        client.exports.run(REQUEST)
    assert str(err.value) == "GET /api/stat/jobs/job1: stopped"
    assert asked(fake) == [("POST", PATH), ("GET", job("job1"))]


# the balance -------------------------------------------------------------------------------
def test_get_balance_retries_a_truncated_body_and_answers_any_object():
    """A truncated body is retried; any JSON object is the answer (one without `data` is the
    transform's to quarantine: `tests/transforms/test_exports_transform.py`)."""
    fake = FakeBSG()
    fake.fail(lambda r: httpx.Response(200, content=b'{"data": {"bal'), path=BALANCE_PATH)
    fake.fail(lambda r: httpx.Response(200, content=BALANCE), path=BALANCE_PATH)
    with make_client(fake) as client:
        resp = client.get_balance()
    assert [(r.method, str(r.url)) for r in fake.requests] == [("GET", f"{API}{BALANCE_PATH}")] * 2
    assert fake.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"
    assert resp.attempts == 2 and sum(client.stats.retries.values()) == 1
    assert resp.body == BALANCE
    assert resp.data == {"data": {"balance": -50.25, "currency": "USD", "credit": 125}}
    fake = FakeBSG()
    fake.fail(lambda r: httpx.Response(200, content=b'{"balance":10}'), path=BALANCE_PATH)
    with make_client(fake) as client:
        assert client.get_balance().data == {"balance": 10}


def test_a_status_decides_whether_an_answer_is_ready():
    assert is_ready({"error": 0, "status": "Done", "result": []})
    assert is_ready({"error": 0, "result": []})  # the provider's example has no status
    assert not is_ready({"error": 0, "status": "In progress", "result": []})
    assert not is_ready({"error": 0, "status": "In progress"})
    assert not is_ready({"error": 90, "errorDescription": "File not found"})
