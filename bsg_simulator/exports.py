"""The statistics export jobs of One API `/api/stat/jobs` (create, list, poll, delete) and
the account balance `/api/accounts/balance`.

- `POST /api/stat/jobs` `{"type": "params", "time_in_from", "time_in_to"}` selects the
  messages whose `created_at` lies in the window, both ends inclusive to the second:
  `yyyy-mm-dd hh:mm:ss` in the account's zone, or RFC 3339 (`...T...Z`, an offset, or none:
  the account's zone; a fraction of a second narrows the window to the whole seconds inside
  it). Each end may not be after now (the simulator's clock), `from` not after `to`, and the
  window not longer than 3 calendar months (as `/api/messages`). Optional filters served:
  `phones` (integers), `country` (the export's `country_name`, any case), `status` (one of
  EXPORT_STATUSES, at the moment the job is ready); the other filters of `CreateJobParams`
  are refused (422: the simulator does not serve them). `{"type": "message", "message_id":
  [ints]}` (1..EXPORT_MAX_IDS) selects by id. Answer `{"error": 0, "key": <18 hex chars>}`.
  A bad body is HTTP 422 `{"error": 1, "errorDescription": ...}` (a simulator assumption:
  the provider describes no error answer).
- At most EXPORT_MAX_ACTIVE jobs are active (created, not deleted, not expired): another
  `POST` answers HTTP 200 `{"error": 0, "errorDescription": "Maximum count of exports
  reached"}`, as the provider's example (no key). A body is checked before the limit.
- A job is ready `export_ready_seconds` of wall-clock time (time.monotonic: a frozen
  simulated clock does not hold it back) after its creation and expires
  `export_ttl_seconds` after its creation. `GET /api/stat/jobs/{key}`: pending
  `{"error": 0, "status": "In progress"}` (a simulator assumption: the provider shows only a
  ready job), ready `{"error": 0, "status": "Done", "result": [rows]}` (`costs.export_rows`,
  ordered by message id); an unknown, deleted or expired key `{"error": 90,
  "errorDescription": "File not found"}` (HTTP 200). The rows are taken at the first `GET`
  after the job is ready, on the simulator's clock (`ExportJob.as_of`), and served the same
  on every later `GET`.
- `GET /api/stat/jobs` lists the active jobs: `{"error": 0, "result": [{key, request (the
  body as posted), status}]}`, oldest first. `DELETE /api/stat/jobs/{key}`: `{"error": 0,
  "errorDescription": "No errors"}`, or error 90 as above.

Injected faults (faults.py) act before or around a route: a 429/5xx never reaches it (no
job is made); `slow`, `truncated` and `drop` run it, so a `POST` answered so has made a job
whose key the client never read: it holds one of the two places until it expires (or is
deleted: `GET /api/stat/jobs` lists it with its request).
"""

from __future__ import annotations

import math
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import orjson

from bsg_analytics.schemas.statuses import EXPORT_STATUSES

from . import data as D
from .common import ApiError
from .costs import EXPORT_WORDS, CostsMixin
from .timezone import FMT_RE, minus_months

EXPORT_MAX_ACTIVE = 2
EXPORT_MAX_IDS = 10_000
KEY_HEX = 18
MAX_REACHED = {"error": 0, "errorDescription": "Maximum count of exports reached"}
NOT_FOUND = {"error": 90, "errorDescription": "File not found"}
DELETED = {"error": 0, "errorDescription": "No errors"}
PENDING, DONE = "In progress", "Done"
# CreateJobParams filters the simulator does not serve (a 422 says so)
UNSERVED_FILTERS = ("time_sent_from", "time_sent_to", "sender", "source", "operator_id",
                    "sl_clicks", "sl_clicks_comp", "sl_clicks_count")  # fmt: skip
_COUNTRY_CODE = {D.COUNTRY_NAMES[c[0]].lower(): k for k, c in enumerate(D.COUNTRIES)}


def _bad(msg: str) -> ApiError:
    return ApiError(422, {"error": 1, "errorDescription": msg})


