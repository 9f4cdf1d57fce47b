"""The seeded, vectorised generator of the dataset (`data.Dataset`): campaigns, their
messages (each with its whole status trajectory and price), the fallback SMS of failed RCS
messages, and phones.

All draws come from one generator in a fixed order: campaigns, primary messages, fallback SMS,
phones. Reordering any draw changes every dataset generated after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np

from .data import (
    CAMPAIGN_ID_BASE,
    COUNTRIES,
    FALLBACK_SHARE,
    KIND_DONE,
    KIND_PAUSED,
    KIND_SPAM,
    KIND_STOPPED,
    RCS_OUTCOMES,
    RCS_READ_SHARE,
    RCS_SENDERS,
    SMS_OUTCOMES,
    SMS_SENDERS,
    TEXTS,
    VALIDITIES,
    Dataset,
    S,
    anchor_epoch,
)


def generate(messages: int, seed: int, days: int, anchor: date, future_hours: int) -> Dataset:
    """The dataset for these settings: the same arguments always give the same arrays."""
    rng = np.random.default_rng([seed & 0xFFFFFFFF, anchor.toordinal()])
    a = anchor_epoch(anchor)
    t0 = a - days * 86400
    t1 = a + future_hours * 3600
    camp = _draw_campaigns(rng, messages, seed, anchor, t0, t1)
    prim = _draw_primary(rng, camp)
    fb_src, fb = _draw_fallbacks(rng, camp, prim)
    rows, phone, fallback, is_fb = _merge(rng, prim, fb, fb_src)
    return _dataset(anchor, t0, t1, camp, rows, phone, fallback, is_fb)


@dataclass
class _Campaigns:
    """Campaign draws (index i is campaign CAMPAIGN_ID_BASE + i)."""

    created: np.ndarray
    channel: np.ndarray
    kind: np.ndarray
    sizes: np.ndarray  # primary messages
    currency: np.ndarray
    source: np.ndarray
    validity: np.ndarray
    parts: np.ndarray
    start: np.ndarray
    real_start: np.ndarray
    duration: np.ndarray  # seconds of sending
    sms_price: np.ndarray  # per part, units of 1e-7
    rcs_price: np.ndarray
    sender: list[str]
    text: list[str]
    main_country: np.ndarray
    cards: list[list[dict[str, Any]] | None]
    options: list[dict[str, Any] | None]


@dataclass
class _Rows:
    """Message rows of one kind (primary or fallback SMS), in draw order."""

    campaign: np.ndarray
    channel: np.ndarray
    created: np.ndarray
    queue_off: np.ndarray
    sent_off: np.ndarray
    out_off: np.ndarray
    read_off: np.ndarray
    pre: np.ndarray
    inflight: np.ndarray
    outcome: np.ndarray
    country: np.ndarray
    amount: np.ndarray
    parts: np.ndarray
    options: np.ndarray


# dtype of each _Rows field in the dataset
_ROW_DTYPES: dict[str, Any] = {
    "campaign": np.int32, "channel": np.int8, "created": np.int64, "queue_off": np.int32,
    "sent_off": np.int32, "out_off": np.int32, "read_off": np.int32, "pre": np.int8,
    "inflight": np.int8, "outcome": np.int8, "country": np.int8, "amount": np.int64,
    "parts": np.int8, "options": bool,
}  # fmt: skip


def _draw_campaigns(
    rng: np.random.Generator, messages: int, seed: int, anchor: date, t0: int, t1: int
) -> _Campaigns:
    nc = int(max(4, min(50_000, round(messages / 250))))
    created = _campaign_created(rng, nc, seed, anchor, t0, t1)
    channel = (rng.random(nc) < 0.35).astype(np.int8)
    channel[nc // 2] = 0
    channel[nc // 2 + 1] = 1
    kind, sizes = _campaign_kinds_and_sizes(rng, nc, messages)
    currency = (rng.random(nc) < 0.35).astype(np.int8)  # 0 UAH, 1 EUR
    source = (rng.random(nc) < 0.6).astype(np.int8)  # 0 web, 1 rest
    validity = VALIDITIES[rng.choice(3, nc, p=[0.4, 0.3, 0.3])]
    parts = np.array([1, 1, 1, 2, 2, 3], dtype=np.int8)[rng.integers(0, 6, nc)]
    scheduled = rng.random(nc) < 0.2
    start = created + np.where(scheduled, rng.integers(600, 12 * 3600, nc), rng.integers(5, 60, nc))
    real_start = start + rng.integers(0, 120, nc)
    rate = np.exp(rng.uniform(np.log(3), np.log(100), nc))
    # prices per part in units of 1e-7: UAH 0.25..1.20, EUR 0.010..0.090; RCS 1.5x
    sms = np.where(currency == 0, rng.integers(2500, 12000, nc), rng.integers(100, 900, nc))
    sms_price = sms.astype(np.int64) * 1000
    sender, text = _campaign_sender_and_text(rng, channel)
    main_country = np.where(currency == 0, 0, rng.integers(1, len(COUNTRIES), nc))
    cards, options = _campaign_rcs_content(rng, channel, sender, validity)
    return _Campaigns(
        created=created, channel=channel, kind=kind, sizes=sizes, currency=currency,
        source=source, validity=validity, parts=parts, start=start, real_start=real_start,
        duration=np.ceil(sizes / rate).astype(np.int64), sms_price=sms_price,
        rcs_price=sms_price * 3 // 2, sender=sender, text=text,
        main_country=main_country, cards=cards, options=options,
    )  # fmt: skip


def _campaign_created(
    rng: np.random.Generator, nc: int, seed: int, anchor: date, t0: int, t1: int
) -> np.ndarray:
    created = rng.integers(t0, t1, nc).astype(np.int64)
    # Accounts send most days: two campaigns always fall in the two days before the anchor,
    # so an incremental run (and the demo) always has delivery reports still arriving.
    # A stream of its own keeps every other draw as it was.
    a = anchor_epoch(anchor)
    recent = np.random.default_rng([seed & 0xFFFFFFFF, anchor.toordinal(), 1])
    created[:2] = recent.integers(a - 2 * 86400, a - 3600, 2)
    return np.sort(created)


def _campaign_kinds_and_sizes(
    rng: np.random.Generator, nc: int, messages: int
) -> tuple[np.ndarray, np.ndarray]:
    """How each campaign ends (done, stopped, paused, spam) and its primary message count
    (`messages` in all, lognormal shares, none for spam)."""
    kind_draw = rng.random(nc)
    kind = np.select(
        [kind_draw < 0.015, kind_draw < 0.045, kind_draw < 0.06],
        [KIND_SPAM, KIND_STOPPED, KIND_PAUSED],
        KIND_DONE,
    ).astype(np.int8)
    kind[nc // 2 : nc // 2 + 2] = KIND_DONE
    weights = rng.lognormal(0.0, 1.0, nc) * (kind != KIND_SPAM)
    exact = weights / weights.sum() * messages
    sizes = np.floor(exact).astype(np.int64)
    rest = messages - int(sizes.sum())
    if rest > 0:
        sizes[np.argsort(-(exact - sizes), kind="stable")[:rest]] += 1
    return kind, sizes


def _campaign_sender_and_text(
    rng: np.random.Generator, channel: np.ndarray
) -> tuple[list[str], list[str]]:
    nc = len(channel)
    sender_draw = rng.integers(0, 1 << 30, nc)
    sender = [
        (RCS_SENDERS[d % len(RCS_SENDERS)] if ch else SMS_SENDERS[d % len(SMS_SENDERS)])
        for ch, d in zip(channel.tolist(), sender_draw.tolist(), strict=True)
    ]
    text_draw = rng.integers(0, len(TEXTS), nc)
    code_draw = rng.integers(1000, 9999, nc)
    text = [
        TEXTS[t].format(code=c) for t, c in zip(text_draw.tolist(), code_draw.tolist(), strict=True)
    ]
    return sender, text


def _campaign_rcs_content(
    rng: np.random.Generator, channel: np.ndarray, sender: list[str], validity: np.ndarray
) -> tuple[list[list[dict[str, Any]] | None], list[dict[str, Any] | None]]:
    """Cards and options of the RCS campaigns (None for SMS ones)."""
    cards: list[list[dict[str, Any]] | None] = []
    options: list[dict[str, Any] | None] = []
    for i in range(len(channel)):
        if channel[i]:
            cid = CAMPAIGN_ID_BASE + i
            cards.append(_cards(rng, cid, sender[i]))
            options.append(
                {"ttl": int(validity[i]) * 3600, "traffic_type": "promotion", "tag": f"c{cid}"}
            )
        else:
            cards.append(None)
            options.append(None)
    return cards, options


def _cards(rng: np.random.Generator, campaign_id: int, sender: str) -> list[dict[str, Any]]:
    cards = []
    slug = sender.lower().replace(" ", "-")
    for k in range(int(rng.integers(1, 4))):
        suggestions: list[dict[str, str]] = []
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


def _choice_codes(
    rng: np.random.Generator, table: tuple[tuple[str, float], ...], n: int
) -> np.ndarray:
    names, p = zip(*table, strict=True)
    codes = np.array([S[x] for x in names], dtype=np.int8)
    out: np.ndarray = codes[rng.choice(len(codes), size=n, p=np.array(p) / sum(p))]
    return out


def _latency(rng: np.random.Generator, n: int) -> np.ndarray:
    """Delivery report delay in seconds: mostly seconds, a long tail of minutes to hours."""
    fast = rng.lognormal(np.log(4.0), 0.9, n)
    slow = rng.lognormal(np.log(150.0), 1.4, n)
    out = np.where(rng.random(n) < 0.85, fast, slow)
    return np.clip(np.ceil(out), 1, 20 * 3600).astype(np.int32)


def _outcome_offsets(
    rng: np.random.Generator, outcome: np.ndarray, validity_s: np.ndarray
) -> np.ndarray:
    """Seconds from sent to the final report: a latency, a few seconds for `failed`, the
    validity for `expired` / `unknown`; never past the validity."""
    n = len(outcome)
    out_off = _latency(rng, n)
    out_off = np.where(outcome == S["failed"], rng.integers(0, 10, n), out_off)
    out_off = np.where(
        (outcome == S["expired"]) | (outcome == S["unknown"]), validity_s, out_off
    ).astype(np.int32)
    capped: np.ndarray = np.minimum(out_off, validity_s)
    return capped


def _draw_primary(rng: np.random.Generator, camp: _Campaigns) -> _Rows:
    """The campaigns' own messages, each with its whole trajectory and price."""
    mc = np.repeat(np.arange(len(camp.created), dtype=np.int32), camp.sizes)
    n1 = len(mc)
    created = camp.real_start[mc] + np.floor(rng.random(n1) * camp.duration[mc]).astype(np.int64)
    channel = camp.channel[mc]
    is_rcs = channel == 1
    outcome = np.empty(n1, dtype=np.int8)
    outcome[~is_rcs] = _choice_codes(rng, SMS_OUTCOMES, int((~is_rcs).sum()))
    outcome[is_rcs] = _choice_codes(rng, RCS_OUTCOMES, int(is_rcs.sum()))
    queue_off = rng.integers(0, 20, n1).astype(np.int32)
    sent_off = queue_off + rng.integers(1, 30, n1).astype(np.int32)
    out_off = _outcome_offsets(rng, outcome, camp.validity[mc].astype(np.int32) * 3600)
    read = is_rcs & (outcome == S["delivered"]) & (rng.random(n1) < RCS_READ_SHARE)
    read_lat = np.clip(np.ceil(rng.lognormal(np.log(600), 1.5, n1)), 1, 3 * 86400)
    pre = np.where(
        (camp.source[mc] == 0) & (rng.random(n1) < 0.5), S["moderation"], S["scheduled"]
    ).astype(np.int8)
    inflight = np.where(rng.random(n1) < 0.3, S["accepted"], S["sent"]).astype(np.int8)
    country = np.where(
        rng.random(n1) < 0.85, camp.main_country[mc], rng.integers(0, len(COUNTRIES), n1)
    ).astype(np.int8)
    parts = np.where(is_rcs, 1, camp.parts[mc]).astype(np.int8)
    amount = np.where(is_rcs, camp.rcs_price[mc], camp.sms_price[mc] * parts)
    amount = np.where(outcome == S["failed"], 0, amount).astype(np.int64)
    options = is_rcs & (rng.random(n1) < 0.4)
    return _Rows(
        campaign=mc, channel=channel, created=created, queue_off=queue_off, sent_off=sent_off,
        out_off=out_off, read_off=np.where(read, read_lat, -1).astype(np.int32), pre=pre,
        inflight=inflight, outcome=outcome, country=country, amount=amount, parts=parts,
        options=options,
    )  # fmt: skip


