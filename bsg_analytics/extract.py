"""The extract streams, as plain functions (no Prefect here: the flows wrap them).

Each function reads through a shared `BSGClient` and lands every successful response body
through `RawStore` as soon as it arrives, before anything but the bits needed to go on
(page totals, ids, statuses) is parsed. Raw pages carry stream, endpoint, the query params
(never a credential: those travel in headers only), fetched_at, run_id, group and seq.

Streams and groups:

=================  ===========================================  ==============================
stream             endpoint                                     group
=================  ===========================================  ==============================
messages           GET /api/messages                            ``<window key>``
campaigns          GET /api/campaign (filter[type]=sms|rcs)     ``<window key>.type=<type>``
campaign_detail    GET /api/campaigns/{id}/detail               ``<campaign id>``
legacy_sms         GET /rest/sms/{id}, /rest/sms/reference/{r}  ``sms-<id>`` / ``ref-<r>``
legacy_task        GET /rest/sms/task/{id}, else /rest/sms/{id} ``task-<id>``
=================  ===========================================  ==============================
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bsg_analytics.raw import RawPage, RawStore, new_run_id
from bsg_client import ApiResponse, BSGAPIError, BSGClient, Window, split_windows
from bsg_client.client import LEGACY_NOT_FOUND, legacy_error_code
from bsg_client.windows import GRID_ORIGIN, MAX_GRID_DAYS, to_instant

log = logging.getLogger("bsg_analytics.extract")

MESSAGES_PATH = "/api/messages"
CAMPAIGN_LIST_PATHS = ("/api/campaign", "/api/campaigns")  # the page's text, its curl example
CAMPAIGN_TYPES = ("sms", "rcs")
DEFAULT_BACKFILL_DAYS = 90
CAMPAIGN_WINDOW_DAYS = MAX_GRID_DAYS  # the longest grid step within 3 calendar months


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


def message_job_key(window: Window) -> str:
    return f"messages/{window.key}"


def campaign_job_key(campaign_type: str, window: Window) -> str:
    return f"campaigns/{campaign_type}/{window.key}"


@dataclass
class Plan:
    """What a sync will read: its windows, the open campaigns whose detail to re-read, and
    what became of the unfinished run it found (taken over, retired, or none)."""

    windows: list[Window]
    since: datetime
    until: datetime
    open_campaigns: dict[int, str]  # id -> status as last seen
    basis: str  # "since" (given), "watermark" (saved state minus look-back), "default"
    # the campaign list's windows (by creation time): same range, up to 3 months each
    campaign_windows: list[Window] = field(default_factory=list)
    # the arguments as asked (None = not given): a run asked the same takes the unfinished
    # checkpoint over
    request: tuple[str | None, str | None] = (None, None)
    run_id: str = ""
    takes_over: str | None = None  # the unfinished run whose done jobs this plan keeps
    retires: str | None = None  # the unfinished run this plan replaces (its rest included)
    carried_done: dict[str, datetime] = field(default_factory=dict)  # job -> read began
    carried_windows: int = 0  # windows of a retired run added to this plan

    @property
    def open_campaign_ids(self) -> list[int]:
        return sorted(self.open_campaigns)

    @property
    def message_jobs(self) -> list[tuple[str, Window]]:
        return [(message_job_key(w), w) for w in self.windows]

    @property
    def campaign_jobs(self) -> list[tuple[str, Window, str]]:
        return [
            (campaign_job_key(t, w), w, t) for w in self.campaign_windows for t in CAMPAIGN_TYPES
        ]

    @property
    def job_keys(self) -> list[str]:
        return [k for k, _ in self.message_jobs] + [k for k, _, _ in self.campaign_jobs]

    @property
    def pending_keys(self) -> list[str]:
        return [k for k in self.job_keys if k not in self.carried_done]

    def __iter__(self):
        return iter(self.windows)

    def __len__(self) -> int:
        return len(self.windows)


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


def _read_window(
    client: BSGClient,
    raw_store: RawStore,
    stream: str,
    path: str,
    params: Mapping[str, str],
    result: WindowResult,
    run_id: str,
    parallel: int,
    on_page=None,
) -> WindowResult:
    pagination = client.paginate(path, params, parallel=parallel)
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


def reread_group(group: str, attempt: int) -> str:
    """The raw group of the `attempt`-th read of a window in one run (the first keeps its
    name), so a re-read never overwrites the pages of the read before it."""
    return group if attempt <= 1 else f"{group}.reread-{attempt}"


def extract_messages_window(
    client: BSGClient,
    raw_store: RawStore,
    window: Window,
    run_id: str,
    *,
    parallel: int = 1,
    attempt: int = 1,
) -> WindowResult:
    """Every message of `window` (both channels: /api/messages has no type filter)."""
    result = WindowResult("messages", window.key, reread_group(window.key, attempt))
    return _read_window(
        client, raw_store, "messages", MESSAGES_PATH, window.params(), result, run_id, parallel
    )


def extract_campaigns_window(
    client: BSGClient,
    raw_store: RawStore,
    window: Window,
    campaign_type: str,
    run_id: str,
    *,
    parallel: int = 1,
    attempt: int = 1,
) -> WindowResult:
    """Campaigns of one type (``sms`` or ``rcs``; ask for both) created in `window`; the
    result carries each campaign's id and status as seen."""
    if campaign_type not in CAMPAIGN_TYPES:
        raise ValueError(f"campaign_type must be one of {CAMPAIGN_TYPES}")
    group = reread_group(f"{window.key}.type={campaign_type}", attempt)
    params = {**window.params(), "filter[type]": campaign_type}

    def statuses(page) -> None:
        for rec in page.records:
            if isinstance(rec, Mapping) and rec.get("id") is not None:
                try:
                    cid = int(rec["id"])
                except (TypeError, ValueError, OverflowError):
                    continue  # not an id: the transform quarantines the record
                result.campaign_statuses[cid] = str(rec.get("status"))

    paths = [getattr(client, "campaign_list_path", None) or CAMPAIGN_LIST_PATHS[0]]
    paths += [p for p in CAMPAIGN_LIST_PATHS if p not in paths]
    for i, path in enumerate(paths):
        result = WindowResult("campaigns", window.key, group, campaign_type)
        try:
            _read_window(
                client, raw_store, "campaigns", path, params, result, run_id, parallel, statuses
            )
        except BSGAPIError as exc:
            # a 404 on the very first page: the other spelling of the list path
            if exc.status_code == 404 and result.pages == 0 and i + 1 < len(paths):
                log.warning("GET %s answered 404; trying %s", path, paths[i + 1])
                continue
            raise
        client.campaign_list_path = path
        return result
    raise AssertionError("unreachable")  # pragma: no cover


