"""The simulator's dataset: its tables of names, codes and shares, and `Dataset`, the arrays
of campaigns and messages that `generation.py` draws (`generate`) from a seed.

Everything in a dataset is fixed at generation: each message's whole status trajectory
(created, queued, sent, outcome, read), its price and its fallback message. What a client sees
at a given moment is computed from these arrays and the simulator's clock (see `state.py`).

Id ranges (disjoint, so one `/rest/sms/{id}` path can tell a message from a task):
campaign ids start at `CAMPAIGN_ID_BASE`, legacy task ids are `campaign_id + TASK_ID_OFFSET`
(SMS campaigns only), message ids start at `MESSAGE_ID_BASE`. Campaign and message ids both
increase with their `created_at`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import numpy as np

from bsg_analytics.schemas.statuses import CHANNELS, RCS_STATUSES, SOURCES

from .config import _salt, mix64

CAMPAIGN_ID_BASE = 1_001
TASK_ID_OFFSET = 50_000_000
MESSAGE_ID_BASE = 100_000_001
UNITS = 10_000_000  # money is held in int64 units of 1e-7
CENT = UNITS // 100

# Status codes of the arrays; names are the API's strings, from schemas.statuses: the SMS
# page's ten in its order, then `read`, then the non-user outcomes. `not_rcs_user` is the
# code of an RCS message to a phone without RCS, served as `not_service_user` or
# `not_rcs_user` (the `rcs_non_user_status` quirk).
STATUS_NAMES: tuple[str, ...] = (
    *RCS_STATUSES,
    "not_rcs_user",
    "not_viber_user",
    "not_service_user",
)
S = {name: i for i, name in enumerate(STATUS_NAMES)}

# Channel codes: index into CHANNELS (sms, viber, rcs, whatsapp, hlr).
CH = {name: i for i, name in enumerate(CHANNELS)}
NO_FALLBACK = -1
CURRENCIES = ("UAH", "EUR", "USD")
VALIDITIES = np.array([24, 48, 72], dtype=np.int32)

# Shares of campaigns by channel (sms, viber, rcs, whatsapp, hlr), of sources, of currencies.
CHANNEL_SHARES = (0.55, 0.18, 0.12, 0.10, 0.05)
SOURCE_SHARES = (0.35, 0.45, 0.05, 0.03, 0.03, 0.03, 0.04, 0.02)
assert len(SOURCE_SHARES) == len(SOURCES) and len(CHANNEL_SHARES) == len(CHANNELS)
CURRENCY_SHARES = (0.5, 0.25, 0.25)
# price of one message (SMS: of one part) relative to the campaign's SMS part price, in tenths
CHANNEL_PRICE_TENTHS = np.array([10, 12, 15, 20, 1], dtype=np.int64)
WHOLE_CENT_SHARE = 0.4  # campaigns whose prices are whole cents
CALCULATED_PRICE_NULL_SHARE = 0.1  # campaigns whose list estimate is null

SENDERS: dict[str, tuple[str, ...]] = {
    "sms": ("BSG", "ShopUA", "NovaPay", "TaxiGo", "PharmaPlus", "BankAlert"),
    "viber": ("BSG Viber", "ShopUA", "NovaPay", "TaxiGo"),
    "rcs": ("BSG RCS Agent", "ShopUA Brand", "NovaPay Bot", "TaxiGo Agent"),
    "whatsapp": ("BSG WhatsApp", "ShopUA Support", "NovaPay"),
    "hlr": ("BSG HLR",),
}
CHANNEL_TITLES = {"sms": "SMS", "viber": "Viber", "rcs": "RCS", "whatsapp": "WhatsApp",
                  "hlr": "HLR"}  # fmt: skip
# country code, dialling prefix, national number length
COUNTRIES = (
    ("UA", 380, 9),
    ("PL", 48, 9),
    ("DE", 49, 10),
    ("GB", 44, 10),
    ("MD", 373, 8),
    ("LT", 370, 8),
    ("KZ", 7, 10),
)
# The statistics export's `country_name` of each of COUNTRIES.
COUNTRY_NAMES: dict[str, str] = {
    "UA": "Ukraine", "PL": "Poland", "DE": "Germany", "GB": "United Kingdom", "MD": "Moldova",
    "LT": "Lithuania", "KZ": "Kazakhstan",
}  # fmt: skip
# Mobile operators per country: (brand as the export's `brand`, MCC, MNC, share of the
# country's phones). A message's operator is a function of its phone (`operator_codes`), so a
# fallback (same phone) has its primary's operator.
OPERATORS: dict[str, tuple[tuple[str, str, str, float], ...]] = {
    "UA": (("Kyivstar", "255", "03", 0.50), ("Vodafone", "255", "01", 0.33),
           ("lifecell", "255", "06", 0.17)),
    "PL": (("Orange", "260", "03", 0.28), ("Play", "260", "06", 0.27),
           ("T-Mobile", "260", "02", 0.24), ("Plus", "260", "01", 0.21)),
    "DE": (("Telekom", "262", "01", 0.40), ("Vodafone", "262", "02", 0.32),
           ("O2", "262", "07", 0.28)),
    "GB": (("EE", "234", "30", 0.36), ("O2", "234", "10", 0.27), ("Vodafone", "234", "15", 0.21),
           ("Three", "234", "20", 0.16)),
    "MD": (("Orange", "259", "01", 0.60), ("Moldcell", "259", "02", 0.30),
           ("Unite", "259", "05", 0.10)),
    "LT": (("Telia", "246", "01", 0.35), ("Bite", "246", "02", 0.30),
           ("Tele2", "246", "03", 0.35)),
    "KZ": (("Beeline", "401", "01", 0.45), ("Kcell", "401", "02", 0.32),
           ("Tele2", "401", "77", 0.23)),
}  # fmt: skip
assert set(OPERATORS) == set(COUNTRY_NAMES) == {c[0] for c in COUNTRIES}
# every operator once, country by country in COUNTRIES order: (country index, brand, mcc, mnc)
OPERATOR_LIST: tuple[tuple[int, str, str, str], ...] = tuple(
    (k, brand, mcc, mnc)
    for k, (code, _, _) in enumerate(COUNTRIES)
    for brand, mcc, mnc, _ in OPERATORS[code]
)
_OP_BITS = 12  # the operator of a phone: a table of 2**12 slots per country


def _operator_table() -> np.ndarray:
    """(countries * 2**_OP_BITS) operator indices (OPERATOR_LIST): country k's slots are
    shared among its operators by their shares."""
    slots = 1 << _OP_BITS
    table = np.empty(len(COUNTRIES) * slots, dtype=np.int16)
    first = 0
    for k, (code, _, _) in enumerate(COUNTRIES):
        w = np.array([op[3] for op in OPERATORS[code]], dtype=np.float64)
        edges = np.round(np.cumsum(w / w.sum()) * slots).astype(np.int64)
        table[k * slots : (k + 1) * slots] = first + np.searchsorted(
            edges, np.arange(slots), "right"
        )
        first += len(w)
    assert first == len(OPERATOR_LIST)
    return table


_OP_TABLE = _operator_table()
_OP_SALT = _salt("operator")


def operator_codes(phone: np.ndarray, country: np.ndarray) -> np.ndarray:
    """Each phone's operator (index into OPERATOR_LIST), one of its country's by their shares
    (to 1/4096): a hash of the phone, so it draws nothing and a phone always has the same."""
    slot = (mix64(phone, _OP_SALT) >> np.uint64(64 - _OP_BITS)).astype(np.int64)
    out: np.ndarray = _OP_TABLE[(np.asarray(country, dtype=np.int64) << _OP_BITS) | slot]
    return out


# Fixed exchange rates into EUR (the balance's conversion of each message's cost).
EUR_PER: dict[str, str] = {"EUR": "1", "UAH": "0.0222", "USD": "0.9210"}
TEXTS = (
    "Your code is {code}. Do not share it.",
    "Order #{code} has been shipped. Track it in the app.",
    "Black Friday: -30% on everything until Sunday!",
    "Your taxi is waiting outside. Driver: Oleh, car AA{code}.",
    "Payment of 250.00 received. Balance: 1 204.50.",
    "Reminder: your appointment is tomorrow at 10:00.",
    "Vash kod pidtverdzhennia: {code}. Diisnyi 5 khvylyn.",
    "New arrivals are here - tap to see the spring collection and get free delivery today.",
)

# Outcome shares per channel (each sums to 1).
OUTCOMES: dict[str, tuple[tuple[str, float], ...]] = {
    "sms": (("delivered", 0.90), ("expired", 0.03), ("undelivered", 0.03), ("failed", 0.02),
            ("unknown", 0.02)),
    "viber": (("delivered", 0.78), ("not_viber_user", 0.10), ("undelivered", 0.04),
              ("failed", 0.03), ("expired", 0.03), ("unknown", 0.02)),
    "rcs": (("delivered", 0.80), ("not_rcs_user", 0.08), ("undelivered", 0.04),
            ("failed", 0.03), ("expired", 0.03), ("unknown", 0.02)),
    "whatsapp": (("delivered", 0.82), ("not_service_user", 0.07), ("undelivered", 0.04),
                 ("failed", 0.03), ("expired", 0.02), ("unknown", 0.02)),
    "hlr": (("delivered", 0.85), ("undelivered", 0.10), ("unknown", 0.05)),
}  # fmt: skip
READ_SHARE = {"viber": 0.50, "rcs": 0.55, "whatsapp": 0.60}  # of delivered messages
# Planted delivery collapses (config `collapses`): cells (operator x channel x UTC day, HLR
# lookups aside) of at least COLLAPSE_MIN_MESSAGES messages whose operator and channel had at
# least COLLAPSE_MIN_BASELINE in the COLLAPSE_BASELINE_DAYS before, where COLLAPSE_SHARE of
# the messages that would have been delivered are undelivered instead.
COLLAPSE_MIN_MESSAGES = 100
COLLAPSE_BASELINE_DAYS = 14
COLLAPSE_MIN_BASELINE = 50
COLLAPSE_SHARE = 0.85
COLLAPSE_CHANNELS = ("sms", "viber", "rcs", "whatsapp")
# Campaign texts (their start) that carry a short link: their delivered SMS and Viber
# messages have `sl_clicks` in the statistics export (0..2, from a hash of the id).
SHORT_LINK_TEXTS = ("Black Friday", "New arrivals")
SL_CLICK_SHARES = (0.70, 0.20, 0.10)
# Fallbacks: a share of a campaign's failed / undelivered / non-user messages is sent again
# on the campaign's fallback channel (Viber -> SMS; RCS -> SMS or Viber).
FALLBACK_SHARE = 0.75
FALLBACK_OUTCOMES = ("failed", "undelivered", "not_rcs_user", "not_viber_user")
CAMPAIGN_FALLBACK_SHARE = 0.8  # Viber and RCS campaigns sent with a fallback
RCS_VIBER_FALLBACK_SHARE = 0.35  # of RCS campaigns with a fallback: to Viber (else SMS)
RCS_TEXT_SHARE = 0.3  # RCS campaigns of `{text}` options (else cards)
MODERATED_SHARE = 0.3  # web campaigns that wait in `moderation` before they start

KIND_DONE, KIND_STOPPED, KIND_PAUSED, KIND_SPAM = 0, 1, 2, 3


def anchor_epoch(anchor: date) -> int:
    return int(datetime(anchor.year, anchor.month, anchor.day, tzinfo=UTC).timestamp())


@dataclass(frozen=True)
class Collapse:
    """A planted delivery collapse: on one UTC `day`, messages of one `operator` (index into
    OPERATOR_LIST) and `channel` (code) that would have been delivered mostly were not.
    `messages`: the cell's message indices (ascending); `delivered_before` / `delivered`: how
    many of them the data delivers without / with the collapse (their final outcome)."""

    operator: int
    channel: int
    day: date
    messages: np.ndarray
    delivered_before: int
    delivered: int


@dataclass
class Dataset:
    anchor: date
    t0: int
    t1: int
    # campaigns (index i has id CAMPAIGN_ID_BASE + i; sorted by created)
    c_channel: np.ndarray
    c_fallback: np.ndarray  # channel code of the campaign's fallback, NO_FALLBACK if none
    c_sender: list[str]
    c_currency: np.ndarray
    c_source: np.ndarray
    c_validity: np.ndarray
    c_created: np.ndarray
    c_mod_end: np.ndarray  # end of `moderation` (== created + 30 when not moderated)
    c_start: np.ndarray
    c_real_start: np.ndarray
    c_end: np.ndarray
    c_kind: np.ndarray
    c_text: list[str]
    c_parts: np.ndarray
    c_unit_price: np.ndarray  # (campaigns, channels): one message / SMS part, units of 1e-7
    c_cards: list[list[dict[str, Any]] | None]  # RCS cards (suggestions typed), or None
    c_rcs_options: list[dict[str, Any] | None]  # the served `rcs_options` (typed), or None
    c_options: list[dict[str, Any] | None]  # the RCS page's `options`, or None
    c_ptr: np.ndarray  # CSR over c_msg
    c_msg: np.ndarray  # message indices grouped by campaign, ascending within
    c_planned: np.ndarray  # planned primary messages
    c_price_planned: np.ndarray  # planned cost, units of 1e-7 (the list's estimate)
    c_price_null: np.ndarray  # the list's calculated_price is null
    # messages (index j has id MESSAGE_ID_BASE + j; sorted by created)
    m_campaign: np.ndarray
    m_channel: np.ndarray
    m_created: np.ndarray
    m_queue_off: np.ndarray
    m_sent_off: np.ndarray
    m_out_off: np.ndarray
    m_read_off: np.ndarray
    m_pre: np.ndarray
    m_inflight: np.ndarray
    m_outcome: np.ndarray
    m_phone: np.ndarray
    m_country: np.ndarray
    m_amount: np.ndarray  # int64 units of 1e-7
    m_parts: np.ndarray
    m_fallback: np.ndarray  # index of the message's fallback, -1 if none
    m_is_fallback: np.ndarray
    m_options: np.ndarray
    # static orders for sorting
    phone_order: np.ndarray
    deliv_time: np.ndarray
    deliv_order: np.ndarray
    # the delivery collapses planted in the data (generation.plant_collapses)
    collapses: list[Collapse] = field(default_factory=list)
    _operators: np.ndarray | None = field(default=None, repr=False)

    @property
    def m_operator(self) -> np.ndarray:
        """Each message's operator (index into OPERATOR_LIST): a function of its phone, made
        on first use."""
        if self._operators is None:
            self._operators = operator_codes(self.m_phone, self.m_country)
        return self._operators

    @property
    def n_messages(self) -> int:
        return len(self.m_created)

    @property
    def n_campaigns(self) -> int:
        return len(self.c_created)


def options_json(opts: dict[str, Any] | None) -> str | None:
    return None if opts is None else json.dumps(opts, sort_keys=True)


def money_text(units: int, two_decimals: bool = False) -> str:
    """A money amount as the API writes it: 7 decimals, or 2 when `two_decimals` and the
    amount is a whole number of cents."""
    whole, frac = divmod(units, UNITS)
    if two_decimals and frac % CENT == 0:
        return f"{whole}.{frac // CENT:02d}"
    return f"{whole}.{frac:07d}"
