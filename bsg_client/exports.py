"""The statistics export jobs of the One API (``/api/stat/jobs``): create, poll, fetch, delete.

An export is asynchronous: ``POST /api/stat/jobs`` with a request (``{"type": "params",
"time_in_from": ..., "time_in_to": ...}``) answers a key; ``GET /api/stat/jobs/{key}``
answers ``{"status": "In progress"}`` until the result is ready, then ``{"status": "Done",
"result": [rows]}``; ``DELETE /api/stat/jobs/{key}`` frees it. The account holds at most
`MAX_ACTIVE` (2) active exports: a third ``POST`` answers HTTP 200 ``{"error": 0,
"errorDescription": "Maximum count of exports reached"}`` with no key. A key that is unknown,
expired or deleted answers ``{"error": 90, "errorDescription": "File not found"}``.

`ExportJobs` (one per client, `BSGClient.exports`) runs them:

- at most `MAX_ACTIVE` made at once from this process: making a job takes one of the
  client's slots (a semaphore; waiting for one is cancellable); resuming a saved key takes
  none (its job holds its place already), so the caller starts those first;
- `run(request, key=None, on_key=..., on_ready=...)`: the whole life of one job, within
  one of the places: a key from an interrupted run is polled first (a gone one is forgotten
  and the export made anew); a new key is handed to `on_key` at once, before the first
  poll, so that a run killed now finds it in its state; the ready answer goes to `on_ready`
  (the caller lands it), and the job is deleted before the place is let go (a finished job
  still listed would take a place, and look like an orphan to another thread);
- polling backs off from `POLL_FIRST_SECONDS`, doubling up to ``poll_max_seconds``, and
  gives up after ``timeout_seconds`` (`ExportTimeout`: the key is kept, the next run polls it
  again);
- "Maximum count of exports reached": the active jobs are listed (``GET /api/stat/jobs``).
  One whose request is ours is adopted (a ``POST`` whose answer was lost made it); one whose
  request this client made before, or whose key the caller saved (an interrupted run's, not
  yet resumed), and which no thread holds, is an orphan of ours and is deleted (a saved one's
  window makes it anew); otherwise the jobs are someone else's, and the run waits for them
  (backing off like a poll) until ``timeout_seconds``, then `ExportLimitReached` names their
  keys.

Every request goes through `BSGClient.request` (retries, auth, the limiter, the scrubber).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import orjson

from bsg_client.errors import BSGAPIError, BSGCancelled

if TYPE_CHECKING:
    from bsg_client.client import ApiResponse, BSGClient

log = logging.getLogger("bsg_client")

PATH = "/api/stat/jobs"
MAX_ACTIVE = 2
MAX_REACHED = "maximum count of exports reached"  # the provider's words, compared lower-cased
NOT_FOUND_ERROR = 90  # "File not found": unknown, expired or deleted
DONE = "done"
POLL_FIRST_SECONDS = 0.25


class ExportError(BSGAPIError):
    """An export job could not be made or read (the message says what to do)."""


class ExportTimeout(ExportError):
    """An export stayed pending past the time limit; its key is kept for the next run."""

    def __init__(self, message: str, *, key: str):
        super().__init__(message, endpoint=f"GET {PATH}/{{key}}")
        self.key = key


class ExportLimitReached(ExportError):
    """The account's export places stayed taken by jobs that are not ours."""


# how ``GET /api/stat/jobs`` lists a posted request (the provider's example lists one made as
# ``{"type": "message", "message_id": [...]}`` as ``{"message_ids": [...], "user_id": ...}``):
# the fields only one side has are left out of the comparison, the renamed one is renamed back
LISTED_APART = frozenset({"type", "user_id"})
LISTED_RENAMED = {"message_ids": "message_id"}


def canonical(request: Mapping[str, Any]) -> bytes:
    """A request, posted or listed, as comparable bytes (keys sorted, in the terms both
    share: `LISTED_APART`, `LISTED_RENAMED`): how a listed job is recognised."""
    shared = {LISTED_RENAMED.get(k, k): v for k, v in request.items() if k not in LISTED_APART}
    return orjson.dumps(shared, option=orjson.OPT_SORT_KEYS)


def error_code(data: Any) -> int | None:
    """The body's non-zero `error` code, or None."""
    if not isinstance(data, dict):
        return None
    try:
        code = int(data.get("error") or 0)
    except (TypeError, ValueError):
        return None
    return code or None


def _description(data: Any) -> str:
    said = data.get("errorDescription") if isinstance(data, dict) else None
    return str(said) if said else ""


def is_ready(data: Any) -> bool:
    """Whether a ``GET /api/stat/jobs/{key}`` body holds the result."""
    if not isinstance(data, dict) or error_code(data) is not None:
        return False
    status = data.get("status")
    if isinstance(status, str):  # a status, when given, decides ("In progress" with a list too)
        return status.strip().lower() == DONE
    return isinstance(data.get("result"), list)  # the provider's example: no status


