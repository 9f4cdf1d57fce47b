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
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import numpy as np

from bsg_analytics.schemas.statuses import CHANNELS, RCS_STATUSES, SOURCES

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
