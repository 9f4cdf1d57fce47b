"""The simulator's world at a moment: the generated dataset, the clock, and what follows from
them at any `now` (seconds) - each message's status and times (its trajectory), each
campaign's status, times and per-status counts.

`SimulatorState` is the base of `Simulator`; the API and ground-truth mixins read it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from bsg_analytics.schemas.statuses import (
    CAMPAIGN_STATISTIC_STATUSES,
    CHANNELS,
    DELIVERED_STATUSES,
    SENT_STATUSES,
)

from . import data as D
from .clock import Clock
from .common import message_id_of_reference
from .config import QuirkConfig, SimulatorConfig
from .generation import generate
from .timezone import TimeZone

I64MAX = np.iinfo(np.int64).max
# the provider's definitions of sent and delivered (its campaign-list statistics), one place:
# bsg_analytics/schemas/statuses.py
SENT_CODES = np.array(sorted(D.S[x] for x in SENT_STATUSES))
DELIVERED_CODES = np.array(sorted(D.S[x] for x in DELIVERED_STATUSES))

# Per-status counts of a campaign: {"primary": {status: n}, "fallback": {...} (its SMS
# fallbacks), "viber_fallback": {...}, totals}.
CampaignStats = dict[str, Any]


def detail_statistics(counts: dict[str, int], channel: str) -> dict[str, int]:
    """A campaign detail's 13 counts (CAMPAIGN_STATISTIC_STATUSES, its order) from counts per
    served message status. The detail has no `not_service_user` key: an RCS message served
    so (a phone without RCS) counts as `not_rcs_user`, a WhatsApp one as `undelivered`."""
    out = {k: counts.get(k, 0) for k in CAMPAIGN_STATISTIC_STATUSES}
    nsu = counts.get("not_service_user", 0)
    out["not_rcs_user" if channel == "rcs" else "undelivered"] += nsu
    return out


class SimulatorState:
    """Generated data + clock + quirks; the status of every message and campaign at `now`."""

    def __init__(self, config: SimulatorConfig | None = None, **overrides: Any) -> None:
        config = (config or SimulatorConfig()).replace(**overrides) if overrides else config
        self.config = config = config or SimulatorConfig()
        self.quirks: QuirkConfig = config.quirks
        anchor = config.anchor or datetime.now(UTC).date()
        self.data = ds = generate(
            config.messages, config.seed, config.days, anchor, config.future_hours,
            config.collapses,
        )  # fmt: skip
        start = config.start or datetime.now(UTC)
        self.clock = Clock(start, live=config.live, speed=config.speed)
        self.tz = TimeZone(config.timezone, ds.t0 - 86400, ds.t1 + 20 * 86400)
        # an RCS message to a phone without RCS: served as `not_service_user` (published)
        # where True, else as `not_rcs_user`
        self.m_rcs_nsu = self.quirks.pick(
            "rcs_non_user_status", D.MESSAGE_ID_BASE + np.arange(ds.n_messages, dtype=np.int64)
        )
        # messages with a reference_id: all but those made in the web account
        self.m_has_ref = ds.c_source[ds.m_campaign] != 0
        final = ds.m_created + ds.m_sent_off + ds.m_out_off + np.maximum(ds.m_read_off, 0)
        self.c_settled = ds.c_end.copy()
        np.maximum.at(self.c_settled, ds.m_campaign, final)
        self._stats_cache: dict[int, CampaignStats] = {}
        self._sender_arr = np.array(ds.c_sender, dtype=object)
        self._by_channel: dict[int, np.ndarray] = {}
        self._untyped: dict[int, dict[str, Any]] = {}  # campaign -> untyped rcs_options

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

    def channel_messages(self, channel: int) -> np.ndarray:
        """Indices of the messages of one channel, ascending (made on first use)."""
        if channel not in self._by_channel:
            self._by_channel[channel] = np.flatnonzero(self.data.m_channel == channel)
        return self._by_channel[channel]

    def message_of_reference(self, ref: str) -> int | None:
        """The id of the message whose reference_id is `ref`; None if no message has it."""
        mid = message_id_of_reference(ref)
        if mid is None:
            return None
        j = mid - D.MESSAGE_ID_BASE
        if not (0 <= j < self.data.n_messages) or not self.m_has_ref[j]:
            return None
        return mid

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
        """Status code (as served), sent_at, delivered_at, final report time (or -1) of
        messages `idx` at `now`."""
        ds = self.data
        c = ds.m_created[idx]
        q = c + ds.m_queue_off[idx]
        s = c + ds.m_sent_off[idx]
        o = s + ds.m_out_off[idx]
        ro = ds.m_read_off[idx]
        r = np.where(ro >= 0, o + ro, I64MAX)
        out = ds.m_outcome[idx]
        shown = np.where(
            (out == D.S["not_rcs_user"]) & self.m_rcs_nsu[idx], D.S["not_service_user"], out
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
        """creation (30 s) -> moderation (some web campaigns) -> scheduled -> sending ->
        done / stopped / paused; spam at once."""
        ds = self.data
        final = np.array(["done", "stopped", "paused", "spam"], dtype=object)[ds.c_kind[ci]]
        return np.select(
            [
                ds.c_kind[ci] == D.KIND_SPAM,
                now < ds.c_created[ci] + 30,
                now < ds.c_mod_end[ci],
                now < ds.c_real_start[ci],
                now < ds.c_end[ci],
            ],
            ["spam", "creation", "moderation", "scheduled", "sending"],
            final,
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
        """Counts per served status (primary, SMS fallbacks, Viber fallbacks), totals and
        price of campaign `ci` at now."""
        if now >= self.c_settled[ci] and ci in self._stats_cache:
            return self._stats_cache[ci]
        ds = self.data
        sl = ds.c_msg[ds.c_ptr[ci] : ds.c_ptr[ci + 1]]
        sl = sl[: np.searchsorted(sl, self.visible_count(now))]
        st = self._trajectory(sl, now)[0]
        fb = ds.m_is_fallback[sl]
        ch = ds.m_channel[sl]
        n = len(D.STATUS_NAMES)

        def counts(mask: np.ndarray) -> dict[str, int]:
            c = np.bincount(st[mask], minlength=n)
            return {D.STATUS_NAMES[i]: int(c[i]) for i in range(n)}

        stats = {
            "primary": counts(~fb),
            "fallback": counts(fb & (ch == D.CH["sms"])),
            "viber_fallback": counts(fb & (ch == D.CH["viber"])),
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

    def campaign_channel(self, ci: int) -> str:
        return CHANNELS[self.data.c_channel[ci]]

    def has_sms_fallback(self, ci: int) -> bool:
        """Whether campaign `ci` was sent with an SMS fallback (its detail's
        alternative_channels.sms)."""
        return bool(self.data.c_fallback[ci] == D.CH["sms"])

    def campaign_name(self, ci: int) -> str:
        ds = self.data
        kind = D.CHANNEL_TITLES[self.campaign_channel(ci)]
        via = "web" if ds.c_source[ci] == 0 else "api"
        return f"{kind} {via} campaign / {self.tz.fmt1(int(ds.c_created[ci]))}"
