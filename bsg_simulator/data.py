"""The seeded, vectorised generator of campaigns and messages.

Everything here is fixed at generation: each message's whole status trajectory (created, queued,
sent, outcome, read), its price and its fallback SMS. What a client sees at a given moment is
computed from these arrays and the simulator's clock (see `simulator.py`).

Id ranges (disjoint, so one `/rest/sms/{id}` path can tell a message from a task):
campaign ids start at `CAMPAIGN_ID_BASE`, legacy task ids are `campaign_id + TASK_ID_OFFSET`
(SMS campaigns only), message ids start at `MESSAGE_ID_BASE`. Campaign and message ids both
increase with their `created_at`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime

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
    c_cards: list[list | None]
    c_options: list[dict | None]
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


def _choice_codes(rng, table, n) -> np.ndarray:
    names, p = zip(*table, strict=True)
    codes = np.array([S[x] for x in names], dtype=np.int8)
    return codes[rng.choice(len(codes), size=n, p=np.array(p) / sum(p))]


def _latency(rng, n) -> np.ndarray:
    """Delivery report delay in seconds: mostly seconds, a long tail of minutes to hours."""
    fast = rng.lognormal(np.log(4.0), 0.9, n)
    slow = rng.lognormal(np.log(150.0), 1.4, n)
    out = np.where(rng.random(n) < 0.85, fast, slow)
    return np.clip(np.ceil(out), 1, 20 * 3600).astype(np.int32)


def _cards(rng, campaign_id: int, sender: str) -> list:
    cards = []
    slug = sender.lower().replace(" ", "-")
    for k in range(int(rng.integers(1, 4))):
        suggestions = []
        for s in range(int(rng.integers(1, 4))):
            kind = int(rng.integers(0, 3))
            if kind == 0:
                suggestions.append({"text": "Call us", "phone": f"+380{44_000_0000 + s * 7:09d}"})
            elif kind == 1:
                suggestions.append(
                    {"text": "Open site", "url": f"https://{slug}.example/offer/{campaign_id}"}
                )
            else:
                suggestions.append({"text": ("Yes", "No", "Later")[s % 3]})
        cards.append(
            {
                "text": f"Card {k + 1} of campaign {campaign_id}",
                "media": {"url": f"https://cdn.{slug}.example/c{campaign_id}/card{k + 1}.jpg"},
                "suggestions": suggestions,
            }
        )
    return cards


def generate(messages: int, seed: int, days: int, anchor: date, future_hours: int) -> Dataset:
    rng = np.random.default_rng([seed & 0xFFFFFFFF, anchor.toordinal()])
    a = anchor_epoch(anchor)
    t0 = a - days * 86400
    t1 = a + future_hours * 3600

    # ---- campaigns
    nc = int(max(4, min(50_000, round(messages / 250))))
    c_created = rng.integers(t0, t1, nc).astype(np.int64)
    # Accounts send most days: two campaigns always fall in the two days before the anchor,
    # so an incremental run (and the demo) always has delivery reports still arriving.
    # A stream of its own keeps every other draw as it was.
    recent = np.random.default_rng([seed & 0xFFFFFFFF, anchor.toordinal(), 1])
    c_created[:2] = recent.integers(a - 2 * 86400, a - 3600, 2)
    c_created = np.sort(c_created)
    c_channel = (rng.random(nc) < 0.35).astype(np.int8)
    c_channel[nc // 2] = 0
    c_channel[nc // 2 + 1] = 1
    kind_draw = rng.random(nc)
    c_kind = np.select(
        [kind_draw < 0.015, kind_draw < 0.045, kind_draw < 0.06],
        [KIND_SPAM, KIND_STOPPED, KIND_PAUSED],
        KIND_DONE,
    ).astype(np.int8)
    c_kind[nc // 2 : nc // 2 + 2] = KIND_DONE
    weights = rng.lognormal(0.0, 1.0, nc) * (c_kind != KIND_SPAM)
    exact = weights / weights.sum() * messages
    sizes = np.floor(exact).astype(np.int64)
    rest = messages - int(sizes.sum())
    if rest > 0:
        sizes[np.argsort(-(exact - sizes), kind="stable")[:rest]] += 1
    c_currency = (rng.random(nc) < 0.35).astype(np.int8)  # 0 UAH, 1 EUR
    c_source = (rng.random(nc) < 0.6).astype(np.int8)  # 0 web, 1 rest
    c_validity = VALIDITIES[rng.choice(3, nc, p=[0.4, 0.3, 0.3])]
    c_parts = np.array([1, 1, 1, 2, 2, 3], dtype=np.int8)[rng.integers(0, 6, nc)]
    scheduled = rng.random(nc) < 0.2
    c_start = c_created + np.where(
        scheduled, rng.integers(600, 12 * 3600, nc), rng.integers(5, 60, nc)
    )
    c_real_start = c_start + rng.integers(0, 120, nc)
    rate = np.exp(rng.uniform(np.log(3), np.log(100), nc))
    duration = np.ceil(sizes / rate).astype(np.int64)
    # prices per part in units of 1e-7: UAH 0.25..1.20, EUR 0.010..0.090; RCS 1.5x
    sms_price = (
        np.where(c_currency == 0, rng.integers(2500, 12000, nc), rng.integers(100, 900, nc)).astype(
            np.int64
        )
        * 1000
    )
    rcs_price = sms_price * 3 // 2
    sender_draw = rng.integers(0, 1 << 30, nc)
    c_sender = [
        (RCS_SENDERS[d % len(RCS_SENDERS)] if ch else SMS_SENDERS[d % len(SMS_SENDERS)])
        for ch, d in zip(c_channel.tolist(), sender_draw.tolist(), strict=True)
    ]
    text_draw = rng.integers(0, len(TEXTS), nc)
    code_draw = rng.integers(1000, 9999, nc)
    c_text = [
        TEXTS[t].format(code=c) for t, c in zip(text_draw.tolist(), code_draw.tolist(), strict=True)
    ]
    c_main_country = np.where(c_currency == 0, 0, rng.integers(1, len(COUNTRIES), nc))
    c_cards: list[list | None] = []
    c_options: list[dict | None] = []
    for i in range(nc):
        if c_channel[i]:
            cid = CAMPAIGN_ID_BASE + i
            c_cards.append(_cards(rng, cid, c_sender[i]))
            c_options.append(
                {"ttl": int(c_validity[i]) * 3600, "traffic_type": "promotion", "tag": f"c{cid}"}
            )
        else:
            c_cards.append(None)
            c_options.append(None)

    # ---- primary messages
    mc = np.repeat(np.arange(nc, dtype=np.int32), sizes)
    n1 = len(mc)
    created = c_real_start[mc] + np.floor(rng.random(n1) * duration[mc]).astype(np.int64)
    channel = c_channel[mc]
    is_rcs = channel == 1
    outcome = np.empty(n1, dtype=np.int8)
    outcome[~is_rcs] = _choice_codes(rng, SMS_OUTCOMES, int((~is_rcs).sum()))
    outcome[is_rcs] = _choice_codes(rng, RCS_OUTCOMES, int(is_rcs.sum()))
    queue_off = rng.integers(0, 20, n1).astype(np.int32)
    sent_off = queue_off + rng.integers(1, 30, n1).astype(np.int32)
    validity_s = c_validity[mc].astype(np.int32) * 3600
    out_off = _latency(rng, n1)
    out_off = np.where(outcome == S["failed"], rng.integers(0, 10, n1), out_off)
    out_off = np.where(
        (outcome == S["expired"]) | (outcome == S["unknown"]), validity_s, out_off
    ).astype(np.int32)
    out_off = np.minimum(out_off, validity_s)
    read = is_rcs & (outcome == S["delivered"]) & (rng.random(n1) < RCS_READ_SHARE)
    read_lat = np.clip(np.ceil(rng.lognormal(np.log(600), 1.5, n1)), 1, 3 * 86400)
    read_off = np.where(read, read_lat, -1).astype(np.int32)
    pre = np.where(
        (c_source[mc] == 0) & (rng.random(n1) < 0.5), S["moderation"], S["scheduled"]
    ).astype(np.int8)
    inflight = np.where(rng.random(n1) < 0.3, S["accepted"], S["sent"]).astype(np.int8)
    country = np.where(
        rng.random(n1) < 0.85, c_main_country[mc], rng.integers(0, len(COUNTRIES), n1)
    ).astype(np.int8)
    parts = np.where(is_rcs, 1, c_parts[mc]).astype(np.int8)
    amount = np.where(is_rcs, rcs_price[mc], sms_price[mc] * parts)
    amount = np.where(outcome == S["failed"], 0, amount).astype(np.int64)
    options = is_rcs & (rng.random(n1) < 0.4)

    # ---- fallback SMS for a share of failed RCS messages: real SMS rows of the same campaign
    fb_src = np.flatnonzero(
        is_rcs
        & np.isin(outcome, [S["failed"], S["undelivered"], S["not_rcs_user"]])
        & (rng.random(n1) < FALLBACK_SHARE)
    )
    nf = len(fb_src)
    f_mc = mc[fb_src]
    f_created = created[fb_src] + sent_off[fb_src] + out_off[fb_src] + rng.integers(1, 10, nf)
    f_outcome = _choice_codes(rng, SMS_OUTCOMES, nf)
    f_queue = rng.integers(0, 5, nf).astype(np.int32)
    f_sent = f_queue + rng.integers(1, 10, nf).astype(np.int32)
    f_validity = c_validity[f_mc].astype(np.int32) * 3600
    f_out = _latency(rng, nf)
    f_out = np.where(f_outcome == S["failed"], rng.integers(0, 10, nf), f_out)
    f_out = np.where(
        (f_outcome == S["expired"]) | (f_outcome == S["unknown"]), f_validity, f_out
    ).astype(np.int32)
    f_out = np.minimum(f_out, f_validity)
    f_parts = c_parts[f_mc].astype(np.int8)
    f_amount = np.where(f_outcome == S["failed"], 0, sms_price[f_mc] * f_parts).astype(np.int64)

    def cat(x, y, dtype):
        return np.concatenate([np.asarray(x, dtype=dtype), np.asarray(y, dtype=dtype)])

    all_created = cat(created, f_created, np.int64)
    order = np.argsort(all_created, kind="stable")
    inv = np.empty_like(order)
    inv[order] = np.arange(len(order))

    def take(x, y, dtype):
        return cat(x, y, dtype)[order]

    fallback = np.full(n1 + nf, -1, dtype=np.int64)
    fallback[fb_src] = inv[n1 + np.arange(nf)]
    m_fallback = fallback[order]
    m_campaign = take(mc, f_mc, np.int32)
    m_created = all_created[order]
    ds_phone = take(_phones(rng, country), _phones_copy(country, fb_src, rng), np.int64)
    # the fallback SMS goes to the same phone as its RCS message
    m_phone = ds_phone
    m_phone[inv[n1 + np.arange(nf)]] = m_phone[inv[fb_src]]
    m_country = take(country, country[fb_src], np.int8)
    m_amount = take(amount, f_amount, np.int64)
    m_parts = take(parts, f_parts, np.int8)
    m_outcome = take(outcome, f_outcome, np.int8)
    m_sent_off = take(sent_off, f_sent, np.int32)
    m_out_off = take(out_off, f_out, np.int32)
    m_read_off = take(read_off, np.full(nf, -1), np.int32)
    is_fb = np.zeros(n1 + nf, dtype=bool)
    is_fb[n1:] = True

    # CSR per campaign (message indices ascending within a campaign)
    c_msg = np.argsort(m_campaign, kind="stable").astype(np.int64)
    c_ptr = np.zeros(nc + 1, dtype=np.int64)
    np.cumsum(np.bincount(m_campaign, minlength=nc), out=c_ptr[1:])
    m_is_fallback = is_fb[order]
    # a campaign stops sending when its last primary message is created
    prim = ~m_is_fallback
    c_end = c_real_start.copy()
    np.maximum.at(c_end, m_campaign[prim], m_created[prim])
    c_end = np.where(c_kind == KIND_SPAM, c_created, c_end)

    deliv_time = np.where(
        m_outcome == S["delivered"],
        m_created + m_sent_off + m_out_off,
        np.iinfo(np.int64).max,
    )
    idx = np.arange(n1 + nf)
    return Dataset(
        anchor=anchor,
        t0=t0,
        t1=t1,
        c_channel=c_channel,
        c_sender=c_sender,
        c_currency=c_currency,
        c_source=c_source,
        c_validity=c_validity,
        c_created=c_created,
        c_start=c_start,
        c_real_start=c_real_start,
        c_end=c_end,
        c_kind=c_kind,
        c_text=c_text,
        c_parts=c_parts,
        c_cards=c_cards,
        c_options=c_options,
        c_ptr=c_ptr,
        c_msg=c_msg,
        c_planned=sizes,
        c_price_planned=np.where(c_channel == 1, rcs_price, sms_price * c_parts) * sizes,
        m_campaign=m_campaign,
        m_channel=take(channel, np.zeros(nf), np.int8),
        m_created=m_created,
        m_queue_off=take(queue_off, f_queue, np.int32),
        m_sent_off=m_sent_off,
        m_out_off=m_out_off,
        m_read_off=m_read_off,
        m_pre=take(pre, np.full(nf, S["scheduled"]), np.int8),
        m_inflight=take(inflight, np.full(nf, S["sent"]), np.int8),
        m_outcome=m_outcome,
        m_phone=m_phone,
        m_country=m_country,
        m_amount=m_amount,
        m_parts=m_parts,
        m_fallback=m_fallback,
        m_is_fallback=m_is_fallback,
        m_options=take(options, np.zeros(nf), bool),
        phone_order=np.lexsort((idx, m_phone)),
        deliv_time=deliv_time,
        deliv_order=np.lexsort((idx, deliv_time)),
    )


_CC = np.array([c[1] for c in COUNTRIES], dtype=np.int64)
_LEN = np.array([c[2] for c in COUNTRIES], dtype=np.int64)


def _phones(rng, country: np.ndarray) -> np.ndarray:
    scale = 10 ** _LEN[country]
    national = (rng.random(len(country)) * 0.9 * scale + scale // 10).astype(np.int64)
    return _CC[country] * scale + national


def _phones_copy(country, fb_src, rng) -> np.ndarray:
    return np.zeros(len(fb_src), dtype=np.int64)  # filled from the RCS message after sorting


def options_json(opts: dict | None) -> str | None:
    return None if opts is None else json.dumps(opts, sort_keys=True)
