"""One API campaigns: the list (`GET /api/campaigns`, the page's `/api/campaign` as the
`campaign_list_path` quirk says: type, window and text filters, sorting, paging) and the
detail (`GET /api/campaigns/{id}/detail`, any campaign of any type).

- `filter[type]`: `sms` (default), `rcs` or `whatsapp` (the published enum), on both paths;
  anything else is a 422. Viber and HLR campaigns are never listed; their details answer.
- `page[limit]`: 30..500 on `/api/campaigns` (published), 15..500 on the page's
  `/api/campaign`.
- Search: `search[field]` = `sender` | `taskname` with `search[value]` (1..255 characters),
  or the page's `filter[field]`/`filter[value]` (the `list_search` quirk). `sender`: the
  sender contains the value; `taskname`: the campaign name contains it, or it is the
  campaign's id. Both case-insensitive.
- A record: id, name, sender, status, message_type, start_at, real_start_at, finished_at,
  created_at, statistics {delivered, sent}, calculated_price (a float estimate of the planned
  primary messages, null for some campaigns: not the spend), currency; the page's variants
  add alternative_channels.sms.statistics / .statistic {delivered, sent} (`list_fallback_stats`).
- The detail: {"data": {...}} (or the page's wrappers): id, name, sender, status, type,
  started_at, actual_start_at, finished_at, created_at, statistics (the 13
  CAMPAIGN_STATISTIC_STATUSES counts of the primary messages, `state.detail_statistics`),
  alternative_channels ({sms: {statistics}} for a campaign sent with an SMS fallback: the
  counts of its SMS fallback messages; else `[]`, or null as `detail_no_fallback` says - a
  campaign whose fallback is Viber has no published key for it, so it shows `[]` too),
  total_messages, total_phones, total_price (every message of the campaign, fallbacks
  included; 2 or 7 decimals), currency.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bsg_analytics.schemas.statuses import CAMPAIGN_LIST_TYPES, CHANNELS, RCS_STATUSES, SMS_STATUSES

from . import data as D
from .common import ApiError, Query, invalid
from .config import MIXED, hash_bit
from .params import paging, sort_way, window
from .state import SimulatorState, detail_statistics

CAMPAIGN_SORTS = ("id", "sender", "type", "date", "status")
SMS_STATS = SMS_STATUSES  # the pages' lists (kept for callers)
RCS_STATS = RCS_STATUSES
LIST_PATHS = {"campaigns": "/api/campaigns", "campaign": "/api/campaign"}


class CampaignsMixin(SimulatorState):
    """`campaigns_page`, `render_campaign` and `campaign_detail`."""

    def campaign_path_served(self, path: str) -> bool:
        """Whether the list answers on `path` (`/api/campaigns` or `/api/campaign`)."""
        value = self.quirks.campaign_list_path
        return value == MIXED or LIST_PATHS[value] == path

    def campaigns_page(
        self, q: Query, now: int | None = None, path: str = "/api/campaigns"
    ) -> dict[str, Any]:
        """The body of the campaign list (`path`) for query `q` at `now` (default: the
        clock)."""
        ds = self.data
        now = self.now_s(now)
        limit, offset = paging(q, 30 if path == "/api/campaigns" else 15)
        sort, way = sort_way(q, CAMPAIGN_SORTS)
        ctype = q.get("filter[type]") or "sms"
        if ctype not in CAMPAIGN_LIST_TYPES:
            raise invalid("filter[type]", "The selected filter[type] is invalid; one of "
                          f"{', '.join(CAMPAIGN_LIST_TYPES)}.")  # fmt: skip
        frm, to = window(q, now, self.tz)
        lo = int(np.searchsorted(ds.c_created, frm, "left"))
        hi = int(np.searchsorted(ds.c_created, min(to, now), "right"))
        cand = np.arange(lo, hi)
        cand = cand[ds.c_channel[cand] == CHANNELS.index(ctype)]
        field, value = self._search_params(q)
        cand = self._filter_campaigns(cand, field, value)
        cand = self._sort_campaigns(cand, sort, now)
        page = (cand[::-1] if way == "desc" else cand)[offset : offset + limit]
        return {
            "data": [self.render_campaign(int(i), now) for i in page.tolist()],
            "meta": {"page": {"total": len(cand), "limit": limit, "offset": offset}},
        }

    def _search_params(self, q: Query) -> tuple[str | None, str | None]:
        """(field, value) of the search, from the spelling(s) the server reads."""
        mode = self.quirks.list_search
        for prefix in ("search", "filter"):
            if mode not in (prefix, MIXED):
                continue
            field, value = q.get(f"{prefix}[field]"), q.get(f"{prefix}[value]")
            if field or value:
                if field not in ("sender", "taskname"):
                    raise invalid(f"{prefix}[field]", f"The selected {prefix}[field] is invalid.")
                if not value or len(value) > 255:
                    msg = f"The {prefix}[value] must be between 1 and 255 characters."
                    raise invalid(f"{prefix}[value]", msg)
                return field, value
        return None, None

    def _filter_campaigns(
        self, cand: np.ndarray, field: str | None, value: str | None
    ) -> np.ndarray:
        """sender contains the value, or taskname: the name contains it or it is the id."""
        if not field:
            return cand
        ds = self.data
        v = (value or "").lower()
        if field == "sender":
            keep = [v in ds.c_sender[i].lower() for i in cand.tolist()]
        else:
            keep = [
                v == str(D.CAMPAIGN_ID_BASE + i) or v in self.campaign_name(i).lower()
                for i in cand.tolist()
            ]
        return cand[np.array(keep, dtype=bool)] if len(cand) else cand

    def _sort_campaigns(self, cand: np.ndarray, sort: str, now: int) -> np.ndarray:
        """Ascending by `sort`, ties by id; "id" and "type" (one type per request): id order."""
        ds = self.data
        if sort == "sender":
            cand = cand[np.lexsort((cand, self._sender_arr[cand].astype(str)))]
        elif sort == "date":
            cand = cand[np.lexsort((cand, ds.c_created[cand]))]
        elif sort == "status":
            cand = cand[np.lexsort((cand, self._campaign_status(cand, now).astype(str)))]
        return cand

    def calculated_price(self, ci: int) -> float | None:
        ds = self.data
        return None if ds.c_price_null[ci] else round(int(ds.c_price_planned[ci]) / D.UNITS, 7)

    def render_campaign(self, ci: int, now: int) -> dict[str, Any]:
        """Campaign `ci` as a record of the list."""
        ds, tz = self.data, self.tz
        cid = D.CAMPAIGN_ID_BASE + ci
        stats = self.campaign_stats(ci, now)
        t = self._campaign_times(ci, now)
        rec: dict[str, Any] = {
            "id": cid,
            "name": self.campaign_name(ci),
            "sender": ds.c_sender[ci],
            "status": str(self._campaign_status(np.array([ci]), now)[0]),
            "message_type": self.campaign_channel(ci),
            "start_at": tz.fmt1(t["start"]),
            "real_start_at": tz.fmt1(t["real_start"]),
            "finished_at": tz.fmt1(t["finished"]),
            "created_at": tz.fmt1(t["created"]),
            "statistics": self._sent_delivered(stats["primary"]),
            "calculated_price": self.calculated_price(ci),
            "currency": D.CURRENCIES[ds.c_currency[ci]],
        }
        fb_key = self.quirks.variant1("list_fallback_stats", cid)
        if fb_key != "absent":
            rec["alternative_channels"] = {"sms": {fb_key: self._sent_delivered(stats["fallback"])}}
        return rec

    def campaign_detail(self, campaign_id: int, now: int | None = None) -> dict[str, Any]:
        """The body of `GET /api/campaigns/{campaign_id}/detail` at `now`."""
        ds, tz = self.data, self.tz
        now = self.now_s(now)
        ci = campaign_id - D.CAMPAIGN_ID_BASE
        if not (0 <= ci < ds.n_campaigns) or ds.c_created[ci] > now:
            raise ApiError(404, {"message": f"Campaign {campaign_id} not found."})
        stats = self.campaign_stats(ci, now)
        t = self._campaign_times(ci, now)
        names = (
            ("started_at", "actual_start_at")
            if self.quirks.pick1("detail_start_names", campaign_id)
            else ("start_at", "real_start_at")
        )
        channel = self.campaign_channel(ci)
        alt: Any
        if self.has_sms_fallback(ci):
            alt = {"sms": {"statistics": detail_statistics(stats["fallback"], "sms")}}
        else:
            alt = [] if self.quirks.pick1("detail_no_fallback", campaign_id) else None
        body = {
            "id": campaign_id,
            "name": self.campaign_name(ci),
            "sender": ds.c_sender[ci],
            "status": str(self._campaign_status(np.array([ci]), now)[0]),
            "type": channel,
            names[0]: tz.fmt1(t["start"]),
            names[1]: tz.fmt1(t["real_start"]),
            "finished_at": tz.fmt1(t["finished"]),
            "created_at": tz.fmt1(t["created"]),
            "statistics": detail_statistics(stats["primary"], channel),
            "alternative_channels": alt,
            "total_messages": stats["total_messages"],
            "total_phones": stats["total_phones"],
            "total_price": D.money_text(
                stats["total_units"], bool(hash_bit(campaign_id, "money_decimals"))
            ),
            "currency": D.CURRENCIES[ds.c_currency[ci]],
        }
        wrapper = self.quirks.variant1("detail_wrapper", campaign_id)
        if wrapper == "data":
            return {"data": body}
        if wrapper == "locale":
            return {"en-US": body}
        return body