def unwrap_detail(data: Any) -> Mapping[str, Any] | None:
    """The campaign object of a detail body: ``{"en-US": {...}}`` or bare ``{...}``."""
    if not isinstance(data, Mapping):
        return None
    if "id" in data:
        return data
    inner = [v for v in data.values() if isinstance(v, Mapping)]
    if len(data) == 1 and inner:
        return inner[0]
    return None


def extract_campaign_details(
    client: BSGClient,
    raw_store: RawStore,
    campaign_ids: Iterable[int | str],
    run_id: str,
    *,
    parallel: int = 4,
) -> DetailResult:
    """GET /api/campaigns/{id}/detail for each id (group = the id); a 404 is recorded in
    ``not_found``, any other failure raises."""
    result = DetailResult()
    ids = sorted({int(i) for i in campaign_ids})
    started = time.perf_counter()

    def one(cid: int) -> tuple[int, ApiResponse | None]:
        try:
            return cid, client.get_campaign_detail(cid)
        except BSGAPIError as exc:
            if exc.status_code == 404:
                return cid, None
            raise

    with ThreadPoolExecutor(max_workers=max(1, parallel), thread_name_prefix="bsg-detail") as ex:
        for cid, resp in ex.map(one, ids):
            if resp is None:
                result.not_found.append(cid)
                continue
            result.raw_paths.append(land(raw_store, "campaign_detail", resp, run_id, str(cid), 0))
            result.pages += 1
            obj = unwrap_detail(resp.data)
            if obj is not None and obj.get("status") is not None:
                result.statuses[cid] = str(obj["status"])
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


def extract_legacy(
    client: BSGClient,
    raw_store: RawStore,
    run_id: str,
    sms_ids: Iterable[int | str] = (),
    references: Iterable[str] = (),
    task_ids: Iterable[int | str] = (),
) -> LegacyResult:
    """Legacy REST lookups. Answers with data are landed (stream by body keys); error codes
    20/30 (not found) are recorded in ``not_found``, other codes in ``errors``. Task ids
    try ``/rest/sms/task/{id}`` first, then ``/rest/sms/{id}`` (the seed page's shape)."""
    result = LegacyResult()
    started = time.perf_counter()

    def answer(kind: str, key: str, group: str, seq: int, call) -> str:
        """Land or record one lookup: returns 'landed', 'not_found' or 'error'."""
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
            result.landed[stream] += 1
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

    for sms_id in sms_ids:
        key = str(sms_id)
        got = answer("sms", key, f"sms-{key}", 0, lambda k=key: client.legacy_sms(k))
        if got == "not_found":
            result.not_found.append(("sms", key))
    for ref in references:
        key = str(ref)
        got = answer(
            "reference", key, f"ref-{key}", 0, lambda k=key: client.legacy_sms_by_reference(k)
        )
        if got == "not_found":
            result.not_found.append(("reference", key))
    for task_id in task_ids:
        key = str(task_id)
        got = answer("task", key, f"task-{key}", 0, lambda k=key: client.legacy_task(k, "task"))
        if got == "not_found":
            got = answer(
                "task", key, f"task-{key}", 1, lambda k=key: client.legacy_task(k, "plain")
            )
        if got == "not_found":
            result.not_found.append(("task", key))
    result.seconds = time.perf_counter() - started
    return result


