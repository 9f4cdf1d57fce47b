"""How a stream's jobs read and land (no Prefect here, no stream of its own).

Each stream (`bsg_analytics.streams.*`) reads through a shared `BSGClient` with these
helpers and lands every successful response body through `RawStore` as soon as it arrives,
before anything but the bits needed to go on (page totals, ids, statuses) is parsed. Raw
pages carry stream, endpoint, the query params (never a credential: those travel in headers
only), fetched_at, run_id, group and seq. Which streams there are, their endpoints and raw
groups: `bsg_analytics.streams` (and the README's stream table).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bsg_analytics.raw import RawPage, RawStore
from bsg_client import ApiResponse, BSGAPIError, BSGClient
from bsg_client.client import LEGACY_NOT_FOUND, legacy_error_code
from bsg_client.pagination import Page

log = logging.getLogger("bsg_analytics.extract")

# what an endpoint this account is not served answers (refused, unknown, no such method, not
# implemented): the streams of optional endpoints (exports, balance) warn once and go on
NOT_SERVED_STATUSES = frozenset({403, 404, 405, 501})


@dataclass
class WindowResult:
    """What reading one window of one list stream did."""

    stream: str
    window_key: str
    group: str
    campaign_type: str | None = None
    pages: int = 0
    records: int = 0
    distinct_ids: int = 0
    duplicates: int = 0
    rereads: int = 0
    total: int | None = None
    complete: bool = False
    stalled: bool = False
    seconds: float = 0.0
    raw_paths: list[str] = field(default_factory=list)
    campaign_statuses: dict[int, str] = field(default_factory=dict)
    # messages streams: campaign id -> the message types seen in it
    message_campaigns: dict[int, set[str]] = field(default_factory=dict)

    @property
    def campaign_ids(self) -> list[int]:
        return sorted(self.campaign_statuses)

    @property
    def campaigns(self) -> dict[int, str]:
        """Alias of `campaign_statuses`: campaign id -> status as seen."""
        return self.campaign_statuses

    def shortfall(self) -> str:
        """What the API did when the read came out short, in words."""
        text = (
            f"announced {self.total} rows and served {self.distinct_ids} distinct ids in "
            f"{self.pages} pages"
        )
        if self.duplicates:
            text += f" ({self.duplicates} records repeated)"
        if self.stalled:
            text += ", then pages with no new id"
        return text

    def summary(self) -> dict[str, Any]:
        """Plain numbers, fit for a log line or a Prefect artifact."""
        return {
            "stream": self.stream,
            "window": self.window_key,
            "type": self.campaign_type,
            "pages": self.pages,
            "records": self.records,
            "distinct_ids": self.distinct_ids,
            "duplicates": self.duplicates,
            "rereads": self.rereads,
            "total": self.total,
            "complete": self.complete,
            "seconds": round(self.seconds, 3),
        }


@dataclass
class DetailResult:
    stream: str = "campaign_detail"
    pages: int = 0
    statuses: dict[int, str] = field(default_factory=dict)
    not_found: list[int] = field(default_factory=list)
    seconds: float = 0.0
    raw_paths: list[str] = field(default_factory=list)


@dataclass
class LegacyResult:
    landed: dict[str, int] = field(default_factory=lambda: {"legacy_sms": 0, "legacy_task": 0})
    not_found: list[tuple[str, str]] = field(default_factory=list)  # (lookup kind, key)
    errors: list[tuple[str, str, int | None, str]] = field(default_factory=list)
    tasks_answered_as_sms: list[str] = field(default_factory=list)
    seconds: float = 0.0
    raw_paths: list[str] = field(default_factory=list)

    def merge(self, other: LegacyResult) -> None:
        for stream, n in other.landed.items():
            self.landed[stream] = self.landed.get(stream, 0) + n
        self.not_found += other.not_found
        self.errors += other.errors
        self.tasks_answered_as_sms += other.tasks_answered_as_sms
        self.seconds += other.seconds
        self.raw_paths += other.raw_paths


def land(
    raw_store: RawStore, stream: str, resp: ApiResponse, run_id: str, group: str, seq: int
) -> str:
    """Write one response body, as received, with its metadata. Returns the body's path."""
    return raw_store.write(
        RawPage(
            stream=stream,
            endpoint=resp.endpoint,
            params=dict(resp.params),
            fetched_at=resp.fetched_at,
            status_code=resp.status_code,
            body=resp.body,
            run_id=run_id,
            group=group,
            seq=seq,
        )
    )