def _draw_fallbacks(
    rng: np.random.Generator, camp: _Campaigns, prim: _Rows
) -> tuple[np.ndarray, _Rows]:
    """Fallback SMS for a share of failed RCS messages: real SMS rows of the same campaign,
    to the same phone, created after the RCS report. -> (their RCS messages, the rows)."""
    outcome = prim.outcome
    fb_src = np.flatnonzero(
        (prim.channel == 1)
        & np.isin(outcome, [S["failed"], S["undelivered"], S["not_rcs_user"]])
        & (rng.random(len(outcome)) < FALLBACK_SHARE)
    )
    nf = len(fb_src)
    f_mc = prim.campaign[fb_src]
    f_created = (
        prim.created[fb_src] + prim.sent_off[fb_src] + prim.out_off[fb_src]
        + rng.integers(1, 10, nf)
    )  # fmt: skip
    f_outcome = _choice_codes(rng, SMS_OUTCOMES, nf)
    f_queue = rng.integers(0, 5, nf).astype(np.int32)
    f_sent = f_queue + rng.integers(1, 10, nf).astype(np.int32)
    f_out = _outcome_offsets(rng, f_outcome, camp.validity[f_mc].astype(np.int32) * 3600)
    f_parts = camp.parts[f_mc].astype(np.int8)
    f_amount = np.where(f_outcome == S["failed"], 0, camp.sms_price[f_mc] * f_parts)
    return fb_src, _Rows(
        campaign=f_mc, channel=np.zeros(nf), created=f_created, queue_off=f_queue,
        sent_off=f_sent, out_off=f_out, read_off=np.full(nf, -1),
        pre=np.full(nf, S["scheduled"]), inflight=np.full(nf, S["sent"]), outcome=f_outcome,
        country=prim.country[fb_src], amount=f_amount.astype(np.int64), parts=f_parts,
        options=np.zeros(nf),
    )  # fmt: skip


