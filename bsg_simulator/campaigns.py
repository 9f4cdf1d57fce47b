"""One API campaigns: the list (`GET /api/campaign`, alias `/api/campaigns`: type, window and
text filters, sorting, paging) and the detail (`GET /api/campaigns/{id}/detail`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from bsg_analytics.schemas.statuses import RCS_STATUSES, SMS_STATUSES

from . import data as D
from .common import ApiError, Query, invalid
from .params import paging, sort_way, window
from .state import SimulatorState

CAMPAIGN_SORTS = ("id", "sender", "type", "date", "status")
SMS_STATS = SMS_STATUSES  # the ten SMS statuses, the page's order
RCS_STATS = RCS_STATUSES


class CampaignsMixin(SimulatorState):
    """`campaigns_page`, `render_campaign` and `campaign_detail`."""

    def campaigns_page(self, q: Query, now: int | None = None) -> dict[str, Any]:
        """The body of `GET /api/campaign` for query `q` at `now` (default: the clock)."""
        ds = self.data
        now = self.now_s(now)
        limit, offset = paging(q)
        sort, way = sort_way(q, CAMPAIGN_SORTS)
        ctype = q.get("filter[type]") or "sms"
        if ctype not in D.CHANNELS:
            raise invalid("filter[type]", "The selected filter[type] is invalid; sms or rcs.")
        frm, to = window(q, now, self.tz)
        lo = int(np.searchsorted(ds.c_created, frm, "left"))
        hi = int(np.searchsorted(ds.c_created, min(to, now), "right"))
        cand = np.arange(lo, hi)
        cand = cand[ds.c_channel[cand] == D.CHANNELS.index(ctype)]
        cand = self._filter_campaigns(cand, q.get("filter[field]"), q.get("filter[value]"))
        cand = self._sort_campaigns(cand, sort, now)
        page = (cand[::-1] if way == "desc" else cand)[offset : offset + limit]
        return {
            "data": [self.render_campaign(int(i), now) for i in page.tolist()],
            "meta": {"page": {"total": len(cand), "limit": limit, "offset": offset}},
        }

    def _filter_campaigns(
        self, cand: np.ndarray, field: str | None, value: str | None
    ) -> np.ndarray:
        """`filter[field]`/`filter[value]`: sender contains, or taskname (id or name) matches."""
        if not (field or value):
            return cand
        ds = self.data
        if field not in ("sender", "taskname"):
            raise invalid("filter[field]", "The selected filter[field] is invalid.")
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

    def render_campaign(self, ci: int, now: int) -> dict[str, Any]:
        """Campaign `ci` as a record of the list."""
        ds, tz = self.data, self.tz
        cid = D.CAMPAIGN_ID_BASE + ci
        stats = self.campaign_stats(ci, now)
        t = self._campaign_times(ci, now)
        fb_key = "statistics" if self.quirks.pick1("fallback_stats_name", cid) else "statistic"
        return {
            "id": cid,
            "name": self.campaign_name(ci),
            "sender": ds.c_sender[ci],
            "status": str(self._campaign_status(np.array([ci]), now)[0]),
            "message_type": D.CHANNELS[ds.c_channel[ci]],
            "start_at": tz.fmt1(t["start"]),
            "real_start_at": tz.fmt1(t["real_start"]),
            "finished_at": tz.fmt1(t["finished"]),
            "created_at": tz.fmt1(t["created"]),
            "statistics": self._sent_delivered(stats["primary"]),
            "calculated_price": round(int(ds.c_price_planned[ci]) / 1e7, 7),
            "alternative_channels": {"sms": {fb_key: self._sent_delivered(stats["fallback"])}},
        }

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
        prim = {k: stats["primary"][k] for k in RCS_STATS}
        if self.quirks.pick1("undocumented_statuses", campaign_id) and ds.c_channel[ci] == 1:
            prim["not_rcs_user"] = stats["primary"]["not_rcs_user"]
        units = stats["total_units"]
        body = {
            "id": campaign_id,
            "name": self.campaign_name(ci),
            "sender": ds.c_sender[ci],
            "status": str(self._campaign_status(np.array([ci]), now)[0]),
            "type": D.CHANNELS[ds.c_channel[ci]],
            names[0]: tz.fmt1(t["start"]),
            names[1]: tz.fmt1(t["real_start"]),
            "finished_at": tz.fmt1(t["finished"]),
            "created_at": tz.fmt1(t["created"]),
            "statistics": prim,
            "alternative_channels": {
                "sms": {"statistics": {k: stats["fallback"][k] for k in SMS_STATS}}
            },
            "total_messages": stats["total_messages"],
            "total_phones": stats["total_phones"],
            "total_price": f"{units // 10_000_000}.{units % 10_000_000:07d}",
            "currency": D.CURRENCIES[ds.c_currency[ci]],
        }
        if self.quirks.pick1("detail_wrapper", campaign_id):
            return {"en-US": body}
        return body