def read_window(
    client: BSGClient,
    raw_store: RawStore,
    stream: str,
    path: str,
    params: Mapping[str, str],
    result: WindowResult,
    run_id: str,
    parallel: int,
    on_page: Callable[[Page], None] | None = None,
    skim: tuple[str, ...] | None = None,
) -> WindowResult:
    """Read every page of one window of a list endpoint, landing each as it arrives; the
    result says how many came back and whether the window is whole. `skim`: the only fields
    of each record `on_page` reads (the landed body keeps them all)."""
    pagination = client.paginate(path, params, parallel=parallel, skim=skim)
    for page in pagination:
        result.raw_paths.append(
            land(raw_store, stream, page.response, run_id, result.group, page.seq)
        )
        if on_page is not None:
            on_page(page)
    s = pagination.stats
    result.pages, result.records = s.pages, s.records
    result.distinct_ids, result.duplicates, result.rereads = s.distinct_ids, s.duplicates, s.rereads
    result.total, result.complete, result.stalled = s.total, s.complete, s.stalled
    result.seconds = s.seconds
    if not s.complete:
        log.warning(
            "%s %s: read %d distinct ids of a total of %s%s",
            stream,
            result.group,
            s.distinct_ids,
            s.total,
            " (the server stopped giving new ids)" if s.stalled else "",
        )
    return result


def combine_reads(
    result: WindowResult, parts: Sequence[WindowResult], distinct_ids: int
) -> WindowResult:
    """`result` as the sum of several reads of one window (its listings of one type each):
    pages, records, duplicates, re-reads, seconds and raw paths add up; the total is the
    totals' sum (unknown when one is); whole when every read is; stalled when one is.
    `distinct_ids` is the number of distinct ids over all of them (the caller counts it: a
    record served by two reads is one id)."""
    result.pages = sum(p.pages for p in parts)
    result.records = sum(p.records for p in parts)
    result.distinct_ids = distinct_ids
    result.duplicates = sum(p.duplicates for p in parts)
    result.rereads = sum(p.rereads for p in parts)
    totals = [p.total for p in parts]
    result.total = None if any(t is None for t in totals) else sum(t or 0 for t in totals)
    result.complete = bool(parts) and all(p.complete for p in parts)
    result.stalled = any(p.stalled for p in parts)
    result.seconds = sum(p.seconds for p in parts)
    result.raw_paths = [path for p in parts for path in p.raw_paths]
    for part in parts:
        for cid, types in part.message_campaigns.items():
            result.message_campaigns.setdefault(cid, set()).update(types)
    return result


def reread_group(group: str, attempt: int) -> str:
    """The raw group of the `attempt`-th read of a window in one run (the first keeps its
    name), so a re-read never overwrites the pages of the read before it."""
    return group if attempt <= 1 else f"{group}.reread-{attempt}"


def lookup(
    client: BSGClient,
    raw_store: RawStore,
    result: LegacyResult,
    run_id: str,
    kind: str,
    key: str,
    group: str,
    seq: int,
    call: Callable[[], ApiResponse],
) -> str:
    """Land or record one legacy REST lookup: returns 'landed', 'not_found' or 'error'.
    Answers with data are landed under the stream their keys say (`classify_legacy`);
    error codes 20/30 (not found) and HTTP 404 are 'not_found', other codes are recorded
    in ``result.errors``."""
    try:
        resp = call()
    except BSGAPIError as exc:
        if exc.status_code == 404:
            return "not_found"
        raise
    code = legacy_error_code(resp.data)
    stream = classify_legacy(resp.data)
    if code in (None, 0) and stream is not None and 200 <= resp.status_code < 300:
        result.raw_paths.append(land(raw_store, stream, resp, run_id, group, seq))
        result.landed[stream] = result.landed.get(stream, 0) + 1
        if kind == "task" and stream == "legacy_sms":
            result.tasks_answered_as_sms.append(key)
        return "landed"
    if code in LEGACY_NOT_FOUND:
        return "not_found"
    desc = ""
    if isinstance(resp.data, Mapping):
        desc = client.scrub(resp.data.get("errorDescription") or "")
    result.errors.append((kind, key, code, desc or f"HTTP {resp.status_code}"))
    return "error"


def lookup_each(
    ids: Iterable[Any], kind: str, answer: Callable[[LegacyResult, str], str]
) -> LegacyResult:
    """Each id of a lookup job through `answer(result, key)` (which calls `lookup`); the
    ids it found nowhere are recorded as (kind, key) in ``not_found``."""
    result = LegacyResult()
    started = time.perf_counter()
    for value in ids:
        key = str(value)
        if answer(result, key) == "not_found":
            result.not_found.append((kind, key))
    result.seconds = time.perf_counter() - started
    return result


def classify_legacy(data: Any) -> str | None:
    """``legacy_task`` or ``legacy_sms`` from the body's keys; None for an error answer."""
    if not isinstance(data, Mapping):
        return None
    keys = set(data)
    if keys & {"originator", "totalprice", "undeliverable"}:
        return "legacy_task"
    if keys & {"msisdn", "time_in", "time_dr"}:
        return "legacy_sms"
    return None
