"""The simulator's dataset: its tables of names, codes and shares, and `Dataset`, the arrays
of campaigns and messages that `generation.py` draws (`generate`) from a seed.

Everything in a dataset is fixed at generation: each message's whole status trajectory
(created, queued, sent, outcome, read), its price and its fallback SMS. What a client sees at a
given moment is computed from these arrays and the simulator's clock (see `state.py`).

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

from bsg_analytics.schemas.statuses import RCS_STATUSES

CAMPAIGN_ID_BASE = 1_001
TASK_ID_OFFSET = 50_000_000
MESSAGE_ID_BASE = 100_000_001

# Status codes of the arrays; names are the API's strings, from schemas.statuses: the SMS
# page's ten in its order, then RCS `read`, then the one undocumented status generated.
STATUS_NAMES: tuple[str, ...] = (*RCS_STATUSES, "not_rcs_user")
S = {name: i for i, name in enumerate(STATUS_NAMES)}

CHANNELS = ("sms", "rcs")
SOURCES = ("web", "rest")
CURRENCIES = ("UAH", "EUR")
VALIDITIES = np.array([24, 48, 72], dtype=np.int32)
SMS_SENDERS = ("BSG", "ShopUA", "NovaPay", "TaxiGo", "PharmaPlus", "BankAlert")
RCS_SENDERS = ("BSG RCS Agent", "ShopUA Brand", "NovaPay Bot", "TaxiGo Agent")
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

# Outcome shares (must sum to 1).
SMS_OUTCOMES = (("delivered", 0.90), ("expired", 0.03), ("undelivered", 0.03),
                ("failed", 0.02), ("unknown", 0.02))  # fmt: skip
RCS_OUTCOMES = (("delivered", 0.80), ("not_rcs_user", 0.08), ("undelivered", 0.04),
                ("failed", 0.03), ("expired", 0.03), ("unknown", 0.02))  # fmt: skip
RCS_READ_SHARE = 0.55
FALLBACK_SHARE = 0.75  # of failed / undelivered / not_rcs_user RCS messages

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
    c_sender: list[str]
    c_currency: np.ndarray
    c_source: np.ndarray
    c_validity: np.ndarray
    c_created: np.ndarray
    c_start: np.ndarray
    c_real_start: np.ndarray
    c_end: np.ndarray
    c_kind: np.ndarray
    c_text: list[str]
    c_parts: np.ndarray
    c_cards: list[list[dict[str, Any]] | None]
    c_options: list[dict[str, Any] | None]
    c_ptr: np.ndarray  # CSR over c_msg
    c_msg: np.ndarray  # message indices grouped by campaign, ascending within
    c_planned: np.ndarray  # planned primary messages
    c_price_planned: np.ndarray  # planned cost, units of 1e-7
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
    m_fallback: np.ndarray  # index of the fallback SMS, -1 if none
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


def generate(messages: int, seed: int, days: int, anchor: date, future_hours: int) -> Dataset:
    """The dataset for these settings (drawn by `generation.py`); the same arguments always
    give the same arrays."""
    from .generation import generate as draw

    return draw(messages, seed, days, anchor, future_hours)
