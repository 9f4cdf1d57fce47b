"""Time windows for the list endpoints' ``filter[from]`` / ``filter[to]``.

The API takes wall-clock times in the account's zone (``yyyy-mm-dd hh:mm:ss``), refuses
periods longer than 3 months and dates in the future, and its filter is inclusive at both
ends, to the second.

A `Window` is half-open, ``[start, end)``, on whole seconds; consecutive windows share the
boundary instant (``a.end == b.start``). To the API a window is sent as
``filter[from] = start`` and ``filter[to] = end - 1 second``: since the API's times have
one-second precision, the inclusive range ``[start, end - 1 s]`` holds exactly the seconds
of ``[start, end)``, so the boundary second belongs to the later window only: never read
twice, never skipped.

Boundaries after the first fall on local midnights of the account's zone (so a DST change
makes a "7-day" window 7 x 24 h +- 1 h, and the wall-clock strings stay on whole days);
windows are computed as instants and only formatted in the zone.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

API_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
# `until` is clamped to now minus this, so no window ends in the (server's) future.
SAFETY_MARGIN = timedelta(minutes=2)
MAX_MONTHS = 3
# The fixed grid of planned windows (`split_windows(..., grid=GRID_ORIGIN)`): boundaries on
# the local midnights of GRID_ORIGIN + k * max_days, whatever day a run starts, so two plans
# of one range (a run and the run that takes it over later) share every window key but the
# first (it starts at `since`) and the open-ended last one (it ends at "now"). A Monday, so
# 7-day windows are ISO weeks.
GRID_ORIGIN = date(2000, 1, 3)
# The longest grid step that always fits in 3 calendar months (1 February to 1 May, 89 days).
MAX_GRID_DAYS = 89


def format_api_time(moment: datetime, zone: tzinfo) -> str:
    """An aware instant as the API writes it: wall-clock time in the account's zone."""
    return moment.astimezone(zone).strftime(API_TIME_FORMAT)


def parse_api_time(text: str, zone: tzinfo) -> datetime:
    """``yyyy-mm-dd hh:mm:ss`` in the account's zone -> an aware UTC datetime."""
    naive = datetime.strptime(text.strip(), API_TIME_FORMAT)
    return naive.replace(tzinfo=zone).astimezone(UTC)


@dataclass(frozen=True, order=True)
class Window:
    """``[start, end)`` as aware UTC instants on whole seconds, plus the account's zone."""

    start: datetime
    end: datetime
    zone_name: str = "UTC"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.zone_name)

    @property
    def key(self) -> str:
        """Deterministic, zone-independent, path-safe: ``20260101T000000Z..20260108T000000Z``."""
        return f"{self.start:%Y%m%dT%H%M%SZ}..{self.end:%Y%m%dT%H%M%SZ}"

    @property
    def api_from(self) -> str:
        return format_api_time(self.start, self.zone)

    @property
    def api_to(self) -> str:
        """The last second inside the window (the API's ``filter[to]`` is inclusive)."""
        return format_api_time(self.end - timedelta(seconds=1), self.zone)

    def params(self) -> dict[str, str]:
        return {"filter[from]": self.api_from, "filter[to]": self.api_to}

    def to_dict(self) -> dict[str, str]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "zone": self.zone_name,
        }

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> Window:
        return cls(
            datetime.fromisoformat(data["start"]).astimezone(UTC),
            datetime.fromisoformat(data["end"]).astimezone(UTC),
            data.get("zone", "UTC"),
        )

    def __str__(self) -> str:
        return f"[{self.api_from} .. {self.api_to}] {self.zone_name}"


def to_instant(value: datetime | date, zone: tzinfo) -> datetime:
    """A date (local midnight), naive datetime (local wall time) or aware datetime -> UTC."""
    if not isinstance(value, datetime):
        value = datetime.combine(value, time(0))
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(UTC)


def _local_midnight(day: date, zone: tzinfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def add_months(day: date, months: int) -> date:
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _floor_second(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


def split_windows(
    since: datetime | date,
    until: datetime | date | None,
    max_days: int,
    zone: tzinfo | str = "UTC",
    now: datetime | None = None,
    *,
    safety_margin: timedelta = SAFETY_MARGIN,
    grid: date | None = None,
) -> list[Window]:
    """Split ``[since, until)`` into consecutive windows of at most `max_days` local days,
    and never more than 3 calendar months (the API's limit), none ending in the future.

    `since`/`until` may be dates (local midnight), naive (local wall time) or aware
    datetimes. `until` (None = now) is clamped to ``now - safety_margin``. Both ends are
    floored to whole seconds. The first window starts at `since`. Later boundaries are the
    local midnights of ``since's date + k * max_days`` (counted again from a 3-month cap when
    one applies) or, with `grid` (a date), of ``grid + k * step`` for every k, where step is
    `max_days` capped at `MAX_GRID_DAYS` so that no cap ever moves the grid: the windows of
    any two ranges then share their boundaries. Returns [] for an empty range.
    """
    if max_days < 1:
        raise ValueError("max_days must be >= 1")
    zone = ZoneInfo(zone) if isinstance(zone, str) else zone
    zone_name = getattr(zone, "key", None) or str(zone)
    now = (now or datetime.now(UTC)).astimezone(UTC)
    start = _floor_second(to_instant(since, zone))
    limit = _floor_second(now - safety_margin)
    end = limit if until is None else min(_floor_second(to_instant(until, zone)), limit)
    if grid is not None:
        return _grid_windows(start, end, min(max_days, MAX_GRID_DAYS), zone, zone_name, grid)
    windows: list[Window] = []
    anchor = start.astimezone(zone).date()
    k = 1
    while start < end:
        local_start = start.astimezone(zone)
        boundary = _local_midnight(anchor + timedelta(days=k * max_days), zone)
        cap = datetime.combine(
            add_months(local_start.date(), MAX_MONTHS), local_start.time(), tzinfo=zone
        ).astimezone(UTC)
        stop = min(boundary, cap, end)
        windows.append(Window(start, stop, zone_name))
        start = stop
        if stop == boundary:
            k += 1
        elif stop == cap:
            # capped at 3 calendar months: count the next windows from here
            anchor, k = cap.astimezone(zone).date(), 1
    return windows


def _grid_windows(
    start: datetime, end: datetime, step: int, zone: tzinfo, zone_name: str, origin: date
) -> list[Window]:
    windows: list[Window] = []
    day = start.astimezone(zone).date()
    # the first grid day after `start`'s local date (a window never starts on its own end)
    k = (day - origin).days // step + 1
    while start < end:
        boundary = _local_midnight(origin + timedelta(days=k * step), zone)
        if boundary <= start:  # a local midnight that DST put before `start`
            k += 1
            continue
        stop = min(boundary, end)
        windows.append(Window(start, stop, zone_name))
        start = stop
        k += 1
    return windows
