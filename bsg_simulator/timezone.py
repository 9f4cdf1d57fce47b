"""The account's time zone: epoch seconds <-> the API's local `yyyy-mm-dd hh:mm:ss` text,
and month arithmetic for the One API's 3-month window limit."""

from __future__ import annotations

import calendar
import re
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np

from bsg_client.windows import API_TIME_FORMAT

FMT_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")


def minus_months(dt: datetime, n: int) -> datetime:
    """`dt` n calendar months earlier, the day clamped to the month's length."""
    y, m = divmod(dt.month - 1 - n, 12)
    year, month = dt.year + y, m + 1
    return dt.replace(year=year, month=month, day=min(dt.day, calendar.monthrange(year, month)[1]))


def _utc_offset_s(t: int, zone: ZoneInfo) -> int:
    off = datetime.fromtimestamp(t, zone).utcoffset()
    return int(off.total_seconds()) if off is not None else 0


class TimeZone:
    """Epoch seconds <-> the account's `yyyy-mm-dd hh:mm:ss`, vectorised with an hourly table of
    UTC offsets over the data's span (zone changes fall on whole UTC hours)."""

    def __init__(self, name: str, lo: int, hi: int) -> None:
        self.name = name
        self.zone = ZoneInfo(name)
        self.utc = name.upper() in ("UTC", "ETC/UTC", "Z")
        self.lo = lo - lo % 3600
        hours = (hi - self.lo) // 3600 + 1
        self.table: np.ndarray
        if self.utc:
            self.table = np.zeros(1, dtype=np.int64)
        else:
            self.table = np.array(
                [_utc_offset_s(self.lo + h * 3600, self.zone) for h in range(hours)],
                dtype=np.int64,
            )

    def offsets(self, t: np.ndarray) -> np.ndarray:
        if self.utc:
            return np.zeros(np.shape(t), dtype=np.int64)
        h = np.clip((np.asarray(t) - self.lo) // 3600, 0, len(self.table) - 1)
        out: np.ndarray = self.table[h]
        outside = (np.asarray(t) < self.lo) | (h == len(self.table) - 1)
        if np.any(outside):
            for k in np.flatnonzero(np.atleast_1d(outside)):
                tk = int(np.atleast_1d(t)[k])
                np.atleast_1d(out)[k] = _utc_offset_s(tk, self.zone)
        return out

    def fmt(self, t: np.ndarray) -> list[str | None]:
        """Format epoch seconds; negative values (none) give None."""
        t = np.asarray(t, dtype=np.int64)
        local = (t + self.offsets(t)).astype("datetime64[s]")
        strs = np.datetime_as_string(local, unit="s").tolist()
        out: list[str | None] = [s.replace("T", " ") for s in strs]
        if np.any(t < 0):
            for k in np.flatnonzero(t < 0).tolist():
                out[k] = None
        return out

    def fmt1(self, t: int | None) -> str | None:
        if t is None or t < 0:
            return None
        return self.fmt(np.array([t]))[0]

    def local(self, t: float) -> datetime:
        return datetime.fromtimestamp(t, self.zone).replace(tzinfo=None)

    def parse(self, text: str) -> tuple[int, datetime]:
        if not FMT_RE.match(text):
            raise ValueError(text)
        naive = datetime.strptime(text, API_TIME_FORMAT)
        return int(naive.replace(tzinfo=self.zone).timestamp()), naive
