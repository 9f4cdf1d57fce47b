"""Configuration of the simulator: data volume, clock, credentials, quirks and faults.

Quirks: each names a place where the provider's OpenAPI files (the published shape) and its
older reference pages disagree. `QUIRKS[name]` is `(variants, doc)`: `variants[0]` is the
published shape (the default), the others the pages'. A quirk is set to one variant or to
`mixed`:

- record-level quirks (most): in `mixed` every record (message, campaign, legacy lookup) draws
  one of the variants from a hash of its id and the quirk's name, so re-reads agree;
- server-level quirks (`SERVER_QUIRKS`): one behaviour per server. `mixed` means "both" for
  `campaign_list_path` (both paths answer) and `list_search` (both spellings are read); for
  `messages_type_filter`, where both make no sense together, one of the two per request,
  from a hash of the request's query without its paging (so every page of one listing
  agrees).
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np

MIXED = "mixed"

# name -> (variants, what it is); variants[0] is the published shape.
QUIRKS: dict[str, tuple[tuple[str, ...], str]] = {
    "amount_field": (
        ("amount", "amont"),
        "message cost as the `amount` object, or the RCS page's `amont` list of one",
    ),
    "sent_at_name": (
        ("sent_at", "send_at"),
        "message send time key: `sent_at`, or the SMS page's `send_at`",
    ),
    "phone_type": (("number", "string"), "message `phone` as a JSON number or a string"),
    "detail_wrapper": (
        ("data", "locale", "bare"),
        'campaign detail as {"data": {...}}, the page\'s {"en-US": {...}}, or a bare object',
    ),
    "detail_start_names": (
        ("started_at", "start_at"),
        "detail start keys started_at/actual_start_at, or the page table's start_at/real_start_at",
    ),
    "detail_no_fallback": (
        ("list", "null"),
        "a detail's alternative_channels without an SMS fallback: `[]` or `null`",
    ),
    "list_fallback_stats": (
        ("absent", "statistics", "statistic"),
        "campaign list record: no alternative_channels, or the page's "
        "alternative_channels.sms.statistics / .statistic {delivered, sent}",
    ),
    "rcs_non_user_status": (
        ("not_service_user", "not_rcs_user"),
        "status of an RCS message to a phone without RCS",
    ),
    "suggestion_shape": (
        ("typed", "untyped"),
        "RCS suggestions {type: link|call, text, url|phone, postback_data}, or the page's "
        "{text, url} / {text, phone}",
    ),
    "options_field": (
        ("absent", "present"),
        "the RCS page's `options` object (the content options) on RCS messages",
    ),
    "country_field": (("present", "absent"), "message `country` key present or absent"),
    "parts_field": (("present", "absent"), "message `parts` key present or absent"),
    "legacy_id_type": (
        ("string", "number"),
        "legacy REST `id` and `msisdn` as strings or numbers",
    ),
    "legacy_error_type": (
        ("number", "string"),
        "legacy REST error codes as numbers or as the page's strings",
    ),
    "legacy_task_path": (
        ("task", "plain"),
        "tasks answer on /rest/sms/task/{id} only, or also on the page's /rest/sms/{task_id}",
    ),
    # server-level
    "campaign_list_path": (
        ("campaigns", "campaign"),
        "the campaign list on /api/campaigns (/api/campaign 404), or the reverse; mixed: both",
    ),
    "messages_type_filter": (
        ("ignored", "honoured"),
        "/api/messages ignores filter[type], or lists only that type (sms when absent, 422 for "
        "an unknown one); mixed: per request",
    ),
    "list_search": (
        ("search", "filter"),
        "campaign search as search[field]/search[value], or the page's "
        "filter[field]/filter[value]; mixed: both",
    ),
}
SERVER_QUIRKS: frozenset[str] = frozenset(
    {"campaign_list_path", "messages_type_filter", "list_search"}
)
# `--quirk all=...`: published / A = variants[0], pages / B = variants[1], mixed
ALL_VARIANTS = {"published": 0, "A": 0, "pages": 1, "B": 1}


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


def hash_bit(ids: np.ndarray | int, name: str) -> np.ndarray:
    """A stable per-record coin (bool array) for `name` (not a quirk: both sides are served)."""
    out: np.ndarray = (mix64(ids, _salt(name)) & np.uint64(1)) == 1
    return out


@dataclass(frozen=True)
class QuirkConfig:
    """One field per quirk; each is one of its variants or `mixed`. The default is the
    published variant of every quirk."""

    amount_field: str = QUIRKS["amount_field"][0][0]
    sent_at_name: str = QUIRKS["sent_at_name"][0][0]
    phone_type: str = QUIRKS["phone_type"][0][0]
    detail_wrapper: str = QUIRKS["detail_wrapper"][0][0]
    detail_start_names: str = QUIRKS["detail_start_names"][0][0]
    detail_no_fallback: str = QUIRKS["detail_no_fallback"][0][0]
    list_fallback_stats: str = QUIRKS["list_fallback_stats"][0][0]
    rcs_non_user_status: str = QUIRKS["rcs_non_user_status"][0][0]
    suggestion_shape: str = QUIRKS["suggestion_shape"][0][0]
    options_field: str = QUIRKS["options_field"][0][0]
    country_field: str = QUIRKS["country_field"][0][0]
    parts_field: str = QUIRKS["parts_field"][0][0]
    legacy_id_type: str = QUIRKS["legacy_id_type"][0][0]
    legacy_error_type: str = QUIRKS["legacy_error_type"][0][0]
    legacy_task_path: str = QUIRKS["legacy_task_path"][0][0]
    campaign_list_path: str = QUIRKS["campaign_list_path"][0][0]
    messages_type_filter: str = QUIRKS["messages_type_filter"][0][0]
    list_search: str = QUIRKS["list_search"][0][0]

    def __post_init__(self) -> None:
        for name, (variants, _) in QUIRKS.items():
            value = getattr(self, name)
            if value not in (*variants, MIXED):
                known = ", ".join((*variants, MIXED))
                raise ValueError(f"quirk {name}: {value!r} is not one of {known}")

    @classmethod
    def parse(cls, items: Iterable[str] | None) -> QuirkConfig:
        """From `NAME=VARIANT` strings (the CLI's `--quirk`), applied in order;
        `all=published|pages|mixed` (or `all=A|B`) sets every quirk to its published variant,
        to the pages' (its second variant) or to mixed."""
        values: dict[str, str] = {}
        for item in items or ():
            name, sep, variant = item.partition("=")
            name, variant = name.strip(), variant.strip()
            if not sep:
                raise ValueError(f"quirk {item!r}: expected NAME=VARIANT (see --quirk list)")
            if name == "all":
                if variant != MIXED and variant not in ALL_VARIANTS:
                    raise ValueError(
                        f"quirk all={variant!r}: expected all=published, all=pages or all=mixed"
                    )
                for q, (variants, _) in QUIRKS.items():
                    values[q] = MIXED if variant == MIXED else variants[ALL_VARIANTS[variant]]
                continue
            if name not in QUIRKS:
                raise ValueError(f"unknown quirk {name!r}; known: {', '.join(QUIRKS)}")
            values[name] = variant
        return cls(**values)

    @classmethod
    def all_variant(cls, which: str) -> QuirkConfig:
        """Every quirk pinned to `published`/`A`, `pages`/`B`, or `mixed`."""
        return cls.parse([f"all={which}"])

    def index(self, name: str, ids: np.ndarray | int | np.integer[Any]) -> np.ndarray:
        """Variant index (int array) of quirk `name` for these record ids."""
        variants = QUIRKS[name][0]
        value = getattr(self, name)
        arr = np.asarray(ids)
        if value != MIXED:
            return np.full(arr.shape, variants.index(value), dtype=np.int8)
        out: np.ndarray = (mix64(arr, _salt(name)) % np.uint64(len(variants))).astype(np.int8)
        return out

    def pick(self, name: str, ids: np.ndarray | int | np.integer[Any]) -> np.ndarray:
        """Boolean array: True where the published variant (variants[0]) applies."""
        out: np.ndarray = self.index(name, ids) == 0
        return out

    def pick1(self, name: str, record_id: int) -> bool:
        return bool(self.pick(name, np.int64(record_id)))

    def variant1(self, name: str, record_id: int) -> str:
        """The variant of quirk `name` that record `record_id` gets."""
        return QUIRKS[name][0][int(self.index(name, np.int64(record_id)))]

    @staticmethod
    def describe() -> str:
        lines = ["quirk                  variants (first: published, the default)"]
        for name, (variants, doc) in QUIRKS.items():
            level = " [server]" if name in SERVER_QUIRKS else ""
            lines.append(f"{name:<22} {'|'.join(variants):<30} {doc}{level}")
        lines.append(
            "mixed: per record (hash of its id); [server] quirks: see each. "
            "--quirk all=published|pages|mixed sets every quirk."
        )
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

TOKEN_TTL_DEFAULT_S = 30 * 86400  # the provider's example bearer lives 30 days


@dataclass(frozen=True)
class SimulatorConfig:
    messages: int = 20_000
    seed: int = 7
    days: int = 183
    timezone: str = "UTC"
    token: str | None = None  # the one bearer accepted (besides issued ones); None: any
    api_key: str | None = None  # the one key accepted (login, X-API-KEY); None: any test_/live_
    live: bool = False
    speed: float = 1.0  # live mode: simulated seconds per real second
    fault_rate: float = 0.0
    latency_ms: float = 0.0
    rate_limit: float = 0.0  # requests per second (token bucket); 0 = off
    quirks: QuirkConfig = field(default_factory=QuirkConfig)
    token_ttl_requests: int | None = None  # issued bearers expire after this many requests
    token_ttl_seconds: float = TOKEN_TTL_DEFAULT_S  # issued bearers' `exp`: simulated time
    anchor: date | None = None  # data anchor day (UTC midnight); default today
    start: datetime | None = None  # initial clock; default: the real time now
    future_hours: int = 24  # messages generated past the anchor, for live arrivals
    fault_kinds: tuple[str, ...] = FAULT_KINDS
    faults_exempt_auth: bool = True
    slow_ms: float = 1500.0
    # delivery collapses planted in the data (generation.plant_collapses); 0: clean data
    collapses: int = 3
    # statistics export jobs: ready this many wall-clock seconds after creation, gone this
    # many after creation (time.monotonic: a frozen simulated clock does not stop them)
    export_ready_seconds: float = 1.0
    export_ttl_seconds: float = 900.0
    # the balance: in this currency, `balance_start` minus the cost of every message created
    # by the clock (None: chosen so that at the anchor about BALANCE_RUNWAY_DAYS of the last
    # week's spend is left), and a credit limit
    account_currency: str = "EUR"
    balance_start: float | None = None
    credit: float = 0.0

    def __post_init__(self) -> None:
        if isinstance(self.quirks, (list, tuple)):
            object.__setattr__(self, "quirks", QuirkConfig.parse(self.quirks))
        unknown = set(self.fault_kinds) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; known: {FAULT_KINDS}")
        if self.messages < 0 or self.days < 1:
            raise ValueError("messages must be >= 0 and days >= 1")
        if not self.token_ttl_seconds > 0:
            raise ValueError("token_ttl_seconds must be > 0")
        if self.collapses < 0:
            raise ValueError("collapses must be >= 0")
        if self.export_ready_seconds < 0 or not self.export_ttl_seconds > 0:
            raise ValueError("export_ready_seconds must be >= 0 and export_ttl_seconds > 0")
        from .data import EUR_PER  # data imports this module

        if self.account_currency not in EUR_PER:
            known = ", ".join(EUR_PER)
            raise ValueError(f"account_currency {self.account_currency!r}: one of {known}")

    def replace(self, **changes: Any) -> SimulatorConfig:
        return dataclasses.replace(self, **changes)
