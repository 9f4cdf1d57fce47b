"""The simulator's clock: frozen (default) or live; settable from tests."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime


def _epoch(value: datetime | float | int) -> float:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.timestamp()
    return float(value)


class Clock:
    """`now()` is epoch seconds (float). Frozen unless `live`; then it moves `speed` simulated
    seconds per real second from the last `set`/`advance`."""

    def __init__(self, start: datetime | float, live: bool = False, speed: float = 1.0) -> None:
        self._lock = threading.Lock()
        self._base = _epoch(start)
        self._real0 = time.monotonic()
        self.live = live
        self.speed = speed

    def now(self) -> float:
        with self._lock:
            if not self.live:
                return self._base
            return self._base + (time.monotonic() - self._real0) * self.speed

    def now_s(self) -> int:
        return int(self.now() // 1)

    def now_dt(self) -> datetime:
        return datetime.fromtimestamp(self.now_s(), tz=UTC)

    def set(self, value: datetime | float) -> None:
        with self._lock:
            self._base = _epoch(value)
            self._real0 = time.monotonic()

    def advance(self, seconds: float) -> None:
        self.set(self.now() + seconds)

    def freeze(self) -> None:
        now = self.now()
        with self._lock:
            self._base, self._real0, self.live = now, time.monotonic(), False

    def resume(self, speed: float | None = None) -> None:
        now = self.now()
        with self._lock:
            self._base, self._real0, self.live = now, time.monotonic(), True
            if speed is not None:
                self.speed = speed
