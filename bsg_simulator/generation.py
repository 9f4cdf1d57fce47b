"""The seeded, vectorised generator of the dataset (`data.Dataset`): campaigns of the five
channels, their messages (each with its whole status trajectory and price), the fallback
messages (SMS or Viber) of failed Viber and RCS messages, and phones.

All draws come from one generator in a fixed order: campaigns, primary messages, fallbacks,
phones. Reordering any draw changes every dataset generated after it. What came later draws
nothing from it: each message's operator is a hash of its phone (`data.operator_codes`), and the
planted delivery collapses (`plant_collapses`) have a generator of their own, applied after
everything else (with `collapses=0` the dataset is the one generated before they existed).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np

from bsg_analytics.schemas.statuses import CHANNELS

from .data import (
    CALCULATED_PRICE_NULL_SHARE,
    CAMPAIGN_FALLBACK_SHARE,
    CAMPAIGN_ID_BASE,
    CENT,
    CH,
    CHANNEL_PRICE_TENTHS,
    CHANNEL_SHARES,
    COLLAPSE_BASELINE_DAYS,
    COLLAPSE_CHANNELS,
    COLLAPSE_MIN_BASELINE,
    COLLAPSE_MIN_MESSAGES,
    COLLAPSE_SHARE,
    COUNTRIES,
    CURRENCY_SHARES,
    FALLBACK_OUTCOMES,
    FALLBACK_SHARE,
    KIND_DONE,
    KIND_PAUSED,
    KIND_SPAM,
    KIND_STOPPED,
    MODERATED_SHARE,
    NO_FALLBACK,
    OPERATOR_LIST,
    OUTCOMES,
    RCS_TEXT_SHARE,
    RCS_VIBER_FALLBACK_SHARE,
    READ_SHARE,
    SENDERS,
    SOURCE_SHARES,
    TEXTS,
    VALIDITIES,
    WHOLE_CENT_SHARE,
    Collapse,
    Dataset,
    S,
    anchor_epoch,
)

# read share of delivered messages, by channel code
_READ_P = np.array([READ_SHARE.get(ch, 0.0) for ch in CHANNELS])
_FALLBACK_CODES = np.array([S[x] for x in FALLBACK_OUTCOMES])
# campaigns pinned (from the middle index on) so every channel and fallback route exists:
# (channel, fallback channel)
_PINNED = (
    (CH["sms"], NO_FALLBACK),
    (CH["viber"], CH["sms"]),
    (CH["rcs"], CH["sms"]),
    (CH["whatsapp"], NO_FALLBACK),
    (CH["hlr"], NO_FALLBACK),
    (CH["rcs"], CH["viber"]),
)
MIN_CAMPAIGNS = 2 * len(_PINNED)


def generate(
    messages: int, seed: int, days: int, anchor: date, future_hours: int, collapses: int = 0
) -> Dataset:
    """The dataset for these settings: the same arguments always give the same arrays."""
    rng = np.random.default_rng([seed & 0xFFFFFFFF, anchor.toordinal()])
    a = anchor_epoch(anchor)
    t0 = a - days * 86400
    t1 = a + future_hours * 3600
    camp = _draw_campaigns(rng, messages, seed, anchor, t0, t1)
    prim = _draw_primary(rng, camp)
    fb_src, fb = _draw_fallbacks(rng, camp, prim)
    rows, phone, fallback, is_fb = _merge(rng, prim, fb, fb_src)
    ds = _dataset(anchor, t0, t1, camp, rows, phone, fallback, is_fb)
    if collapses > 0:
        plant_collapses(ds, collapses, seed)
    return ds


# ------------------------------------------------------------------ collapses
def plant_collapses(ds: Dataset, n: int, seed: int) -> list[Collapse]:
    """Plant up to `n` delivery collapses in `ds` (in place; `ds.collapses` lists them):
    cells (operator x channel x UTC day before the anchor, COLLAPSE_CHANNELS only) of at
    least COLLAPSE_MIN_MESSAGES messages whose operator and channel had COLLAPSE_MIN_BASELINE
    in the COLLAPSE_BASELINE_DAYS before. The first is the largest cell of the most recent day that
    has one; the others are drawn from the rest (one per day, and never the same operator and
    channel within a baseline's reach of another). In each, COLLAPSE_SHARE of the messages
    that would have been delivered (read ones too) become `undelivered`, reported when their
    delivery would have been. A generator of its own (seed, anchor, 2) draws the cells and
    the messages: no other draw moves."""
    rng = np.random.default_rng([seed & 0xFFFFFFFF, ds.anchor.toordinal(), 2])
    a = anchor_epoch(ds.anchor)
    n_days = int((a - ds.t0) // 86400)  # day k is the UTC day anchor - n_days + k
    before = int(np.searchsorted(ds.m_created, a, "left"))  # the messages before the anchor
    if n_days <= COLLAPSE_BASELINE_DAYS or before == 0:
        return []
    bounds = np.searchsorted(ds.m_created[:before], ds.t0 + 86400 * np.arange(n_days + 1))
    day = np.repeat(np.arange(n_days, dtype=np.int32), np.diff(bounds))  # created is sorted
    n_ch = len(CHANNELS)
    routes = len(OPERATOR_LIST) * n_ch
    key = ds.m_operator[:before].astype(np.int32) * n_ch + ds.m_channel[:before]
    key = key * n_days + day
    counts = np.bincount(key, minlength=routes * n_days).reshape(routes, n_days)
    counts[np.isin(np.arange(routes) % n_ch, [CH[c] for c in COLLAPSE_CHANNELS], invert=True)] = 0
    cum = np.concatenate([np.zeros((routes, 1), dtype=np.int64), np.cumsum(counts, 1)], 1)
    b = COLLAPSE_BASELINE_DAYS
    baseline = np.zeros_like(counts)
    baseline[:, b:] = cum[:, b:n_days] - cum[:, : n_days - b]
    eligible = (counts >= COLLAPSE_MIN_MESSAGES) & (baseline >= COLLAPSE_MIN_BASELINE)
    cells = np.flatnonzero(eligible.ravel())  # route * n_days + day, ascending
    if len(cells) == 0:
        return []
    flat = counts.ravel()
    recent = cells[cells % n_days == (cells % n_days).max()]
    chosen = [int(recent[np.argmax(flat[recent])])]  # ties: the lowest cell
    rest = cells[cells != chosen[0]]
    rng.shuffle(rest)
    for c in rest.tolist():
        if len(chosen) >= n:
            break
        route, d = divmod(c, n_days)
        if any(d == o % n_days or (route == o // n_days and abs(d - o % n_days) <= b)
               for o in chosen):  # fmt: skip
            continue
        chosen.append(c)
    chosen.sort(key=lambda c: (c % n_days, c))
    out = [_collapse(ds, rng, np.flatnonzero(key == c), c, n_days) for c in chosen]
    _reorder_delivered(ds)
    ds.collapses = out
    return out


def _collapse(
    ds: Dataset, rng: np.random.Generator, idx: np.ndarray, cell: int, n_days: int
) -> Collapse:
    route, d = divmod(cell, n_days)
    op, ch = divmod(route, len(CHANNELS))
    delivered = ds.m_outcome[idx] == S["delivered"]
    flip = idx[delivered & (rng.random(len(idx)) < COLLAPSE_SHARE)]
    ds.m_outcome[flip] = S["undelivered"]
    ds.m_read_off[flip] = -1
    ds.deliv_time[flip] = np.iinfo(np.int64).max
    return Collapse(
        operator=op, channel=ch, day=ds.anchor - timedelta(days=n_days - d), messages=idx,
        delivered_before=int(delivered.sum()), delivered=int(delivered.sum()) - len(flip),
    )  # fmt: skip


def _reorder_delivered(ds: Dataset) -> None:
    """`deliv_order` again after deliveries were taken away (ties by index, as generated)."""
    never = ds.deliv_time == np.iinfo(np.int64).max
    head = ds.deliv_order[~never[ds.deliv_order]]
    ds.deliv_order = np.concatenate([head, np.flatnonzero(never)])


@dataclass
class _Campaigns:
    """Campaign draws (index i is campaign CAMPAIGN_ID_BASE + i)."""

    created: np.ndarray
    channel: np.ndarray
    fallback: np.ndarray
    kind: np.ndarray
    sizes: np.ndarray  # primary messages
    currency: np.ndarray
    source: np.ndarray
    validity: np.ndarray
    parts: np.ndarray
    mod_end: np.ndarray
    start: np.ndarray
    real_start: np.ndarray
    duration: np.ndarray  # seconds of sending
    unit_price: np.ndarray  # (campaigns, channels), units of 1e-7
    price_null: np.ndarray
    sender: list[str]
    text: list[str]
    main_country: np.ndarray
    cards: list[list[dict[str, Any]] | None]
    rcs_options: list[dict[str, Any] | None]
    options: list[dict[str, Any] | None]


@dataclass
class _Rows:
    """Message rows of one kind (primary or fallback), in draw order."""

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
    nc = int(max(MIN_CAMPAIGNS, min(50_000, round(messages / 250))))
    created = _campaign_created(rng, nc, seed, anchor, t0, t1)
    channel, fallback = _campaign_channels(rng, nc)
    kind, sizes = _campaign_kinds_and_sizes(rng, channel, messages)
    currency = rng.choice(len(CURRENCY_SHARES), nc, p=CURRENCY_SHARES).astype(np.int8)
    source = rng.choice(len(SOURCE_SHARES), nc, p=SOURCE_SHARES).astype(np.int8)
    validity = VALIDITIES[rng.choice(3, nc, p=[0.4, 0.3, 0.3])]
    parts = np.array([1, 1, 1, 2, 2, 3], dtype=np.int8)[rng.integers(0, 6, nc)]
    scheduled = rng.random(nc) < 0.2
    start = created + np.where(scheduled, rng.integers(600, 12 * 3600, nc), rng.integers(5, 60, nc))
    moderated = (source == 0) & (rng.random(nc) < MODERATED_SHARE)
    mod_end = created + 30 + np.where(moderated, rng.integers(300, 3600, nc), 0)
    start = np.where(moderated, np.maximum(start, mod_end + 5), start)
    real_start = start + rng.integers(0, 120, nc)
    rate = np.exp(rng.uniform(np.log(3), np.log(100), nc))
    unit_price, price_null = _campaign_prices(rng, currency)
    sender, text = _campaign_sender_and_text(rng, channel)
    main_country = np.where(currency == 0, 0, rng.integers(1, len(COUNTRIES), nc))
    cards, rcs_options, options = _campaign_rcs_content(rng, channel, sender, text, validity)
    return _Campaigns(
        created=created, channel=channel, fallback=fallback, kind=kind, sizes=sizes,
        currency=currency, source=source, validity=validity, parts=parts, mod_end=mod_end,
        start=start, real_start=real_start, duration=np.ceil(sizes / rate).astype(np.int64),
        unit_price=unit_price, price_null=price_null, sender=sender, text=text,
        main_country=main_country, cards=cards, rcs_options=rcs_options, options=options,
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


def _campaign_channels(rng: np.random.Generator, nc: int) -> tuple[np.ndarray, np.ndarray]:
    """Each campaign's channel (CHANNEL_SHARES) and fallback channel: Viber campaigns fall
    back to SMS, RCS ones to SMS or Viber (most of them; the others have none)."""
    channel = rng.choice(len(CHANNELS), nc, p=CHANNEL_SHARES).astype(np.int8)
    with_fb = rng.random(nc) < CAMPAIGN_FALLBACK_SHARE
    rcs_to_viber = rng.random(nc) < RCS_VIBER_FALLBACK_SHARE
    fallback = np.full(nc, NO_FALLBACK, dtype=np.int8)
    fallback[(channel == CH["viber"]) & with_fb] = CH["sms"]
    rcs = (channel == CH["rcs"]) & with_fb
    fallback[rcs] = np.where(rcs_to_viber[rcs], CH["viber"], CH["sms"])
    for k, (ch, fb) in enumerate(_PINNED):
        channel[nc // 2 + k], fallback[nc // 2 + k] = ch, fb
    return channel, fallback


def _campaign_kinds_and_sizes(
    rng: np.random.Generator, channel: np.ndarray, messages: int
) -> tuple[np.ndarray, np.ndarray]:
    """How each campaign ends (done, stopped, paused, spam) and its primary message count:
    `messages` in all, each channel's CHANNEL_SHARES of them shared by its campaigns
    (lognormal weights), none for spam."""
    nc = len(channel)
    kind_draw = rng.random(nc)
    kind = np.select(
        [kind_draw < 0.015, kind_draw < 0.045, kind_draw < 0.06],
        [KIND_SPAM, KIND_STOPPED, KIND_PAUSED],
        KIND_DONE,
    ).astype(np.int8)
    kind[nc // 2 : nc // 2 + len(_PINNED)] = KIND_DONE
    weights = rng.lognormal(0.0, 1.0, nc) * (kind != KIND_SPAM)
    per_channel = np.bincount(channel, weights=weights, minlength=len(CHANNELS))
    quota = np.array(CHANNEL_SHARES) * messages / np.where(per_channel > 0, per_channel, 1)
    exact = weights * quota[channel]
    exact = exact / max(exact.sum(), 1e-12) * messages
    sizes = np.floor(exact).astype(np.int64)
    rest = messages - int(sizes.sum())
    if rest > 0:
        sizes[np.argsort(-(exact - sizes), kind="stable")[:rest]] += 1
    return kind, sizes


def _campaign_prices(
    rng: np.random.Generator, currency: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(campaigns x channels) prices of one message (an SMS: of one part), units of 1e-7:
    SMS parts UAH 0.25..1.20, EUR 0.010..0.090, USD 0.010..0.100, other channels a multiple
    of it (CHANNEL_PRICE_TENTHS); WHOLE_CENT_SHARE of the campaigns priced in whole cents.
    And which campaigns' list estimate is null."""
    nc = len(currency)
    low = np.where(currency == 0, rng.integers(2500, 12000, nc), rng.integers(100, 1000, nc))
    sms = low.astype(np.int64) * 1000
    price = sms[:, None] * CHANNEL_PRICE_TENTHS[None, :] // 10
    cents = rng.random(nc) < WHOLE_CENT_SHARE
    rounded = np.maximum(CENT, (price + CENT // 2) // CENT * CENT)
    price = np.where(cents[:, None], rounded, price)
    return price, rng.random(nc) < CALCULATED_PRICE_NULL_SHARE


def _campaign_sender_and_text(
    rng: np.random.Generator, channel: np.ndarray
) -> tuple[list[str], list[str]]:
    nc = len(channel)
    sender_draw = rng.integers(0, 1 << 30, nc)
    sender = []
    for ch, d in zip(channel.tolist(), sender_draw.tolist(), strict=True):
        names = SENDERS[CHANNELS[ch]]
        sender.append(names[d % len(names)])
    text_draw = rng.integers(0, len(TEXTS), nc)
    code_draw = rng.integers(1000, 9999, nc)
    text = [
        "" if ch == CH["hlr"] else TEXTS[t].format(code=c)  # an HLR lookup carries no text
        for ch, t, c in zip(channel.tolist(), text_draw.tolist(), code_draw.tolist(), strict=True)
    ]
    return sender, text


def _campaign_rcs_content(
    rng: np.random.Generator,
    channel: np.ndarray,
    sender: list[str],
    text: list[str],
    validity: np.ndarray,
) -> tuple[
    list[list[dict[str, Any]] | None], list[dict[str, Any] | None], list[dict[str, Any] | None]
]:
    """Cards, served `rcs_options` (`{cards}` or `{text}`) and the page's `options` of the
    RCS campaigns (None for the others)."""
    nc = len(channel)
    text_only = rng.random(nc) < RCS_TEXT_SHARE
    cards: list[list[dict[str, Any]] | None] = [None] * nc
    rcs_options: list[dict[str, Any] | None] = [None] * nc
    options: list[dict[str, Any] | None] = [None] * nc
    for i in np.flatnonzero(channel == CH["rcs"]).tolist():
        cid = CAMPAIGN_ID_BASE + i
        if text_only[i]:
            rcs_options[i] = {"text": text[i][:160]}
        else:
            cards[i] = _cards(rng, cid, sender[i])
            rcs_options[i] = {"cards": cards[i]}
        options[i] = {"ttl": int(validity[i]) * 3600, "traffic_type": "promotion", "tag": f"c{cid}"}
    return cards, rcs_options, options


def _cards(rng: np.random.Generator, campaign_id: int, sender: str) -> list[dict[str, Any]]:
    """1..3 cards, some titled, each with 1..3 link or call suggestions (typed; some with
    postback_data)."""
    cards = []
    slug = sender.lower().replace(" ", "-")
    for k in range(int(rng.integers(1, 4))):
        suggestions: list[dict[str, str]] = []
        for s in range(int(rng.integers(1, 4))):
            link = bool(rng.integers(0, 2))
            postback = bool(rng.random() < 0.6)
            if link:
                sug = {"type": "link", "text": "Open site",
                       "url": f"https://{slug}.example/offer/{campaign_id}"}  # fmt: skip
            else:
                sug = {"type": "call", "text": "Call us", "phone": f"380{440000000 + s * 7}"}
            if postback:
                sug["postback_data"] = f"c{k + 1}s{s + 1}_{sug['type']}"
            suggestions.append(sug)
        card: dict[str, Any] = {}
        if rng.random() < 0.6:
            card["title"] = f"Offer {k + 1}"
        card["text"] = f"Card {k + 1} of campaign {campaign_id}"
        card["media"] = {"url": f"https://cdn.{slug}.example/c{campaign_id}/card{k + 1}.jpg"}
        card["suggestions"] = suggestions
        cards.append(card)
    return cards


def _outcomes(rng: np.random.Generator, channel: np.ndarray) -> np.ndarray:
    """An outcome status code per message, from its channel's OUTCOMES."""
    out = np.empty(len(channel), dtype=np.int8)
    for code, name in enumerate(CHANNELS):
        mask = channel == code
        n = int(mask.sum())
        if n:
            names, p = zip(*OUTCOMES[name], strict=True)
            codes = np.array([S[x] for x in names], dtype=np.int8)
            out[mask] = codes[rng.choice(len(codes), size=n, p=np.array(p) / sum(p))]
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


def _read_offsets(rng: np.random.Generator, channel: np.ndarray, outcome: np.ndarray) -> np.ndarray:
    """Seconds from delivered to read (-1: never read): Viber, RCS and WhatsApp only."""
    n = len(channel)
    read = (outcome == S["delivered"]) & (rng.random(n) < _READ_P[channel])
    lat = np.clip(np.ceil(rng.lognormal(np.log(600), 1.5, n)), 1, 3 * 86400)
    out: np.ndarray = np.where(read, lat, -1).astype(np.int32)
    return out


def _amounts(camp: _Campaigns, mc: np.ndarray, channel: np.ndarray, parts: np.ndarray,
             outcome: np.ndarray) -> np.ndarray:  # fmt: skip
    """Each message's price: its channel's unit price (x parts); a failed message costs 0."""
    amount = camp.unit_price[mc, channel] * parts
    out: np.ndarray = np.where(outcome == S["failed"], 0, amount).astype(np.int64)
    return out


def _draw_primary(rng: np.random.Generator, camp: _Campaigns) -> _Rows:
    """The campaigns' own messages, each with its whole trajectory and price."""
    mc = np.repeat(np.arange(len(camp.created), dtype=np.int32), camp.sizes)
    n1 = len(mc)
    created = camp.real_start[mc] + np.floor(rng.random(n1) * camp.duration[mc]).astype(np.int64)
    channel = camp.channel[mc]
    outcome = _outcomes(rng, channel)
    queue_off = rng.integers(0, 20, n1).astype(np.int32)
    sent_off = queue_off + rng.integers(1, 30, n1).astype(np.int32)
    out_off = _outcome_offsets(rng, outcome, camp.validity[mc].astype(np.int32) * 3600)
    read_off = _read_offsets(rng, channel, outcome)
    pre = np.where(
        (camp.source[mc] == 0) & (rng.random(n1) < 0.5), S["moderation"], S["scheduled"]
    ).astype(np.int8)
    inflight = np.where(rng.random(n1) < 0.3, S["accepted"], S["sent"]).astype(np.int8)
    country = np.where(
        rng.random(n1) < 0.85, camp.main_country[mc], rng.integers(0, len(COUNTRIES), n1)
    ).astype(np.int8)
    parts = np.where(channel == CH["sms"], camp.parts[mc], 1).astype(np.int8)
    options = (channel == CH["rcs"]) & (rng.random(n1) < 0.4)
    return _Rows(
        campaign=mc, channel=channel, created=created, queue_off=queue_off, sent_off=sent_off,
        out_off=out_off, read_off=read_off, pre=pre, inflight=inflight, outcome=outcome,
        country=country, amount=_amounts(camp, mc, channel, parts, outcome), parts=parts,
        options=options,
    )  # fmt: skip


def _draw_fallbacks(
    rng: np.random.Generator, camp: _Campaigns, prim: _Rows
) -> tuple[np.ndarray, _Rows]:
    """Fallbacks for a share of the failed / undelivered / non-user messages of campaigns
    sent with one: real messages on the campaign's fallback channel (SMS or Viber), of the
    same campaign, to the same phone, created after the primary's report.
    -> (their primary messages, the rows)."""
    outcome = prim.outcome
    fb_src = np.flatnonzero(
        (camp.fallback[prim.campaign] != NO_FALLBACK)
        & np.isin(outcome, _FALLBACK_CODES)
        & (rng.random(len(outcome)) < FALLBACK_SHARE)
    )
    nf = len(fb_src)
    f_mc = prim.campaign[fb_src]
    f_channel = camp.fallback[f_mc].astype(np.int8)
    f_created = (
        prim.created[fb_src] + prim.sent_off[fb_src] + prim.out_off[fb_src]
        + rng.integers(1, 10, nf)
    )  # fmt: skip
    f_outcome = _outcomes(rng, f_channel)
    f_queue = rng.integers(0, 5, nf).astype(np.int32)
    f_sent = f_queue + rng.integers(1, 10, nf).astype(np.int32)
    f_out = _outcome_offsets(rng, f_outcome, camp.validity[f_mc].astype(np.int32) * 3600)
    f_read = _read_offsets(rng, f_channel, f_outcome)
    f_parts = np.where(f_channel == CH["sms"], camp.parts[f_mc], 1).astype(np.int8)
    return fb_src, _Rows(
        campaign=f_mc, channel=f_channel, created=f_created, queue_off=f_queue,
        sent_off=f_sent, out_off=f_out, read_off=f_read,
        pre=np.full(nf, S["scheduled"]), inflight=np.full(nf, S["sent"]), outcome=f_outcome,
        country=prim.country[fb_src], amount=_amounts(camp, f_mc, f_channel, f_parts, f_outcome),
        parts=f_parts, options=np.zeros(nf),
    )  # fmt: skip


def _merge(
    rng: np.random.Generator, prim: _Rows, fb: _Rows, fb_src: np.ndarray
) -> tuple[_Rows, np.ndarray, np.ndarray, np.ndarray]:
    """Both kinds of rows in one `created` order. -> (rows, phones, index of each message's
    fallback or -1, is-fallback flags)."""
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
    # the fallback goes to the same phone as its primary message (filled in after sorting)
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
    one = camp.unit_price[np.arange(nc), camp.channel]
    planned_parts = np.where(camp.channel == CH["sms"], camp.parts, 1)
    return Dataset(
        anchor=anchor, t0=t0, t1=t1,
        c_channel=camp.channel, c_fallback=camp.fallback, c_sender=camp.sender,
        c_currency=camp.currency, c_source=camp.source, c_validity=camp.validity,
        c_created=camp.created, c_mod_end=camp.mod_end, c_start=camp.start,
        c_real_start=camp.real_start, c_end=c_end, c_kind=camp.kind, c_text=camp.text,
        c_parts=camp.parts, c_unit_price=camp.unit_price, c_cards=camp.cards,
        c_rcs_options=camp.rcs_options, c_options=camp.options,
        c_ptr=c_ptr, c_msg=c_msg, c_planned=camp.sizes,
        c_price_planned=(one * planned_parts * camp.sizes).astype(np.int64),
        c_price_null=camp.price_null,
        m_campaign=m.campaign, m_channel=m.channel, m_created=m.created,
        m_queue_off=m.queue_off, m_sent_off=m.sent_off, m_out_off=m.out_off,
        m_read_off=m.read_off, m_pre=m.pre, m_inflight=m.inflight, m_outcome=m.outcome,
        m_phone=phone, m_country=m.country, m_amount=m.amount, m_parts=m.parts,
        m_fallback=fallback, m_is_fallback=is_fb, m_options=m.options,
        phone_order=np.lexsort((idx, phone)), deliv_time=deliv_time,
        deliv_order=np.lexsort((idx, deliv_time)),
    )  # fmt: skip
