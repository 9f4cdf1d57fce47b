"""What a sync will read: `plan_windows` turns the settings, the saved state and the range
asked into a `Plan` of window jobs for every window stream of the registry, on the fixed grid
(`bsg_client.windows.GRID_ORIGIN`), taking an unfinished run over or retiring it.

A variant added to a stream since its history was read (the WhatsApp campaign list: the
previous version read the sms and rcs lists only) is read once over that history
(`catch_up_windows`): the ranges whose jobs of some variant the archived checkpoints
(``D/state/runs/``) and the unfinished one record as done, less those done for the new
variant and those the plan reads anyway, become jobs of the new variant alone
(`Plan.variant_windows`). The archives are only read while the last finished run lacks a
variant, so once a run with the catch-up finished, planning costs one file read again."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

import orjson

from bsg_analytics.lookback import Interval, OpenIndex, adaptive_ranges, load_index, union
from bsg_analytics.raw import new_run_id
from bsg_analytics.settings import Settings
from bsg_analytics.state import RUNS_DIR, RunCheckpoint, SyncState, iter_archived_runs, job_key
from bsg_analytics.storage import STATE
from bsg_analytics.streams import REGISTRY, Job, Planning, Registry, Stream
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
    # stream -> variant -> windows read for that variant only: a variant added since the
    # stream's history was read, read once over it (`catch_up_windows`)
    # (variant None: a stream without variants, added since)
    variant_windows: dict[str, dict[str | None, list[Window]]] = field(default_factory=dict)
    # what the adaptive streams (messages, exports) re-read of what was created before the
    # last run: "adaptive" (the open index's spans), "full" (the fixed look-back, or all of
    # a first backfill) or "range" (the range asked)
    lookback: str = "full"
    reread_spans: list[tuple[datetime, datetime]] = field(default_factory=list)

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
        """Every window job, stream by stream in the registry's order (a stream's catch-up
        jobs, `variant_windows`, after its own)."""
        out: list[Job] = []
        for name, windows in self.stream_windows.items():
            out += self.registry[name].window_jobs(windows)
            for variant, extra in self.variant_windows.get(name, {}).items():
                out += [
                    Job(name, job_key(name, w.key, variant), window=w, variant=variant)
                    for w in extra
                ]
        return out

    @property
    def catch_up_jobs(self) -> list[Job]:
        """The jobs of `variant_windows` (a new variant read once over the history)."""
        return [
            Job(name, job_key(name, w.key, variant), window=w, variant=variant)
            for name, by_variant in self.variant_windows.items()
            for variant, windows in by_variant.items()
            for w in windows
        ]

    def catch_up_notice(self) -> str | None:
        """One line on the catch-up jobs of this plan, or None when there are none."""
        parts = []
        for name, by_variant in self.variant_windows.items():
            for variant, windows in by_variant.items():
                if windows:
                    start = min(w.start for w in windows)
                    end = max(w.end for w in windows)
                    what = name if variant is None else f"{name} {variant}"
                    parts.append(
                        f"{what} ({len(windows)} windows, {start:%Y-%m-%d %H:%M} .. "
                        f"{end:%Y-%m-%d %H:%M} UTC)"
                    )
        if not parts:
            return None
        return "reading once over the range synced before they were added: " + "; ".join(parts)

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


def _adaptive_index(settings: Settings, state: SyncState | None, now: datetime) -> OpenIndex | None:
    """The open index to plan an incremental run's adaptive streams from; None when this
    run re-reads the fixed look-back: ``BSG_LOOKBACK=fixed``, no index (a data directory of
    an older version), or the last full look-back is ``BSG_FULL_LOOKBACK_EVERY_HOURS`` old."""
    if settings.lookback != "adaptive" or state is None or settings.full_lookback_every_hours == 0:
        return None
    last_full = getattr(state, "full_lookback_at", None)
    if last_full is None or now - last_full >= timedelta(hours=settings.full_lookback_every_hours):
        return None
    data_dir = getattr(state, "data_dir", None)
    return load_index(data_dir) if data_dir is not None else None


def _minus_windows(windows: Iterable[Window], planned: Iterable[Window]) -> list[Window]:
    """The parts of `windows` that no window of `planned` covers."""
    cut = union((w.start, w.end) for w in planned)
    out = []
    for w in windows:
        out += [Window(a, b, w.zone_name) for a, b in _minus([(w.start, w.end)], cut)]
    return out


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
    streams = registry.planned(Planning.WINDOW, settings)
    stream_windows: dict[str, list[Window]] = {}
    index = _adaptive_index(settings, state, now) if basis == "watermark" else None
    if same and previous is not None:
        lookback = previous.lookback
    else:
        lookback = "adaptive" if index is not None else "full"
        if basis == "since" and (
            asked[1] is not None or start > now - timedelta(hours=settings.lookback_hours)
        ):
            lookback = "range"  # it does not re-read the whole look-back
    spans: list[tuple[datetime, datetime]] = []
    if index is not None and state is not None and state.watermark is not None:
        fresh = state.watermark - timedelta(minutes=settings.new_overlap_minutes)
        spans = adaptive_ranges(index, fresh)
    for stream in streams:
        days = stream.window_days(settings) if stream.window_days else settings.window_days
        if index is not None and stream.adaptive and not same:
            # what was created since the last run, and the spans that can still change
            stream_windows[stream.name] = sorted(
                [
                    *(w for a, b in spans for w in split_windows(a, b, days, zone=zone, now=now)),
                    *split_windows(fresh, end, days, **grid),
                ],
                key=lambda w: (w.start, w.end),
            )
        elif same and previous is not None and previous.windows_of(stream.name):
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
            pending = previous.pending_windows(stream.name)
            if stream.adaptive:  # its windows have gaps: what none of them covers
                extra = _minus_windows(pending, stream_windows[stream.name])
            else:
                extra = _outside(pending, start, planned_until)
            merged = {*stream_windows[stream.name], *extra}
            stream_windows[stream.name] = sorted(merged, key=lambda w: (w.start, w.end))
            carried_windows += len(extra)
    variant_windows = catch_up_windows(
        settings, state, registry, stream_windows, grid, exclude_unfinished=same
    )
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
        variant_windows=variant_windows,
        lookback=lookback,
        reread_spans=spans,
    )
    if same and previous is not None:
        keys = set(plan.job_keys)
        plan.carried_done = {k: t for k, t in previous.done.items() if k in keys}
    return plan


# --- catch-up of a variant added since the history was read ---------------------------------

_KEY_TIME = "%Y%m%dT%H%M%SZ"


def _key_interval(window_key: str) -> Interval | None:
    """``20260101T000000Z..20260108T000000Z`` (`Window.key`) -> its instants, or None."""
    start, sep, end = window_key.partition("..")
    if not sep:
        return None
    try:
        a, b = (datetime.strptime(t, _KEY_TIME).replace(tzinfo=UTC) for t in (start, end))
    except ValueError:
        return None
    return (a, b) if a < b else None


def done_intervals(
    checkpoints: Iterable[RunCheckpoint], stream: str
) -> dict[str | None, list[Interval]]:
    """Variant (None for a stream without variants) -> the windows of its done jobs of
    `stream` in `checkpoints`, as intervals (merged)."""
    out: dict[str | None, list[Interval]] = {}
    for cp in checkpoints:
        for key in cp.done:
            head, _, window_key = key.rpartition("/")
            name, _, variant = head.partition("/")
            interval = _key_interval(window_key)
            if name == stream and interval is not None:
                out.setdefault(variant or None, []).append(interval)
    return {v: union(iv) for v, iv in out.items()}


def _minus(intervals: list[Interval], cut: list[Interval]) -> list[Interval]:
    """`intervals` less `cut` (both merged)."""
    out: list[Interval] = []
    for a, b in intervals:
        pieces = [(a, b)]
        for c, d in cut:
            pieces = [
                piece
                for x, y in pieces
                for piece in ((x, min(y, c)), (max(x, d), y))
                if piece[0] < piece[1]
            ]
        out += pieces
    return out


def _last_run_variants(state: SyncState, stream: str) -> set[str | None] | None:
    """The variants of `stream` the last finished run did jobs of (None for the jobs of a
    stream without variants), from its archived checkpoint; None when there is no such
    checkpoint to read."""
    last = getattr(state, "last_run", None)
    data_dir = getattr(state, "data_dir", None)
    if last is None or data_dir is None:
        return None
    path = data_dir.path(STATE, RUNS_DIR, f"{last.run_id}.json")
    try:
        if not data_dir.exists(path):
            return None
        cp = RunCheckpoint.from_json(data_dir.read_bytes(path))
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
    return set(done_intervals([cp], stream))


def _archived_checkpoints(state: SyncState) -> list[RunCheckpoint]:
    out = []
    for data in iter_archived_runs(state.data_dir):
        try:
            out.append(RunCheckpoint.from_json(orjson.dumps(data)))
        except (KeyError, TypeError, ValueError):
            continue  # an archive this version cannot read: its range is not counted
    return out


def catch_up_windows(
    settings: Settings,
    state: SyncState | None,
    registry: Registry,
    stream_windows: Mapping[str, list[Window]],
    grid: dict[str, Any],
    *,
    exclude_unfinished: bool = False,
) -> dict[str, dict[str | None, list[Window]]]:
    """Stream -> variant -> the windows to read for that variant alone: where a job of some
    other variant of the stream is done in a checkpoint of `state` (archived runs, and the
    unfinished run unless `exclude_unfinished`: a takeover plans its catch-up again, with
    the same keys, so that the jobs it did stay done), a job of this variant is not, and
    `stream_windows` (read for every variant) do not reach. A stream without variants (its
    one read is variant None) added since the history was read is read once over the range
    the first window stream (`messages`) has synced: a data directory of an older version
    gets the new stream's history too. Nothing is read from the archives while the last
    finished run has jobs of every variant of every stream."""
    if state is None or getattr(state, "last_run", None) is None:
        return {}
    streams: list[Stream] = [
        s for s in registry.planned(Planning.WINDOW) if s.name in stream_windows
    ]
    lacking = []
    for stream in streams:
        read = _last_run_variants(state, stream.name)
        if read is None or not set(stream.variants or (None,)) <= read:
            lacking.append(stream)
    if not lacking:
        return {}
    checkpoints = _archived_checkpoints(state)
    if state.run is not None and not exclude_unfinished:
        checkpoints.append(state.run)
    out: dict[str, dict[str | None, list[Window]]] = {}
    history = streams[0].name if streams else None
    for stream in lacking:
        done = done_intervals(checkpoints, stream.name)
        synced = union(iv for ivs in done.values() for iv in ivs)
        if not stream.variants and history is not None and history != stream.name:
            base = done_intervals(checkpoints, history)
            synced = union([*synced, *(iv for ivs in base.values() for iv in ivs)])
        planned = union((w.start, w.end) for w in stream_windows[stream.name])
        days = stream.window_days(settings) if stream.window_days else settings.window_days
        for variant in stream.variants or (None,):
            missing = _minus(_minus(synced, done.get(variant, [])), planned)
            windows = [w for a, b in missing for w in split_windows(a, b, days, **grid)]
            if windows:
                out.setdefault(stream.name, {})[variant] = windows
    return out
