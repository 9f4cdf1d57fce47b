"""What a sync will read: `plan_windows` turns the settings, the saved state and the range
asked into a `Plan` of window jobs for every window stream of the registry, on the fixed grid
(`bsg_client.windows.GRID_ORIGIN`), taking an unfinished run over or retiring it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from bsg_analytics.raw import new_run_id
from bsg_analytics.settings import Settings
from bsg_analytics.state import SyncState, job_key
from bsg_analytics.streams import REGISTRY, Job, Planning, Registry
from bsg_client import Window, split_windows
from bsg_client.windows import GRID_ORIGIN, to_instant

DEFAULT_BACKFILL_DAYS = 90
MESSAGES, CAMPAIGNS = "messages", "campaigns"


def message_job_key(window: Window) -> str:
    return job_key(MESSAGES, window.key)


def campaign_job_key(campaign_type: str, window: Window) -> str:
    return job_key(CAMPAIGNS, window.key, campaign_type)


@dataclass
class Plan:
    """What a sync will read: each window stream's windows, the open campaigns whose detail
    to re-read, and what became of the unfinished run it found (taken over, retired, or
    none)."""

    stream_windows: dict[str, list[Window]]
    since: datetime
    until: datetime
    open_campaigns: dict[int, str]  # id -> status as last seen
    basis: str  # "since" (given), "watermark" (saved state minus look-back), "default", "takeover"
    # the arguments as asked (None = not given): a run asked the same takes the unfinished
    # checkpoint over
    request: tuple[str | None, str | None] = (None, None)
    run_id: str = ""
    takes_over: str | None = None  # the unfinished run whose done jobs this plan keeps
    retires: str | None = None  # the unfinished run this plan replaces (its rest included)
    carried_done: dict[str, datetime] = field(default_factory=dict)  # job -> read began
    carried_windows: int = 0  # windows of a retired run added to this plan
    registry: Registry = field(default=REGISTRY, repr=False)

    @property
    def windows(self) -> list[Window]:
        """The message windows."""
        return self.stream_windows.get(MESSAGES, [])

    @property
    def campaign_windows(self) -> list[Window]:
        """The campaign list windows (by creation time, up to 3 months each)."""
        return self.stream_windows.get(CAMPAIGNS, [])

    @property
    def open_campaign_ids(self) -> list[int]:
        return sorted(self.open_campaigns)

    @property
    def jobs(self) -> list[Job]:
        """Every window job, stream by stream in the registry's order."""
        return [
            job
            for name, windows in self.stream_windows.items()
            for job in self.registry[name].window_jobs(windows)
        ]

    @property
    def message_jobs(self) -> list[tuple[str, Window]]:
        return [(message_job_key(w), w) for w in self.windows]

    @property
    def campaign_jobs(self) -> list[tuple[str, Window, str]]:
        return [(j.key, j.window, j.variant) for j in self.jobs if j.stream == CAMPAIGNS]  # type: ignore[misc]

    @property
    def job_keys(self) -> list[str]:
        return [j.key for j in self.jobs]

    @property
    def pending_keys(self) -> list[str]:
        return [k for k in self.job_keys if k not in self.carried_done]

    def __iter__(self):
        return iter(self.windows)

    def __len__(self) -> int:
        return len(self.windows)


def _as_instant(value: datetime | date | str | None, zone: tzinfo) -> datetime | None:
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
    windows: list[Window], pending: list[Window], end: datetime, days: int, grid: dict[str, Any]
) -> list[Window]:
    """An interrupted run's windows continued up to `end`: kept as they are, except the last
    one when it was not written, which is planned again from its start (so a run taken over
    many times does not grow a tail of tiny windows)."""
    if not windows:
        return []
    keep = windows[:-1] if windows[-1] in pending else windows
    tail = windows[-1].start if windows[-1] in pending else windows[-1].end
    return [*keep, *split_windows(tail, end, days, **grid)]


