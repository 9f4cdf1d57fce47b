"""Configuration of the simulator: data volume, clock, credentials, quirks and faults."""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np

MIXED = "mixed"

# name -> (variant A, variant B, what it is). In `mixed` mode each record (message, campaign,
# legacy lookup) gets A or B from a hash of its id and the quirk's name, so re-reads agree.
QUIRKS: dict[str, tuple[str, str, str]] = {
    "amount_field": ("amount", "amont", "message cost as `amount` object or `amont` list of one"),
    "sent_at_name": (
        "sent_at",
        "send_at",
        "message send time key: `sent_at` (the RCS page) or `send_at` (the SMS page)",
    ),
    "phone_type": ("string", "number", "message `phone` as JSON string or number"),
    "detail_wrapper": ("locale", "bare", 'campaign detail wrapped in {"en-US": {...}} or bare'),
    "fallback_stats_name": (
        "statistics",
        "statistic",
        "campaign list alternative_channels.sms.statistics vs .statistic",
    ),
    "detail_start_names": (
        "started_at",
        "start_at",
        "detail start keys started_at/actual_start_at vs start_at/real_start_at",
    ),
    "legacy_id_type": ("string", "number", "legacy SMS `id` and `msisdn` as strings or numbers"),
    "legacy_error_type": ("string", "number", "legacy error codes as strings or numbers"),
    "undocumented_statuses": (
        "present",
        "absent",
        "RCS `not_rcs_user` status served (else shown as `undelivered`)",
    ),
    "country_field": ("present", "absent", "message `country` key present or absent"),
    "parts_field": ("present", "absent", "message `parts` key present or absent"),
}


def _salt(name: str) -> int:
    return zlib.crc32(name.encode()) & 0xFFFFFFFF


def mix64(x: np.ndarray | int, salt: int = 0) -> np.ndarray:
    """splitmix64 finaliser, vectorised: a well-spread uint64 hash of integers."""
    with np.errstate(over="ignore"):
        z = np.asarray(x, dtype=np.int64).astype(np.uint64) ^ np.uint64(
            (salt * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
        )
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


@dataclass(frozen=True)
class QuirkConfig:
    """One field per quirk; each is variant A, variant B or `mixed` (default)."""

    amount_field: str = MIXED
    sent_at_name: str = MIXED
    phone_type: str = MIXED
    detail_wrapper: str = MIXED
    fallback_stats_name: str = MIXED
    detail_start_names: str = MIXED
    legacy_id_type: str = MIXED
    legacy_error_type: str = MIXED
    undocumented_statuses: str = MIXED
    country_field: str = MIXED
    parts_field: str = MIXED

    def __post_init__(self) -> None:
        for name, (a, b, _) in QUIRKS.items():
            value = getattr(self, name)
            if value not in (a, b, MIXED):
                raise ValueError(f"quirk {name}: {value!r} is not one of {a}, {b}, {MIXED}")

    @classmethod
    def parse(cls, items: Iterable[str] | None) -> QuirkConfig:
        """From `NAME=VARIANT` strings (the CLI's `--quirk`); `all=A|B|mixed` sets every quirk
        to its first/second variant or to mixed."""
        values: dict[str, str] = {}
        for item in items or ():
            name, sep, variant = item.partition("=")
            name, variant = name.strip(), variant.strip()
            if not sep:
                raise ValueError(f"quirk {item!r}: expected NAME=VARIANT (see --quirk list)")
            if name == "all":
                for q, (a, b, _) in QUIRKS.items():
                    values[q] = {"A": a, "B": b, MIXED: MIXED}[variant]
                continue
            if name not in QUIRKS:
                raise ValueError(f"unknown quirk {name!r}; known: {', '.join(QUIRKS)}")
            values[name] = variant
        return cls(**values)

    @classmethod
    def all_variant(cls, which: str) -> QuirkConfig:
        """Every quirk pinned to variant `A` or `B` (or `mixed`)."""
        return cls.parse([f"all={which}"])

    def pick(self, name: str, ids: np.ndarray | int | np.integer[Any]) -> np.ndarray:
        """Boolean array: True where variant A applies for these record ids."""
        a, _b, _ = QUIRKS[name]
        value = getattr(self, name)
        arr = np.asarray(ids)
        if value == a:
            return np.ones(arr.shape, dtype=bool)
        if value != MIXED:
            return np.zeros(arr.shape, dtype=bool)
        is_a: np.ndarray = (mix64(arr, _salt(name)) & np.uint64(1)) == 0
        return is_a

    def pick1(self, name: str, record_id: int) -> bool:
        return bool(self.pick(name, np.int64(record_id)))

    @staticmethod
    def describe() -> str:
        lines = ["quirk                  variant A    variant B    (default: mixed)"]
        for name, (a, b, doc) in QUIRKS.items():
            lines.append(f"{name:<22} {a:<12} {b:<12} {doc}")
        return "\n".join(lines)


FAULT_KINDS: tuple[str, ...] = (
    "429_retry_after",  # 429, Retry-After in seconds
    "429_retry_after_date",  # 429, Retry-After as an HTTP date
    "429_bare",  # 429 without Retry-After
    "500",  # 500 with a JSON body
    "502_html",  # 502 with an HTML body
    "503_html",  # 503 with an HTML body and Retry-After
    "slow",  # a correct answer after `slow_ms`
    "drop",  # headers with a Content-Length, part of the body, then the connection closes
    "truncated",  # 200 with the first half of the JSON body
)


@dataclass(frozen=True)
class SimulatorConfig:
    messages: int = 20_000
    seed: int = 7
    days: int = 183
    timezone: str = "UTC"
    token: str | None = None  # the one bearer accepted (besides issued ones); None: any
    api_key: str | None = None  # the one X-API-KEY accepted; None: any test_/live_ key
    live: bool = False
    speed: float = 1.0  # live mode: simulated seconds per real second
    fault_rate: float = 0.0
    latency_ms: float = 0.0
    rate_limit: float = 0.0  # requests per second (token bucket); 0 = off
    quirks: QuirkConfig = field(default_factory=QuirkConfig)
    token_ttl_requests: int | None = None  # issued bearers expire after this many requests
    anchor: date | None = None  # data anchor day (UTC midnight); default today
    start: datetime | None = None  # initial clock; default: the real time now
    future_hours: int = 24  # messages generated past the anchor, for live arrivals
    fault_kinds: tuple[str, ...] = FAULT_KINDS
    faults_exempt_auth: bool = True
    slow_ms: float = 1500.0

    def __post_init__(self) -> None:
        if isinstance(self.quirks, (list, tuple)):
            object.__setattr__(self, "quirks", QuirkConfig.parse(self.quirks))
        unknown = set(self.fault_kinds) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; known: {FAULT_KINDS}")
        if self.messages < 0 or self.days < 1:
            raise ValueError("messages must be >= 0 and days >= 1")

    def replace(self, **changes: Any) -> SimulatorConfig:
        return dataclasses.replace(self, **changes)