def _merge(
    rng: np.random.Generator, prim: _Rows, fb: _Rows, fb_src: np.ndarray
) -> tuple[_Rows, np.ndarray, np.ndarray, np.ndarray]:
    """Both kinds of rows in one `created` order. -> (rows, phones, index of each message's
    fallback SMS or -1, is-fallback flags)."""
    n1, nf = len(prim.created), len(fb_src)
    all_created = np.concatenate([prim.created.astype(np.int64), fb.created.astype(np.int64)])
    order = np.argsort(all_created, kind="stable")
    inv = np.empty_like(order)
    inv[order] = np.arange(len(order))

    def take(name: str) -> np.ndarray:
        dtype = _ROW_DTYPES[name]
        x, y = getattr(prim, name), getattr(fb, name)
        both = np.concatenate([np.asarray(x, dtype=dtype), np.asarray(y, dtype=dtype)])
        out: np.ndarray = both[order]
        return out

    rows = _Rows(**{name: take(name) for name in _ROW_DTYPES})
    fallback = np.full(n1 + nf, -1, dtype=np.int64)
    fallback[fb_src] = inv[n1 + np.arange(nf)]
    # the fallback SMS goes to the same phone as its RCS message (filled in after sorting)
    phones = np.concatenate([_phones(rng, prim.country), np.zeros(nf, dtype=np.int64)])
    phone = phones[order]
    phone[inv[n1 + np.arange(nf)]] = phone[inv[fb_src]]
    is_fb = np.zeros(n1 + nf, dtype=bool)
    is_fb[n1:] = True
    return rows, phone, fallback[order], is_fb[order]


