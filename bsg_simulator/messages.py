"""One API `GET /api/messages`: selection (window, campaign, id, reference, and - when the
server honours it - type), sorting, paging, and the message records as the API renders them
(with their quirks).

Records carry the published keys, in the description's order: id, campaign_id, reference_id
(null for a message made in the web account), type, source, text, phone, validity, status,
amount, sender, created_at, sent_at, delivered_at, country, parts, then `rcs_options` (RCS
messages only: `{cards}` or `{text}`) and `alternative_channels` (`{sms|viber: {parts, id}}`
once the fallback exists, else null). Money is written with 7 decimals, or with 2 when it is
a whole number of cents and the message's hash says so (both appear; the value is exact).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from bsg_analytics.schemas.statuses import CHANNELS, SOURCES

from . import data as D
from .common import Query, hash_key, invalid, reference_of
from .config import MIXED, hash_bit
from .params import int_param, paging, sort_way, window
from .state import SimulatorState

MESSAGE_SORTS = ("id", "phone", "delivered")
_PAGING = frozenset({"page[offset]", "page[limit]"})


@dataclass(frozen=True, slots=True)
class _PageColumns:
    """A page's per-message values as Python lists: what the record loop reads."""

    ids: list[int]
    campaign_index: list[int]
    campaign_ids: list[int]
    created: list[str | None]
    sent: list[str | None]
    delivered: list[str | None]
    status: list[int]
    units: list[int]
    phones: list[int]
    channel: list[int]
    parts: list[int]
    country: list[int]
    options: list[bool]
    has_ref: list[bool]
    two_dec: list[bool]  # money with 2 decimals
    fallback: list[int]  # index of the fallback visible at now, -1 if none
    # quirk variant A (True) or B per message
    amount_a: list[bool]
    sent_a: list[bool]
    phone_num: list[bool]
    country_on: list[bool]
    parts_on: list[bool]
    typed: list[bool]
    options_on: list[bool]