def _start(
    settings: Settings, state: SyncState | None, since: datetime | None, now: datetime
) -> tuple[datetime, str]:
    """Where a run that takes nothing over starts, and why."""
    if since is not None:
        return since, "since"
    watermark = getattr(state, "watermark", None) if state is not None else None
    if watermark is not None:
        return watermark - timedelta(hours=settings.lookback_hours), "watermark"
    first_day = (now - timedelta(days=DEFAULT_BACKFILL_DAYS)).astimezone(settings.zone).date()
    return to_instant(first_day, settings.zone), "default"


def plan_windows(
    settings: Settings,
    state: SyncState | None,
    since: datetime | date | str | None = None,
    until: datetime | date | str | None = None,
    now: datetime | None = None,
    run_id: str | None = None,
    registry: Registry = REGISTRY,
) -> Plan:
    """The windows of a sync, in order, on the fixed grid, for each window stream of
    `registry` (its `window_days` long at most).

    - `since` given (a date is local midnight in ``settings.timezone``): from there;
    - else from the saved watermark minus ``settings.lookback_hours`` (72 h by default, the
      longest validity of a message, during which statuses still change);
    - with no state yet: 90 days back, from local midnight.

    `until` (a date means its local midnight, exclusive) defaults to now; no window ends in
    the future.

    An unfinished run in `state` (``state.run``) is never an error. Asked the same
    `since`/`until`, this plan *takes it over*: its windows are that run's windows (the jobs
    it finished stay done, ``carried_done``, with the moment each was read) plus windows
    from that run's end up to `now`. Asked something else, it *retires* it: the parts of its
    unfinished windows outside this range are added to this plan, so its promise is kept.
    """
    zone = settings.zone
    now = (now or datetime.now(UTC)).astimezone(UTC)
    asked = [_as_instant(v, zone) for v in (since, until)]
    request = (
        None if asked[0] is None else asked[0].isoformat(),
        None if asked[1] is None else asked[1].isoformat(),
    )
    previous = state.run if state is not None else None
    same = previous is not None and tuple(previous.request) == request
    if same and previous is not None and previous.since is not None:
        start, basis = previous.since, "takeover"
    else:
        start, basis = _start(settings, state, asked[0], now)
    end = asked[1] or now
    grid: dict[str, Any] = {"zone": zone, "now": now, "grid": GRID_ORIGIN}
    streams = registry.planned(Planning.WINDOW)
    stream_windows: dict[str, list[Window]] = {}
    for stream in streams:
        days = stream.window_days(settings) if stream.window_days else settings.window_days
        if same and previous is not None and previous.windows_of(stream.name):
            # the interrupted run's own windows, the last one re-planned up to now unless written
            stream_windows[stream.name] = _continued(
                previous.windows_of(stream.name),
                previous.pending_windows(stream.name),
                end,
                days,
                grid,
            )
        else:
            stream_windows[stream.name] = split_windows(start, end, days, **grid)
    first = stream_windows.get(streams[0].name, []) if streams else []
    planned_until = first[-1].end if first else start
    carried_windows = 0
    if previous is not None and not same:
        for stream in streams:
            extra = _outside(previous.pending_windows(stream.name), start, planned_until)
            merged = {*stream_windows[stream.name], *extra}
            stream_windows[stream.name] = sorted(merged, key=lambda w: (w.start, w.end))
            carried_windows += len(extra)
    plan = Plan(
        stream_windows=stream_windows,
        since=start,
        until=planned_until,
        open_campaigns=dict(state.open_campaigns) if state is not None else {},
        basis=basis,
        request=request,
        run_id=run_id or new_run_id(now),
        takes_over=previous.run_id if same and previous is not None else None,
        retires=previous.run_id if previous is not None and not same else None,
        carried_windows=carried_windows,
        registry=registry,
    )
    if same and previous is not None:
        keys = set(plan.job_keys)
        plan.carried_done = {k: t for k, t in previous.done.items() if k in keys}
    return plan
