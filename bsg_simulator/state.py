"""The simulator's world at a moment: the generated dataset, the clock, and what follows from
them at any `now` (seconds) - each message's status and times (its trajectory), each
campaign's status, times and per-status counts.

`SimulatorState` is the base of `Simulator`; the API and ground-truth mixins read it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from bsg_analytics.schemas.statuses import DELIVERED_STATUSES, SENT_STATUSES

from . import data as D
from .clock import Clock
from .config import QuirkConfig, SimulatorConfig
from .timezone import TimeZone

I64MAX = np.iinfo(np.int64).max
# the provider's definitions of sent and delivered (its campaign-list statistics), one place:
# bsg_analytics/schemas/statuses.py
SENT_CODES = np.array(sorted(D.S[x] for x in SENT_STATUSES))
DELIVERED_CODES = np.array(sorted(D.S[x] for x in DELIVERED_STATUSES))

# Per-status counts of a campaign: {"primary": {status: n}, "fallback": {...}, totals}.
CampaignStats = dict[str, Any]


class SimulatorState:
    """Generated data + clock + quirks; the status of every message and campaign at `now`."""

    def __init__(self, config: SimulatorConfig | None = None, **overrides: Any) -> None:
        config = (config or SimulatorConfig()).replace(**overrides) if overrides else config
        self.config = config = config or SimulatorConfig()
        self.quirks: QuirkConfig = config.quirks
        anchor = config.anchor or datetime.now(UTC).date()
        self.data = ds = D.generate(
            config.messages, config.seed, config.days, anchor, config.future_hours
        )
        start = config.start or datetime.now(UTC)
        self.clock = Clock(start, live=config.live, speed=config.speed)
        self.tz = TimeZone(config.timezone, ds.t0 - 86400, ds.t1 + 20 * 86400)
        cid = D.CAMPAIGN_ID_BASE + ds.m_campaign.astype(np.int64)
        self.m_nrcs_shown = self.quirks.pick("undocumented_statuses", cid)
        final = ds.m_created + ds.m_sent_off + ds.m_out_off + np.maximum(ds.m_read_off, 0)
        self.c_settled = ds.c_end.copy()
        np.maximum.at(self.c_settled, ds.m_campaign, final)
        self._stats_cache: dict[int, CampaignStats] = {}
        self._sender_arr = np.array(ds.c_sender, dtype=object)

    # ------------------------------------------------------------------ basics
    def now_s(self, now: datetime | float | None = None) -> int:
        if now is None:
            return self.clock.now_s()
        if isinstance(now, datetime):
            if now.tzinfo is None:
                now = now.replace(tzinfo=UTC)
            return int(now.timestamp())
        return int(now)

    def visible_count(self, now: int) -> int:
        return int(np.searchsorted(self.data.m_created, now, "right"))

    def message_ids(self) -> np.ndarray:
        return D.MESSAGE_ID_BASE + np.arange(self.data.n_messages, dtype=np.int64)

    def window_bounds(self) -> tuple[datetime, datetime]:
        """The span of generated data (UTC)."""
        return (
            datetime.fromtimestamp(self.data.t0, UTC),
            datetime.fromtimestamp(self.data.t1, UTC) + timedelta(days=1),
        )

    # ------------------------------------------------------------ trajectories
    def _trajectory(
        self, idx: np.ndarray, now: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Status code, sent_at, delivered_at, dr time (or -1) of messages `idx` at `now`."""
        ds = self.data
        c = ds.m_created[idx]
        q = c + ds.m_queue_off[idx]
        s = c + ds.m_sent_off[idx]
        o = s + ds.m_out_off[idx]
        ro = ds.m_read_off[idx]
        r = np.where(ro >= 0, o + ro, I64MAX)
        out = ds.m_outcome[idx]
        shown = np.where(
            (out == D.S["not_rcs_user"]) & ~self.m_nrcs_shown[idx], D.S["undelivered"], out
        )
        st = np.where(
            now < q,
            ds.m_pre[idx],
            np.where(
                now < s,
                D.S["sending"],
                np.where(now < o, ds.m_inflight[idx], np.where(now >= r, D.S["read"], shown)),
            ),
        ).astype(np.int8)
        sent_at = np.where(now >= s, s, -1)
        delivered_at = np.where((out == D.S["delivered"]) & (now >= o), o, -1)
        dr_at = np.where((out != D.S["unknown"]) & (now >= o), o, -1)
        return st, sent_at, delivered_at, dr_at

    # --------------------------------------------------------------- campaigns
    def _campaign_status(self, ci: np.ndarray, now: int) -> np.ndarray:
        ds = self.data
        final = np.array(["done", "stopped", "paused", "spam"], dtype=object)[ds.c_kind[ci]]
        return np.where(
            ds.c_kind[ci] == D.KIND_SPAM,
            "spam",
            np.where(
                now < ds.c_created[ci] + 30,
                "creation",
                np.where(
                    now < ds.c_real_start[ci],
                    "scheduled",
                    np.where(now < ds.c_end[ci], "sending", final),
                ),
            ),
        )

    def _campaign_times(self, ci: int, now: int) -> dict[str, int | None]:
        ds = self.data
        spam = ds.c_kind[ci] == D.KIND_SPAM
        real = int(ds.c_real_start[ci]) if now >= ds.c_real_start[ci] and not spam else None
        finished = None
        if ds.c_kind[ci] in (D.KIND_DONE, D.KIND_STOPPED) and now >= ds.c_end[ci]:
            finished = int(ds.c_end[ci])
        return {
            "start": int(ds.c_start[ci]),
            "real_start": real,
            "finished": finished,
            "created": int(ds.c_created[ci]),
        }

    def campaign_stats(self, ci: int, now: int) -> CampaignStats:
        """Counts per status (primary and fallback), totals and price of campaign `ci` at now."""
        if now >= self.c_settled[ci] and ci in self._stats_cache:
            return self._stats_cache[ci]
        ds = self.data
        sl = ds.c_msg[ds.c_ptr[ci] : ds.c_ptr[ci + 1]]
        sl = sl[: np.searchsorted(sl, self.visible_count(now))]
        st = self._trajectory(sl, now)[0]
        fb = ds.m_is_fallback[sl]
        prim = np.bincount(st[~fb], minlength=len(D.STATUS_NAMES))
        alt = np.bincount(st[fb], minlength=len(D.STATUS_NAMES))
        stats = {
            "primary": {D.STATUS_NAMES[i]: int(prim[i]) for i in range(len(D.STATUS_NAMES))},
            "fallback": {D.STATUS_NAMES[i]: int(alt[i]) for i in range(len(D.STATUS_NAMES))},
            "total_messages": int((~fb).sum()),
            "total_phones": len(np.unique(ds.m_phone[sl[~fb]])),
            "total_units": int(ds.m_amount[sl].sum()),
        }
        if now >= self.c_settled[ci]:
            self._stats_cache[ci] = stats
        return stats

    @staticmethod
    def _sent_delivered(counts: dict[str, int]) -> dict[str, int]:
        delivered = counts["delivered"] + counts["read"]
        sent = sum(counts[D.STATUS_NAMES[c]] for c in SENT_CODES)
        return {"delivered": delivered, "sent": sent}

    def campaign_name(self, ci: int) -> str:
        ds = self.data
        kind = "RCS" if ds.c_channel[ci] else "SMS"
        via = "api" if ds.c_source[ci] else "web"
        return f"{kind} {via} campaign / {self.tz.fmt1(int(ds.c_created[ci]))}"