def _as_instant(value: datetime | date | str | None, zone) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value) if len(value) > 10 else date.fromisoformat(value)
    return to_instant(value, zone)


def _outside(windows: Iterable[Window], start: datetime, end: datetime) -> list[Window]:
    """The parts of `windows` that lie outside ``[start, end)``."""
    out: list[Window] = []
    for w in windows:
        if w.start < start:
            out.append(Window(w.start, min(w.end, start), w.zone_name))
        if w.end > end:
            out.append(Window(max(w.start, end), w.end, w.zone_name))
    return [w for w in out if w.start < w.end]


def _continued(
    windows: list[Window], pending: list[Window], end: datetime, days: int, grid: dict
) -> list[Window]:
    """An interrupted run's windows continued up to `end`: kept as they are, except the last
    one when it was not written, which is planned again from its start (so a run taken over
    many times does not grow a tail of tiny windows)."""
    if not windows:
        return []
    keep = windows[:-1] if windows[-1] in pending else windows
    tail = windows[-1].start if windows[-1] in pending else windows[-1].end
    return [*keep, *split_windows(tail, end, days, **grid)]


def plan_windows(
    settings,
    state,
    since: datetime | date | str | None = None,
    until: datetime | date | str | None = None,
    now: datetime | None = None,
    run_id: str | None = None,
) -> Plan:
    """The windows of a sync, in order, on the fixed grid (`bsg_client.windows.GRID_ORIGIN`).

    - `since` given (a date is local midnight in ``settings.timezone``): from there;
    - else from the saved watermark minus ``settings.lookback_hours`` (72 h by default, the
      longest validity of a message, during which statuses still change);
    - with no state yet: 90 days back, from local midnight.

    `until` (a date means its local midnight, exclusive) defaults to now; no window ends in
    the future. Windows are ``settings.window_days`` long at most, campaign list windows up
    to `CAMPAIGN_WINDOW_DAYS`.

    An unfinished run in `state` (``state.run``) is never an error. Asked the same
    `since`/`until`, this plan *takes it over*: its windows are that run's windows (the jobs
    it finished stay done, ``carried_done``, with the moment each was read) plus windows
    from that run's end up to `now`. Asked something else, it *retires* it: the parts of its
    unfinished windows outside this range are added to this plan, so its promise is kept.
    """
    zone = settings.zone
    now = (now or datetime.now(UTC)).astimezone(UTC)
    request = tuple(None if v is None else _as_instant(v, zone).isoformat() for v in (since, until))
    previous = getattr(state, "run", None) if state is not None else None
    same = previous is not None and tuple(previous.request) == request
    start = _as_instant(since, zone)
    basis = "since"
    if same and previous.since is not None:
        start = previous.since
        basis = "takeover"
    elif start is None:
        watermark = getattr(state, "watermark", None) if state is not None else None
        if watermark is not None:
            start = watermark - timedelta(hours=settings.lookback_hours)
            basis = "watermark"
        else:
            first_day = (now - timedelta(days=DEFAULT_BACKFILL_DAYS)).astimezone(zone).date()
            start = to_instant(first_day, zone)
            basis = "default"
    end = _as_instant(until, zone) or now
    grid = {"zone": zone, "now": now, "grid": GRID_ORIGIN}
    if same and previous.windows:
        # the interrupted run's own windows, the last one re-planned up to now unless written
        windows = _continued(previous.windows, previous.pending(), end, settings.window_days, grid)
        campaign_windows = _continued(
            previous.campaign_windows,
            previous.pending_campaign_windows(),
            end,
            CAMPAIGN_WINDOW_DAYS,
            grid,
        )
    else:
        windows = split_windows(start, end, settings.window_days, **grid)
        campaign_windows = split_windows(start, end, CAMPAIGN_WINDOW_DAYS, **grid)
    planned_until = windows[-1].end if windows else start
    carried_windows = 0
    if previous is not None and not same:
        extra = _outside(previous.pending(), start, planned_until)
        extra_c = _outside(previous.pending_campaign_windows(), start, planned_until)
        windows = sorted({*windows, *extra}, key=lambda w: (w.start, w.end))
        campaign_windows = sorted({*campaign_windows, *extra_c}, key=lambda w: (w.start, w.end))
        carried_windows = len(extra) + len(extra_c)
    open_campaigns = dict(getattr(state, "open_campaigns", {}) or {}) if state else {}
    plan = Plan(
        windows=windows,
        since=start,
        until=planned_until,
        open_campaigns=open_campaigns,
        basis=basis,
        campaign_windows=campaign_windows,
        request=request,  # type: ignore[arg-type]
        run_id=run_id or new_run_id(now),
        takes_over=previous.run_id if same else None,
        retires=previous.run_id if previous is not None and not same else None,
        carried_windows=carried_windows,
    )
    if same:
        keys = set(plan.job_keys)
        plan.carried_done = {k: t for k, t in previous.done.items() if k in keys}
    return plan