class MessagesMixin(SimulatorState):
    """`messages_page` and `render_messages`."""

    def messages_page(self, q: Query, now: int | None = None) -> dict[str, Any]:
        """The body of `GET /api/messages` for query `q` at `now` (default: the clock)."""
        ds = self.data
        now = self.now_s(now)
        limit, offset = paging(q)
        sort, way = sort_way(q, MESSAGE_SORTS)
        frm, to = window(q, now, self.tz)
        campaign_id = int_param(q, "filter[campaign_id]", None)
        msg_id = int_param(q, "filter[id]", None)
        ref = q.get("filter[reference_id]") or None
        channel = self._type_filter(q)
        lo = int(np.searchsorted(ds.m_created, frm, "left"))
        hi = int(np.searchsorted(ds.m_created, min(to, now), "right"))
        cand = self._message_candidates(lo, hi, campaign_id, msg_id, ref)
        if channel is not None:
            sl = self.channel_messages(channel)
            typed = sl[np.searchsorted(sl, lo) : np.searchsorted(sl, hi)]
            cand = typed if cand is None else np.intersect1d(cand, typed)
        total, page = self._message_page(cand, sort, way == "desc", now, lo, hi, offset, limit)
        return {
            "data": self.render_messages(page, now),
            "meta": {"page": {"total": int(total), "offset": offset, "limit": limit}},
        }

    def honours_type_filter(self, q: Query) -> bool:
        """Whether this request's `filter[type]` is honoured (the `messages_type_filter`
        quirk; in mixed, from a hash of the query without its paging)."""
        value = self.quirks.messages_type_filter
        if value != MIXED:
            return value == "honoured"
        key = "&".join(f"{k}={q[k]}" for k in sorted(q) if k not in _PAGING)
        return hash_key(key) % 2 == 1

    def _type_filter(self, q: Query) -> int | None:
        """The channel a listing is restricted to: None when `filter[type]` is ignored, else
        its channel (`sms` when absent); an unknown type is a 422."""
        if not self.honours_type_filter(q):
            return None
        kind = q.get("filter[type]") or "sms"
        if kind not in CHANNELS:
            raise invalid("filter[type]", f"The selected filter[type] is invalid; one of "
                          f"{', '.join(CHANNELS)}.")  # fmt: skip
        return CHANNELS.index(kind)

    def _message_candidates(
        self, lo: int, hi: int, campaign_id: int | None, msg_id: int | None, ref: str | None
    ) -> np.ndarray | None:
        """Indices in lo..hi the filters allow, ascending; None when no filter is given."""
        ds = self.data
        cand: np.ndarray | None = None
        if campaign_id is not None:
            ci = campaign_id - D.CAMPAIGN_ID_BASE
            if 0 <= ci < ds.n_campaigns:
                sl = ds.c_msg[ds.c_ptr[ci] : ds.c_ptr[ci + 1]]
                cand = sl[np.searchsorted(sl, lo) : np.searchsorted(sl, hi)]
            else:
                cand = np.empty(0, dtype=np.int64)
        for wanted in (msg_id, self.message_of_reference(ref) if ref is not None else None):
            if wanted is None:
                continue
            j = wanted - D.MESSAGE_ID_BASE
            one = np.array([j] if lo <= j < hi else [], dtype=np.int64)
            cand = one if cand is None else np.intersect1d(cand, one)
        if ref is not None and self.message_of_reference(ref) is None:
            cand = np.empty(0, dtype=np.int64)
        return cand

    def _message_page(
        self,
        cand: np.ndarray | None,
        sort: str,
        desc: bool,
        now: int,
        lo: int,
        hi: int,
        offset: int,
        limit: int,
    ) -> tuple[int, np.ndarray]:
        """(total, the page's indices) of the candidates (None: all of lo..hi) in order."""
        page: np.ndarray
        if cand is None:
            total = hi - lo
            if sort == "id":
                if desc:
                    start = hi - 1 - offset
                    page = (
                        np.arange(start, max(start - limit, lo - 1), -1)
                        if start >= lo
                        else np.empty(0, dtype=np.int64)
                    )
                else:
                    page = np.arange(lo + offset, min(lo + offset + limit, hi))
            else:
                page = self._ordered(None, sort, now, lo, hi)
                page = (page[::-1] if desc else page)[offset : offset + limit]
        else:
            total = len(cand)
            if sort != "id":
                cand = self._ordered(cand, sort, now, lo, hi)
            page = (cand[::-1] if desc else cand)[offset : offset + limit]
        return total, np.asarray(page, dtype=np.int64)

    def _ordered(
        self, cand: np.ndarray | None, sort: str, now: int, lo: int, hi: int
    ) -> np.ndarray:
        """Indices in ascending `sort` order (ties by id); cand None means the range lo..hi."""
        ds = self.data
        out: np.ndarray
        if sort == "phone":
            if cand is None:
                p = ds.phone_order
                out = p[(p >= lo) & (p < hi)]
            else:
                out = cand[np.lexsort((cand, ds.m_phone[cand]))]
            return out
        # delivered: undelivered-at-now first (by id), then by delivered time
        if cand is None:
            d = ds.deliv_order
            d = d[(d >= lo) & (d < hi)]
            done = d[ds.deliv_time[d] <= now]
            rest = np.arange(lo, hi)
            mask = np.ones(hi - lo, dtype=bool)
            mask[done - lo] = False
            return np.concatenate([rest[mask], done])
        t = ds.deliv_time[cand]
        key = np.where(t <= now, t, -1)
        out = cand[np.lexsort((cand, key))]
        return out

    def render_messages(self, idx: np.ndarray, now: int) -> list[dict[str, Any]]:
        """The API's records of messages `idx` at `now`."""
        if len(idx) == 0:
            return []
        cols = self._page_columns(idx, now)
        return [self._message_record(cols, k) for k in range(len(cols.ids))]

    def _page_columns(self, idx: np.ndarray, now: int) -> _PageColumns:
        ds, qk, tz = self.data, self.quirks, self.tz
        st, sent_at, delivered_at, _ = self._trajectory(idx, now)
        ci = ds.m_campaign[idx]
        mids = idx + D.MESSAGE_ID_BASE
        fb = ds.m_fallback[idx]
        fb_vis = (fb >= 0) & (ds.m_created[np.maximum(fb, 0)] <= now)
        units = ds.m_amount[idx]
        return _PageColumns(
            ids=mids.tolist(),
            campaign_index=ci.tolist(),
            campaign_ids=(D.CAMPAIGN_ID_BASE + ci).tolist(),
            created=tz.fmt(ds.m_created[idx]),
            sent=tz.fmt(sent_at),
            delivered=tz.fmt(delivered_at),
            status=st.tolist(),
            units=units.tolist(),
            phones=ds.m_phone[idx].tolist(),
            channel=ds.m_channel[idx].tolist(),
            parts=ds.m_parts[idx].tolist(),
            country=ds.m_country[idx].tolist(),
            options=ds.m_options[idx].tolist(),
            has_ref=self.m_has_ref[idx].tolist(),
            two_dec=(hash_bit(mids, "money_decimals") & (units % D.CENT == 0)).tolist(),
            fallback=np.where(fb_vis, fb, -1).tolist(),
            amount_a=qk.pick("amount_field", mids).tolist(),
            sent_a=qk.pick("sent_at_name", mids).tolist(),
            phone_num=qk.pick("phone_type", mids).tolist(),
            country_on=qk.pick("country_field", mids).tolist(),
            parts_on=qk.pick("parts_field", mids).tolist(),
            typed=qk.pick("suggestion_shape", mids).tolist(),
            options_on=(~qk.pick("options_field", mids)).tolist(),
        )

    def rcs_options(self, ci: int, typed: bool = True) -> dict[str, Any] | None:
        """Campaign `ci`'s `rcs_options` as served: suggestions typed (published) or the
        page's untyped `{text, url}` / `{text, phone}`."""
        opts = self.data.c_rcs_options[ci]
        if typed or opts is None or "cards" not in opts:
            return opts
        if ci not in self._untyped:
            self._untyped[ci] = {"cards": [
                {**card, "suggestions": [
                    {k: v for k, v in sug.items() if k in ("text", "url", "phone")}
                    for sug in card["suggestions"]
                ]}
                for card in opts["cards"]
            ]}  # fmt: skip
        return self._untyped[ci]

    def _message_record(self, cols: _PageColumns, k: int) -> dict[str, Any]:
        """Record `k` of a page; its keys in the API's order."""
        ds = self.data
        mid = cols.ids[k]
        c = cols.campaign_index[k]
        money = {
            "value": D.money_text(cols.units[k], cols.two_dec[k]),
            "currency": D.CURRENCIES[ds.c_currency[c]],
        }
        phone = cols.phones[k]
        channel = cols.channel[k]
        rec: dict[str, Any] = {
            "id": mid,
            "campaign_id": cols.campaign_ids[k],
            "reference_id": reference_of(mid) if cols.has_ref[k] else None,
            "type": CHANNELS[channel],
            "source": SOURCES[ds.c_source[c]],
            "text": ds.c_text[c],
            "phone": phone if cols.phone_num[k] else str(phone),
            "validity": int(ds.c_validity[c]),
            "status": D.STATUS_NAMES[cols.status[k]],
        }
        if cols.amount_a[k]:
            rec["amount"] = money
        else:
            rec["amont"] = [money]
        rec["sender"] = ds.c_sender[c]
        rec["created_at"] = cols.created[k]
        rec["sent_at" if cols.sent_a[k] else "send_at"] = cols.sent[k]
        rec["delivered_at"] = cols.delivered[k]
        if cols.country_on[k]:
            rec["country"] = D.COUNTRIES[cols.country[k]][0]
        if cols.parts_on[k]:
            rec["parts"] = cols.parts[k]
        if channel == D.CH["rcs"]:
            rec["rcs_options"] = self.rcs_options(c, cols.typed[k])
            if cols.options_on[k] and cols.options[k]:
                rec["options"] = ds.c_options[c]
        f = cols.fallback[k]
        rec["alternative_channels"] = None
        if f >= 0:
            via = CHANNELS[ds.m_channel[f]]
            rec["alternative_channels"] = {
                via: {"parts": int(ds.m_parts[f]), "id": [D.MESSAGE_ID_BASE + f]}
            }
        return rec