@dataclass
class Selection:
    """Which messages a job exports: a window of `created_at` (epoch seconds, inclusive) with
    its filters, or ids."""

    lo: int = 0
    hi: int = 0
    ids: np.ndarray | None = None
    phones: np.ndarray | None = None
    country: int | None = None
    status: str | None = None


@dataclass
class ExportJob:
    key: str
    request: Any  # the body as posted
    selection: Selection
    created: float  # wall clock (time.monotonic)
    ready_at: float
    expires_at: float
    deleted: bool = False
    as_of: int | None = None  # the simulator's clock when the rows were taken
    result: bytes | None = None  # the rows' JSON list
    rows: int | None = None


@dataclass
class ExportJobs:
    """The jobs of one simulator. `wall` is the clock of readiness and expiry (tests may
    replace it)."""

    wall: Callable[[], float] = time.monotonic
    jobs: dict[str, ExportJob] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)

    def active(self, now: float | None = None) -> list[ExportJob]:
        t = self.wall() if now is None else now
        return [j for j in self.jobs.values() if not j.deleted and t < j.expires_at]

    def find(self, key: str) -> ExportJob | None:
        job = self.jobs.get(key)
        if job is None or job.deleted or self.wall() >= job.expires_at:
            return None
        return job

    def new_key(self) -> str:
        while (key := secrets.token_hex(KEY_HEX // 2)) in self.jobs:
            pass  # pragma: no cover - 72 random bits
        return key


class ExportsMixin(CostsMixin):
    """`stat_jobs_create`, `stat_jobs_list`, `stat_job_body`, `stat_jobs_delete`,
    `account_balance`; the jobs are `export_jobs`."""

    @property
    def export_jobs(self) -> ExportJobs:
        if not hasattr(self, "_export_jobs"):
            self._export_jobs = ExportJobs()
        return self._export_jobs

    # ------------------------------------------------------------- create
    def stat_jobs_create(self, payload: Any, now: int | None = None) -> dict[str, Any]:
        """`POST /api/stat/jobs` for a decoded JSON body (ApiError 422 for a bad one)."""
        now = self.now_s(now)
        selection = self._selection(payload, now)
        store, cfg = self.export_jobs, self.config
        with store.lock:
            t = store.wall()
            if len(store.active(t)) >= EXPORT_MAX_ACTIVE:
                return dict(MAX_REACHED)
            key = store.new_key()
            store.jobs[key] = ExportJob(
                key=key, request=payload, selection=selection, created=t,
                ready_at=t + cfg.export_ready_seconds, expires_at=t + cfg.export_ttl_seconds,
            )  # fmt: skip
        return {"error": 0, "key": key}

    def _selection(self, payload: Any, now: int) -> Selection:
        if not isinstance(payload, dict):
            raise _bad("The request body must be a JSON object.")
        kind = payload.get("type")
        if kind is None:
            raise _bad("The type field is required.")
        if kind == "message":
            ids = payload.get("message_id")
            if (
                not isinstance(ids, list)
                or not 1 <= len(ids) <= EXPORT_MAX_IDS
                or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids)
            ):
                raise _bad(f"The message_id must be a list of 1 to {EXPORT_MAX_IDS} integers.")
            return Selection(ids=np.unique(np.array(ids, dtype=np.int64)))
        if kind != "params":
            raise _bad("The selected type is invalid; params or message.")
        for name in UNSERVED_FILTERS:
            if payload.get(name) not in (None, ""):
                raise _bad(f"The {name} filter is not served by the simulator.")
        frm = self._time_bound(payload, "time_in_from", now)
        to = self._time_bound(payload, "time_in_to", now)
        if frm[0] > to[0]:
            raise _bad("The time_in_from must be a date before or equal to time_in_to.")
        if frm[1] < minus_months(to[1], 3):
            raise _bad("The period may not be longer than 3 months.")
        sel = Selection(lo=math.ceil(frm[0]), hi=math.floor(to[0]))
        phones = payload.get("phones")
        if phones is not None:
            if not isinstance(phones, list) or not all(
                isinstance(p, int) and not isinstance(p, bool) for p in phones
            ):
                raise _bad("The phones must be a list of integers.")
            sel.phones = np.array(phones, dtype=np.int64)
        country = payload.get("country")
        if country not in (None, ""):
            if not isinstance(country, str):
                raise _bad("The country must be a string.")
            sel.country = _COUNTRY_CODE.get(country.lower(), -1)
        status = payload.get("status")
        if status not in (None, ""):
            if status not in EXPORT_STATUSES:
                raise _bad(f"The selected status is invalid; one of {', '.join(EXPORT_STATUSES)}.")
            sel.status = status
        return sel

    def _time_bound(self, payload: dict[str, Any], name: str, now: int) -> tuple[float, datetime]:
        """(epoch seconds, the account's local time) of one end of the window."""
        text = payload.get(name)
        if text in (None, ""):
            raise _bad(f"The {name} field is required.")
        fmt = f"The {name} does not match the format Y-m-d H:i:s (or RFC 3339)."
        if not isinstance(text, str):
            raise _bad(fmt)
        if FMT_RE.match(text):
            epoch, local = self.tz.parse(text)
            at: float = epoch
        else:
            try:
                dt = datetime.fromisoformat(text)
            except ValueError:
                raise _bad(fmt) from None
            if "T" not in text:
                raise _bad(fmt)
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=self.tz.zone)
            at = dt.timestamp()
            local = dt.astimezone(self.tz.zone).replace(tzinfo=None)
        if at > now:
            raise _bad(f"The {name} must be a date before or equal to now.")
        return at, local

    # --------------------------------------------------------------- read
    def stat_jobs_list(self) -> dict[str, Any]:
        """`GET /api/stat/jobs`: the active jobs, oldest first."""
        store = self.export_jobs
        with store.lock:
            t = store.wall()
            jobs = sorted(store.active(t), key=lambda j: j.created)
            result = [
                {"key": j.key, "request": j.request, "status": DONE if t >= j.ready_at else PENDING}
                for j in jobs
            ]
        return {"error": 0, "result": result}

    def stat_job_body(self, key: str) -> bytes:
        """The JSON body of `GET /api/stat/jobs/{key}`; a ready job's rows are taken at its
        first read (the simulator's clock then) and kept."""
        store = self.export_jobs
        with store.lock:
            job = store.find(key)
            if job is None:
                return orjson.dumps(NOT_FOUND)
            if store.wall() < job.ready_at:
                return orjson.dumps({"error": 0, "status": PENDING})
            if job.result is None:
                now = self.clock.now_s()
                idx = self.export_indices(job.selection, now)
                job.as_of, job.rows, job.result = now, len(idx), self.export_json(idx, now)
            result = job.result
        return b'{"error":0,"status":"Done","result":' + result + b"}"

    def export_indices(self, sel: Selection, now: int) -> np.ndarray:
        """The messages (indices, ascending) a selection takes at `now`."""
        ds = self.data
        n = self.visible_count(now)
        if sel.ids is not None:
            j = sel.ids - D.MESSAGE_ID_BASE
            return j[(j >= 0) & (j < n)]
        lo = int(np.searchsorted(ds.m_created, sel.lo, "left"))
        hi = min(int(np.searchsorted(ds.m_created, sel.hi, "right")), n)
        idx = np.arange(lo, max(lo, hi), dtype=np.int64)
        if sel.phones is not None:
            idx = idx[np.isin(ds.m_phone[idx], sel.phones)]
        if sel.country is not None:
            idx = idx[ds.m_country[idx] == sel.country]
        if sel.status is not None:
            words = np.array(EXPORT_WORDS, dtype=object)[self._trajectory(idx, now)[0]]
            idx = idx[words == sel.status]
        return idx

    def stat_jobs_delete(self, key: str) -> dict[str, Any]:
        """`DELETE /api/stat/jobs/{key}`."""
        store = self.export_jobs
        with store.lock:
            job = store.find(key)
            if job is None:
                return dict(NOT_FOUND)
            job.deleted = True
        return dict(DELETED)

    # ------------------------------------------------------------- balance
    def account_balance(self, now: int | None = None) -> dict[str, Any]:
        """`GET /api/accounts/balance` at `now` (default: the clock)."""
        return self.balance_body(now)