def _validate(data: Any) -> str | None:
    if not isinstance(data, dict):
        return "a body that is not a JSON object"
    status = data.get("status")
    done = isinstance(status, str) and status.strip().lower() == DONE
    if done and not isinstance(data.get("result"), list):
        return "a ready export without a `result` list"
    return None


class ExportJobs:
    """The export jobs of one client (module doc). `sleep(seconds)` waits and returns True
    when the client was cancelled meanwhile; `clock` measures the time limit."""

    def __init__(
        self,
        client: BSGClient,
        *,
        timeout_seconds: float = 900.0,
        poll_max_seconds: float = 10.0,
        sleep: Callable[[float], bool] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.client = client
        self.timeout_seconds = timeout_seconds
        self.poll_max_seconds = poll_max_seconds
        self._sleep = sleep or client.wait
        self._clock = clock
        self._slots = threading.BoundedSemaphore(MAX_ACTIVE)
        self._lock = threading.Lock()
        self._made: set[bytes] = set()  # requests this client posted
        self._held: set[str] = set()  # keys a thread of this client is working on
        self._kept: set[str] = set()  # keys that timed out: kept for the next sync
        self._deleted: set[str] = set()  # orphans this client deleted
        self._creating: Counter[bytes] = Counter()  # requests being posted right now
        self.polls = 0  # GETs of a job's key (for the run's report)
        self.created = 0

    # one request each -------------------------------------------------------------------
    def create(self, request: Mapping[str, Any]) -> str | None:
        """``POST /api/stat/jobs``: the new key, held (`_held`: no thread of this client takes
        its job for an orphan; the caller lets it go), or None when the places are full."""
        mine = canonical(request)
        with self._lock:
            self._made.add(mine)
            self._creating[mine] += 1  # its job may be listed before its key is read
        try:
            resp = self.client.request("POST", PATH, json=dict(request), validate=_validate)
        except BaseException:
            with self._lock:
                self._creating[mine] -= 1
            raise
        data = resp.data
        found = data.get("key")
        key = found if isinstance(found, str) and found else None
        with self._lock:
            # held the moment it is read, in the same step as it stops being "being posted":
            # in between, another thread finding the places full took it for an orphan of
            # this client and deleted it (seen as "export ... was gone before it was read")
            self._creating[mine] -= 1
            if key is not None:
                self._held.add(key)
                self.created += 1
        if key is not None:
            return key
        if MAX_REACHED in _description(data).lower():
            return None
        raise ExportError(
            self.client.scrub(
                f"POST {PATH} answered no key ({_description(data) or 'no description'}): "
                "check the request; nothing was exported"
            ),
            endpoint=f"POST {PATH}",
            status_code=resp.status_code,
        )

    def get(self, key: str) -> ApiResponse:
        """``GET /api/stat/jobs/{key}``: the answer as it is (pending, ready or error 90)."""
        with self._lock:
            self.polls += 1
        return self.client.request("GET", f"{PATH}/{key}", validate=_validate)

    def delete(self, key: str) -> bool:
        """``DELETE /api/stat/jobs/{key}``: True when deleted, False when already gone."""
        resp = self.client.request("DELETE", f"{PATH}/{key}", validate=_validate)
        return error_code(resp.data) is None

    def active(self) -> list[dict[str, Any]]:
        """``GET /api/stat/jobs``: the account's active jobs ({key, request, status})."""
        resp = self.client.request("GET", PATH, validate=_validate)
        result = resp.data.get("result")
        return [j for j in result if isinstance(j, dict)] if isinstance(result, list) else []

    # a whole export ----------------------------------------------------------------------
    @contextmanager
    def slot(self) -> Iterator[None]:
        """One of this client's `MAX_ACTIVE` places, waited for (cancellable)."""
        while not self._slots.acquire(timeout=0.2):
            if self.client.cancelled:
                raise BSGCancelled(f"POST {PATH}: stopped")
        try:
            yield
        finally:
            self._slots.release()

    def run(
        self,
        request: Mapping[str, Any],
        key: str | None = None,
        on_key: Callable[[str], None] = lambda key: None,
        on_ready: Callable[[str, ApiResponse], None] = lambda key, resp: None,
        known: Callable[[], set[str]] = set,
    ) -> tuple[str, ApiResponse]:
        """The export of `request`, from its making (or the resumption of `key`, when it is
        still there: no slot taken) to its deletion, a new one within a slot (module doc):
        `on_key(key)` as soon as a new key is handed out, `on_ready(key, answer)` once the
        result is there (the caller lands it), then ``DELETE`` (a failure is logged: the
        API lets the job expire). `known()`: the keys the caller saved (an earlier run's
        jobs): listed while the places are full and held by no thread, they are let go like
        orphans (their windows make them anew). Returns (key, the ready answer)."""
        if key is not None:
            # its job already holds one of the account's places: no slot is taken for it
            with self._hold(key):
                ready = self.poll(key, request)
                if ready is not None:
                    return key, self._finish(key, ready, on_ready)
            log.info("export %s is gone (expired or deleted): making it again", key)
        with self.slot():
            key = self._make(request, known)  # held from its making: no thread's orphan
            with self._hold(key, already=True):
                on_key(key)
                ready = self.poll(key, request)
                if ready is None:
                    raise ExportError(
                        f"export {key} was gone before it was read (it expired or someone "
                        "deleted it): run the sync again to make it anew",
                        endpoint=f"GET {PATH}/{{key}}",
                    )
                return key, self._finish(key, ready, on_ready)

    def _finish(
        self, key: str, ready: ApiResponse, on_ready: Callable[[str, ApiResponse], None]
    ) -> ApiResponse:
        on_ready(key, ready)
        try:
            self.delete(key)
        except BSGAPIError as exc:
            log.warning("export %s: not deleted (%s); the API lets it expire", key, exc)
        return ready

    @contextmanager
    def _hold(self, key: str, already: bool = False) -> Iterator[None]:
        """`key` held by this thread (another thread never takes it for an orphan) until the
        block ends; `already`: `_make` held it the moment it was handed out."""
        if not already:
            with self._lock:
                self._held.add(key)
        try:
            yield
        finally:
            with self._lock:
                self._held.discard(key)

    def _waits(self) -> Iterator[float]:
        """The waits between two tries, until the time limit from now: POLL_FIRST_SECONDS
        doubling up to `poll_max_seconds`."""
        return self._backoff(self._clock() + self.timeout_seconds)

    def _backoff(self, deadline: float) -> Iterator[float]:
        wait = POLL_FIRST_SECONDS
        while (left := deadline - self._clock()) > 0:
            yield min(wait, left)
            wait = min(wait * 2, self.poll_max_seconds)

    def _wait(self, seconds: float, what: str) -> None:
        if self._sleep(seconds):
            raise BSGCancelled(f"{what}: stopped")

    def poll(self, key: str, request: Mapping[str, Any]) -> ApiResponse | None:
        """The ready answer of `key`, or None when it is gone; `ExportTimeout` past the
        time limit."""
        waits = self._waits()
        while True:
            resp = self.get(key)
            if error_code(resp.data) == NOT_FOUND_ERROR:
                return None
            if error_code(resp.data) is not None:
                raise ExportError(
                    self.client.scrub(
                        f"GET {PATH}/{key} answered error {error_code(resp.data)} "
                        f"({_description(resp.data)}): the key is kept, run the sync again"
                    ),
                    endpoint=f"GET {PATH}/{{key}}",
                    status_code=resp.status_code,
                )
            if is_ready(resp.data):
                return resp
            wait = next(waits, None)
            if wait is None:
                with self._lock:
                    self._kept.add(key)  # not an orphan: the next sync polls it
                raise ExportTimeout(
                    f"export {key} ({_window_of(request)}) was still pending after "
                    f"{self.timeout_seconds:g} s: its key is kept and the next sync polls it "
                    "again (BSG_EXPORT_TIMEOUT_SECONDS waits longer)",
                    key=key,
                )
            self._wait(wait, f"GET {PATH}/{key}")

    def _make(self, request: Mapping[str, Any], known: Callable[[], set[str]] = set) -> str:
        """A new key for `request`, through the account's limit (module doc); the jobs of
        `known()` keys count as this client's own."""
        waits = self._waits()
        ours = canonical(request)
        while True:
            key = self.create(request)
            if key is not None:
                return key  # held already (`create`)
            others = []
            saved = known()
            for job in self.active():
                jkey, jreq = job.get("key"), job.get("request")
                if not isinstance(jkey, str) or not isinstance(jreq, dict):
                    continue
                with self._lock:
                    held = jkey in self._held or jkey in self._kept
                    held = held or self._creating[canonical(jreq)] > 0
                    made = canonical(jreq) in self._made or jkey in saved
                    made = made and jkey not in self._deleted
                if held:
                    continue
                if canonical(jreq) == ours:
                    log.info("export %s of the same request was already made: adopted", jkey)
                    with self._lock:
                        self._held.add(jkey)
                    return jkey
                if made:
                    log.info("export %s is an orphan of this sync or an earlier one: deleted "
                             "to free its place", jkey)  # fmt: skip
                    with self._lock:
                        self._deleted.add(jkey)  # listed again after this: not ours to touch
                    self.delete(jkey)
                    break
                others.append(jkey)
            else:
                wait = next(waits, None)
                if wait is None:
                    foreign = ", ".join(others) or "none listed"
                    raise ExportLimitReached(
                        f"the account's {MAX_ACTIVE} export places stayed taken for "
                        f"{self.timeout_seconds:g} s (jobs {foreign}, not made by this sync): "
                        "let them finish or delete them, then sync again",
                        endpoint=f"POST {PATH}",
                    )
                log.debug("export places taken (%s): waiting %.2f s", ", ".join(others), wait)
                self._wait(wait, f"POST {PATH}")


def _window_of(request: Mapping[str, Any]) -> str:
    return f"{request.get('time_in_from')} .. {request.get('time_in_to')}"