_CC = np.array([c[1] for c in COUNTRIES], dtype=np.int64)
_LEN = np.array([c[2] for c in COUNTRIES], dtype=np.int64)


def _phones(rng: np.random.Generator, country: np.ndarray) -> np.ndarray:
    scale = 10 ** _LEN[country]
    national = (rng.random(len(country)) * 0.9 * scale + scale // 10).astype(np.int64)
    out: np.ndarray = _CC[country] * scale + national
    return out


def _dataset(
    anchor: date, t0: int, t1: int, camp: _Campaigns, m: _Rows, phone: np.ndarray,
    fallback: np.ndarray, is_fb: np.ndarray,
) -> Dataset:  # fmt: skip
    nc = len(camp.created)
    # CSR per campaign (message indices ascending within a campaign)
    c_msg = np.argsort(m.campaign, kind="stable").astype(np.int64)
    c_ptr = np.zeros(nc + 1, dtype=np.int64)
    np.cumsum(np.bincount(m.campaign, minlength=nc), out=c_ptr[1:])
    # a campaign stops sending when its last primary message is created
    prim = ~is_fb
    c_end = camp.real_start.copy()
    np.maximum.at(c_end, m.campaign[prim], m.created[prim])
    c_end = np.where(camp.kind == KIND_SPAM, camp.created, c_end)
    deliv_time = np.where(
        m.outcome == S["delivered"], m.created + m.sent_off + m.out_off, np.iinfo(np.int64).max
    )
    idx = np.arange(len(m.created))
    return Dataset(
        anchor=anchor, t0=t0, t1=t1,
        c_channel=camp.channel, c_sender=camp.sender, c_currency=camp.currency,
        c_source=camp.source, c_validity=camp.validity, c_created=camp.created,
        c_start=camp.start, c_real_start=camp.real_start, c_end=c_end, c_kind=camp.kind,
        c_text=camp.text, c_parts=camp.parts, c_cards=camp.cards, c_options=camp.options,
        c_ptr=c_ptr, c_msg=c_msg, c_planned=camp.sizes,
        c_price_planned=(
            np.where(camp.channel == 1, camp.rcs_price, camp.sms_price * camp.parts) * camp.sizes
        ),
        m_campaign=m.campaign, m_channel=m.channel, m_created=m.created,
        m_queue_off=m.queue_off, m_sent_off=m.sent_off, m_out_off=m.out_off,
        m_read_off=m.read_off, m_pre=m.pre, m_inflight=m.inflight, m_outcome=m.outcome,
        m_phone=phone, m_country=m.country, m_amount=m.amount, m_parts=m.parts,
        m_fallback=fallback, m_is_fallback=is_fb, m_options=m.options,
        phone_order=np.lexsort((idx, phone)), deliv_time=deliv_time,
        deliv_order=np.lexsort((idx, deliv_time)),
    )  # fmt: skip
