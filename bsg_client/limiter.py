"""A shared limiter of requests in flight, with AIMD control (as TCP's congestion window).

Every request of every thread takes a slot. The limit starts at `max_limit`
(settings.concurrency); a 429 halves it (multiplicative decrease, once per "wave": a 429
from a request that was sent before the last decrease does not halve again), and each
success adds ``1/limit`` (additive increase: about +1 per `limit` successes), never above
`max_limit`. So a latency-bound API is read close to its rate limit, and a rate-limited
one is backed off from without a storm of 429s.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass
class Slot:
    epoch: int
    throttled: bool = False


class AIMDLimiter:
    def __init__(self, max_limit: int, *, min_limit: int = 1, initial: float | None = None):
        if max_limit < 1 or min_limit < 1 or min_limit > max_limit:
            raise ValueError("need 1 <= min_limit <= max_limit")
        self.max_limit = max_limit
        self.min_limit = min_limit
        self._limit = float(initial if initial is not None else max_limit)
        self._in_flight = 0
        self._epoch = 0
        self._cond = threading.Condition()
        # counters, for reports and tests
        self.decreases = 0
        self.successes = 0
        self.throttles = 0
        self.peak_in_flight = 0

    @property
    def limit(self) -> int:
        """The whole number of requests allowed in flight now."""
        return max(self.min_limit, int(self._limit))

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def acquire(self) -> Slot:
        with self._cond:
            while self._in_flight >= self.limit:
                self._cond.wait()
            self._in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self._in_flight)
            return Slot(self._epoch)

    def release(self, slot: Slot) -> None:
        with self._cond:
            self._in_flight -= 1
            self._cond.notify_all()

    @contextmanager
    def slot(self) -> Iterator[Slot]:
        slot = self.acquire()
        try:
            yield slot
        finally:
            self.release(slot)

    def on_success(self, slot: Slot | None = None) -> None:
        with self._cond:
            self.successes += 1
            if self._limit < self.max_limit:
                self._limit = min(float(self.max_limit), self._limit + 1.0 / self._limit)
                self._cond.notify_all()

    def on_throttle(self, slot: Slot | None = None) -> None:
        """A 429: halve the limit, once per wave of requests."""
        with self._cond:
            self.throttles += 1
            if slot is not None and slot.epoch != self._epoch:
                return  # sent before the last decrease: that one already counted it
            self._limit = max(float(self.min_limit), self._limit / 2.0)
            self._epoch += 1
            self.decreases += 1

    def __repr__(self) -> str:
        return f"AIMDLimiter(limit={self.limit}/{self.max_limit}, in_flight={self._in_flight})"
