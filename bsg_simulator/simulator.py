"""The simulator: generated data + clock + quirks -> API bodies and ground truth.

Interpretations (the pages leave them open):
- `/api/messages` `filter[from]`/`filter[to]` select on the message's `created_at` (inclusive
  both ends, whole seconds, the account's zone). Campaigns select on campaign `created_at`.
- Sorting by `delivered` follows MySQL: messages without `delivered_at` (at `now`) sort first
  ascending, last descending; ties by id.
- Statistics count the campaign's primary messages (`statistics`) and its fallback SMS
  (`alternative_channels.sms.statistics`) separately; `total_messages`/`total_phones` count the
  primary ones; `total_price` sums every message of the campaign (fallback SMS included), so it
  equals the sum of the `amount` of all messages whose `campaign_id` is the campaign.
- `calculated_price` (list) is the planned cost of the campaign's primary messages, as float.
- A failed message costs 0; every other message has its price from creation on.
- Legacy task `sent` counts the provider's SENT statuses (delivered included), `undeliverable`
  counts undelivered + failed. Legacy `time_dr` is the time of the final report (null for
  `unknown`, which has none).
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from bsg_analytics.schemas.statuses import (
    DELIVERED_STATUSES,
    RCS_STATUSES,
    SENT_STATUSES,
    SMS_STATUSES,
)

from . import data as D
from .clock import Clock
from .config import QuirkConfig, SimulatorConfig

I64MAX = np.iinfo(np.int64).max
FMT_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
REF_RE = re.compile(r"^[A-Za-z0-9]{1,32}$")
REF_K = 0x9E3779B1
REF_MASK = (1 << 40) - 1
REF_KINV = pow(REF_K, -1, 1 << 40)

MESSAGE_SORTS = ("id", "phone", "delivered")
CAMPAIGN_SORTS = ("id", "sender", "type", "date", "status")
SMS_STATS = SMS_STATUSES  # the ten SMS statuses, the page's order
RCS_STATS = RCS_STATUSES
# the provider's definitions of sent and delivered (seed 003), one place: schemas.statuses
SENT_CODES = np.array(sorted(D.S[x] for x in SENT_STATUSES))
DELIVERED_CODES = np.array(sorted(D.S[x] for x in DELIVERED_STATUSES))


class ApiError(Exception):
    """An error answer: HTTP status and JSON body."""

    def __init__(self, status: int, body: dict) -> None:
        super().__init__(status, body)
        self.status = status
        self.body = body


def invalid(field: str, msg: str) -> ApiError:
    return ApiError(422, {"message": msg, "errors": {field: [msg]}})


def reference_of(message_id: int) -> str:
    return f"ext{(message_id * REF_K) & REF_MASK:013d}"


def message_id_of_reference(ref: str) -> int | None:
    if not ref.startswith("ext") or not ref[3:].isdigit() or len(ref) != 16:
        return None
    mid = (int(ref[3:]) * REF_KINV) & REF_MASK
    return mid if reference_of(mid) == ref else None


def minus_months(dt: datetime, n: int) -> datetime:
    y, m = divmod(dt.month - 1 - n, 12)
    year, month = dt.year + y, m + 1
    return dt.replace(year=year, month=month, day=min(dt.day, calendar.monthrange(year, month)[1]))


class TimeZone:
    """Epoch seconds <-> the account's `yyyy-mm-dd hh:mm:ss`, vectorised with an hourly table of
    UTC offsets over the data's span (zone changes fall on whole UTC hours)."""

    def __init__(self, name: str, lo: int, hi: int) -> None:
        self.name = name
        self.zone = ZoneInfo(name)
        self.utc = name.upper() in ("UTC", "ETC/UTC", "Z")
        self.lo = lo - lo % 3600
        hours = (hi - self.lo) // 3600 + 1
        if self.utc:
            self.table = np.zeros(1, dtype=np.int64)
        else:
            self.table = np.array(
                [
                    int(
                        datetime.fromtimestamp(self.lo + h * 3600, self.zone)
                        .utcoffset()
                        .total_seconds()
                    )
                    for h in range(hours)
                ],
                dtype=np.int64,
            )

    def offsets(self, t: np.ndarray) -> np.ndarray:
        if self.utc:
            return np.zeros(np.shape(t), dtype=np.int64)
        h = np.clip((np.asarray(t) - self.lo) // 3600, 0, len(self.table) - 1)
        out = self.table[h]
        outside = (np.asarray(t) < self.lo) | (h == len(self.table) - 1)
        if np.any(outside):
            for k in np.flatnonzero(np.atleast_1d(outside)):
                tk = int(np.atleast_1d(t)[k])
                off = datetime.fromtimestamp(tk, self.zone).utcoffset().total_seconds()
                np.atleast_1d(out)[k] = int(off)
        return out

    def fmt(self, t: np.ndarray) -> list[str | None]:
        """Format epoch seconds; negative values (none) give None."""
        t = np.asarray(t, dtype=np.int64)
        local = (t + self.offsets(t)).astype("datetime64[s]")
        strs = np.datetime_as_string(local, unit="s").tolist()
        out = [s.replace("T", " ") for s in strs]
        if np.any(t < 0):
            for k in np.flatnonzero(t < 0).tolist():
                out[k] = None
        return out

    def fmt1(self, t: int | None) -> str | None:
        if t is None or t < 0:
            return None
        return self.fmt(np.array([t]))[0]

    def local(self, t: float) -> datetime:
        return datetime.fromtimestamp(t, self.zone).replace(tzinfo=None)

    def parse(self, text: str) -> tuple[int, datetime]:
        if not FMT_RE.match(text):
            raise ValueError(text)
        naive = datetime.strptime(text, "%Y-%m-%d %H:%M:%S")
        return int(naive.replace(tzinfo=self.zone).timestamp()), naive


class Simulator:
    def __init__(self, config: SimulatorConfig | None = None, **overrides) -> None:
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
        self._stats_cache: dict[int, dict] = {}
        self._sender_arr = np.array(ds.c_sender, dtype=object)
        self.issued_tokens: dict[str, int | None] = {}
        self._token_seq = 0
        self._app = None

    # ------------------------------------------------------------------ basics
    @property
    def app(self):
        if self._app is None:
            from .app import create_app

            self._app = create_app(self)
        return self._app

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

    # ------------------------------------------------------------ trajectories
    def _trajectory(self, idx: np.ndarray, now: int):
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

    # ---------------------------------------------------------------- windows
    def _window(self, q, now: int, name_from="filter[from]", name_to="filter[to]"):
        now_local = self.tz.local(now)
        to_s = q.get(name_to)
        if to_s:
            try:
                to_e, to_local = self.tz.parse(to_s)
            except ValueError:
                raise invalid(
                    name_to, "The filter[to] does not match the format Y-m-d H:i:s."
                ) from None
            if to_e > now:
                raise invalid(name_to, "The filter[to] must be a date before or equal to now.")
        else:
            to_e, to_local = now, now_local
        from_s = q.get(name_from)
        limit_local = minus_months(to_local, 3)
        if from_s:
            try:
                from_e, from_local = self.tz.parse(from_s)
            except ValueError:
                raise invalid(
                    name_from, "The filter[from] does not match the format Y-m-d H:i:s."
                ) from None
            if from_e > now:
                raise invalid(name_from, "The filter[from] must be a date before or equal to now.")
            if from_e > to_e:
                raise invalid(name_from, "The filter[from] must be a date before filter[to].")
            if from_local < limit_local:
                raise invalid(name_from, "The period may not be longer than 3 months.")
        else:
            from_e = int(limit_local.replace(tzinfo=self.tz.zone).timestamp())
        return from_e, to_e

    @staticmethod
    def _int(q, name: str, default: int | None, lo: int | None = None, hi: int | None = None):
        raw = q.get(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise invalid(name, f"The {name} must be an integer.") from None
        if lo is not None and value < lo:
            raise invalid(name, f"The {name} must be at least {lo}.")
        if hi is not None and value > hi:
            raise invalid(name, f"The {name} may not be greater than {hi}.")
        return value

    @staticmethod
    def _sort_way(q, allowed):
        sort = q.get("sort") or q.get("Sort") or "id"
        way = (q.get("way") or q.get("Way") or "asc").lower()
        if sort not in allowed:
            raise invalid("sort", f"The selected sort is invalid; one of {', '.join(allowed)}.")
        if way not in ("asc", "desc"):
            raise invalid("way", "The selected way is invalid; asc or desc.")
        return sort, way

    # ---------------------------------------------------------------- messages
    def messages_page(self, q, now: int | None = None) -> dict:
        ds = self.data
        now = self.now_s(now)
        limit = self._int(q, "page[limit]", 50, 15, 500)
        offset = self._int(q, "page[offset]", 0, 0)
        sort, way = self._sort_way(q, MESSAGE_SORTS)
        frm, to = self._window(q, now)
        campaign_id = self._int(q, "filter[campaign_id]", None)
        msg_id = self._int(q, "filter[id]", None)
        ref = q.get("filter[reference_id]") or None
        lo = int(np.searchsorted(ds.m_created, frm, "left"))
        hi = int(np.searchsorted(ds.m_created, min(to, now), "right"))
        cand: np.ndarray | None = None
        if campaign_id is not None:
            ci = campaign_id - D.CAMPAIGN_ID_BASE
            if 0 <= ci < ds.n_campaigns:
                sl = ds.c_msg[ds.c_ptr[ci] : ds.c_ptr[ci + 1]]
                cand = sl[np.searchsorted(sl, lo) : np.searchsorted(sl, hi)]
            else:
                cand = np.empty(0, dtype=np.int64)
        for wanted in (
            msg_id,
            message_id_of_reference(ref) if ref is not None else None,
        ):
            if wanted is None:
                continue
            j = wanted - D.MESSAGE_ID_BASE
            one = np.array([j] if lo <= j < hi else [], dtype=np.int64)
            cand = one if cand is None else np.intersect1d(cand, one)
        if ref is not None and message_id_of_reference(ref) is None:
            cand = np.empty(0, dtype=np.int64)
        desc = way == "desc"
        if cand is None:
            total = hi - lo
            if sort == "id":
                if desc:
                    start = hi - 1 - offset
                    page = np.arange(start, max(start - limit, lo - 1), -1) if start >= lo else []
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
        page = np.asarray(page, dtype=np.int64)
        return {
            "data": self.render_messages(page, now),
            "meta": {"page": {"total": int(total), "offset": offset, "limit": limit}},
        }

    def _ordered(self, cand, sort, now, lo, hi) -> np.ndarray:
        """Indices in ascending `sort` order (ties by id); cand None means the range lo..hi."""
        ds = self.data
        if sort == "phone":
            if cand is None:
                p = ds.phone_order
                return p[(p >= lo) & (p < hi)]
            return cand[np.lexsort((cand, ds.m_phone[cand]))]
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
        return cand[np.lexsort((cand, key))]

    def render_messages(self, idx: np.ndarray, now: int) -> list[dict]:
        ds, qk, tz = self.data, self.quirks, self.tz
        if len(idx) == 0:
            return []
        st, sent_at, delivered_at, _ = self._trajectory(idx, now)
        ids = (D.MESSAGE_ID_BASE + idx).tolist()
        ci = ds.m_campaign[idx]
        cids = (D.CAMPAIGN_ID_BASE + ci).tolist()
        created = tz.fmt(ds.m_created[idx])
        sent = tz.fmt(sent_at)
        deliv = tz.fmt(delivered_at)
        amount_a = qk.pick("amount_field", idx + D.MESSAGE_ID_BASE).tolist()
        sent_a = qk.pick("sent_at_name", idx + D.MESSAGE_ID_BASE).tolist()
        phone_str = qk.pick("phone_type", idx + D.MESSAGE_ID_BASE).tolist()
        country_on = qk.pick("country_field", idx + D.MESSAGE_ID_BASE).tolist()
        parts_on = qk.pick("parts_field", idx + D.MESSAGE_ID_BASE).tolist()
        units = ds.m_amount[idx].tolist()
        phones = ds.m_phone[idx].tolist()
        channel = ds.m_channel[idx].tolist()
        parts = ds.m_parts[idx].tolist()
        country = ds.m_country[idx].tolist()
        opts = ds.m_options[idx].tolist()
        fb = ds.m_fallback[idx]
        fb_vis = (fb >= 0) & (ds.m_created[np.maximum(fb, 0)] <= now)
        fb_l = np.where(fb_vis, fb, -1).tolist()
        status = st.tolist()
        ci_l = ci.tolist()
        out = []
        for k, mid in enumerate(ids):
            c = ci_l[k]
            cur = D.CURRENCIES[ds.c_currency[c]]
            u = units[k]
            money = {"value": f"{u // 10_000_000}.{u % 10_000_000:07d}", "currency": cur}
            rec = {
                "id": mid,
                "campaign_id": cids[k],
                "reference_id": reference_of(mid),
                "type": D.CHANNELS[channel[k]],
                "source": D.SOURCES[ds.c_source[c]],
                "text": ds.c_text[c],
                "phone": str(phones[k]) if phone_str[k] else phones[k],
                "validity": int(ds.c_validity[c]),
                "status": D.STATUS_NAMES[status[k]],
            }
            if amount_a[k]:
                rec["amount"] = money
            else:
                rec["amont"] = [money]
            rec["sender"] = ds.c_sender[c]
            rec["created_at"] = created[k]
            rec["sent_at" if sent_a[k] else "send_at"] = sent[k]
            rec["delivered_at"] = deliv[k]
            if country_on[k]:
                rec["country"] = D.COUNTRIES[country[k]][0]
            if parts_on[k]:
                rec["parts"] = parts[k]
            if channel[k] == 1:
                rec["rcs_options"] = {"cards": ds.c_cards[c]}
                if opts[k]:
                    rec["options"] = ds.c_options[c]
                f = fb_l[k]
                if f >= 0:
                    rec["alternative_channels"] = {
                        "sms": {"parts": int(ds.m_parts[f]), "id": [D.MESSAGE_ID_BASE + f]}
                    }
            out.append(rec)
        return out

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

    def campaign_stats(self, ci: int, now: int) -> dict:
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
    def _sent_delivered(counts: dict) -> dict:
        delivered = counts["delivered"] + counts["read"]
        sent = sum(counts[D.STATUS_NAMES[c]] for c in SENT_CODES)
        return {"delivered": delivered, "sent": sent}

    def campaign_name(self, ci: int) -> str:
        ds = self.data
        kind = "RCS" if ds.c_channel[ci] else "SMS"
        via = "api" if ds.c_source[ci] else "web"
        return f"{kind} {via} campaign / {self.tz.fmt1(int(ds.c_created[ci]))}"

    def campaigns_page(self, q, now: int | None = None) -> dict:
        ds = self.data
        now = self.now_s(now)
        limit = self._int(q, "page[limit]", 50, 15, 500)
        offset = self._int(q, "page[offset]", 0, 0)
        sort, way = self._sort_way(q, CAMPAIGN_SORTS)
        ctype = q.get("filter[type]") or "sms"
        if ctype not in D.CHANNELS:
            raise invalid("filter[type]", "The selected filter[type] is invalid; sms or rcs.")
        frm, to = self._window(q, now)
        lo = int(np.searchsorted(ds.c_created, frm, "left"))
        hi = int(np.searchsorted(ds.c_created, min(to, now), "right"))
        cand = np.arange(lo, hi)
        cand = cand[ds.c_channel[cand] == D.CHANNELS.index(ctype)]
        field, value = q.get("filter[field]"), q.get("filter[value]")
        if field or value:
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
            cand = cand[np.array(keep, dtype=bool)] if len(cand) else cand
        if sort == "sender":
            cand = cand[np.lexsort((cand, self._sender_arr[cand].astype(str)))]
        elif sort == "date":
            cand = cand[np.lexsort((cand, ds.c_created[cand]))]
        elif sort == "status":
            cand = cand[np.lexsort((cand, self._campaign_status(cand, now).astype(str)))]
        # "id" and "type" (one type per request): id order
        page = (cand[::-1] if way == "desc" else cand)[offset : offset + limit]
        return {
            "data": [self.render_campaign(int(i), now) for i in page.tolist()],
            "meta": {"page": {"total": len(cand), "limit": limit, "offset": offset}},
        }

    def _campaign_times(self, ci: int, now: int) -> dict:
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

    def render_campaign(self, ci: int, now: int) -> dict:
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

    def campaign_detail(self, campaign_id: int, now: int | None = None) -> dict:
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

    # ------------------------------------------------------------------ legacy
    def legacy_error(self, code: int, status: int, key: int | str) -> ApiError:
        as_str = self.quirks.pick1("legacy_error_type", hash_key(f"{code}:{key}"))
        return ApiError(
            status,
            {"error": str(code) if as_str else code, "errorDescription": LEGACY_ERRORS[code]},
        )

    def legacy_lookup(self, raw_id: str, now: int | None = None, task_path: bool = False) -> dict:
        """`/rest/sms/{id}` (task_path False: a message or, by its id range, a task) and
        `/rest/sms/task/{task_id}`."""
        now = self.now_s(now)
        if not raw_id.isdigit():
            raise self.legacy_error(29 if task_path else 24, 400, raw_id)
        value = int(raw_id)
        if task_path or (value >= D.TASK_ID_OFFSET and value < D.MESSAGE_ID_BASE):
            return self.legacy_task(value, now)
        return self.legacy_sms(value - D.MESSAGE_ID_BASE, now, key=raw_id)

    def legacy_by_reference(self, ref: str, now: int | None = None) -> dict:
        now = self.now_s(now)
        if not REF_RE.match(ref):
            raise self.legacy_error(27, 400, ref)
        mid = message_id_of_reference(ref)
        if mid is None:
            raise self.legacy_error(20, 404, ref)
        return self.legacy_sms(mid - D.MESSAGE_ID_BASE, now, key=ref)

    def legacy_sms(self, j: int, now: int, key: int | str = "") -> dict:
        ds = self.data
        if not (0 <= j < self.visible_count(now)) or ds.m_channel[j] != 0:
            raise self.legacy_error(20, 404, key)
        idx = np.array([j])
        st, sent_at, _, dr_at = self._trajectory(idx, now)
        mid = D.MESSAGE_ID_BASE + j
        as_str = self.quirks.pick1("legacy_id_type", mid)
        c = int(ds.m_campaign[j])
        times = self.tz.fmt(np.array([ds.m_created[j], sent_at[0], dr_at[0]]))
        return {
            "error": 0,
            "errorDescription": "No errors",
            "id": str(mid) if as_str else mid,
            "msisdn": str(int(ds.m_phone[j])) if as_str else int(ds.m_phone[j]),
            "reference": reference_of(mid),
            "time_in": times[0],
            "time_sent": times[1],
            "time_dr": times[2],
            "status": D.STATUS_NAMES[int(st[0])],
            "price": int(ds.m_amount[j]) / 1e7,
            "currency": D.CURRENCIES[ds.c_currency[c]],
        }

    def legacy_task(self, task_id: int, now: int) -> dict:
        ds = self.data
        ci = task_id - D.TASK_ID_OFFSET - D.CAMPAIGN_ID_BASE
        if not (0 <= ci < ds.n_campaigns) or ds.c_channel[ci] != 0 or ds.c_created[ci] > now:
            raise self.legacy_error(30, 404, task_id)
        return self._task_body(ci, now)

    def _task_body(self, ci: int, now: int) -> dict:
        ds = self.data
        stats = self.campaign_stats(ci, now)
        p = stats["primary"]
        return {
            "originator": ds.c_sender[ci],
            "body": ds.c_text[ci],
            "validity": int(ds.c_validity[ci]),
            "totalprice": stats["total_units"] / 1e7,
            "currency": D.CURRENCIES[ds.c_currency[ci]],
            "sent": self._sent_delivered(p)["sent"],
            "delivered": p["delivered"] + p["read"],
            "expired": p["expired"],
            "undeliverable": p["undelivered"] + p["failed"],
            "unknown": p["unknown"],
        }

    def task_ids(self) -> np.ndarray:
        ds = self.data
        return D.TASK_ID_OFFSET + D.CAMPAIGN_ID_BASE + np.flatnonzero(ds.c_channel == 0)

    # ------------------------------------------------------------ ground truth
    def _ts(self, arr: np.ndarray, name: str) -> pl.Series:
        s = pl.Series(name, arr, dtype=pl.Int64)
        s = s.set(s < 0, None)
        return (s * 1_000_000).cast(pl.Datetime("us", "UTC")).alias(name)

    @staticmethod
    def _money(units: np.ndarray | pl.Series, name: str) -> pl.Series:
        u = pl.Series("u", units, dtype=pl.Int64)
        df = pl.DataFrame({"u": u}).select(
            (
                (pl.col("u") // 10_000_000).cast(pl.String)
                + "."
                + (pl.col("u") % 10_000_000).cast(pl.String).str.zfill(7)
            ).cast(pl.Decimal(18, 7))
        )
        return df.to_series().alias(name)

    def ground_truth_messages(self, now: datetime | float | None = None) -> pl.DataFrame:
        """Every message visible at `now` (default: the clock), as the `messages` table would
        hold it (plus `amount_units`): true values, whatever quirks hide (`country`, `parts`).
        `status` is what the API serves (so `not_rcs_user` shows as `undelivered` where the
        `undocumented_statuses` quirk hides it)."""
        ds = self.data
        now = self.now_s(now)
        n = self.visible_count(now)
        idx = np.arange(n, dtype=np.int64)
        st, sent_at, delivered_at, _ = self._trajectory(idx, now)
        mc = ds.m_campaign[:n]
        fb = ds.m_fallback[:n]
        fb_vis = (fb >= 0) & (ds.m_created[np.maximum(fb, 0)] <= now)
        fb_id = pl.Series("f", np.where(fb_vis, D.MESSAGE_ID_BASE + fb, -1), dtype=pl.Int64)
        fb_parts = np.where(fb_vis, ds.m_parts[np.maximum(fb, 0)], -1)
        mid = pl.Series("message_id", D.MESSAGE_ID_BASE + idx, dtype=pl.Int64)
        mcs = pl.Series(mc, dtype=pl.UInt32)
        campaign_opts = pl.Series([D.options_json(o) for o in ds.c_options], dtype=pl.String)
        df = pl.DataFrame(
            {
                "message_id": mid,
                "campaign_id": pl.Series(D.CAMPAIGN_ID_BASE + mc.astype(np.int64)),
                "reference_id": self._refs(D.MESSAGE_ID_BASE + idx),
                "channel": pl.Series(list(D.CHANNELS)).gather(ds.m_channel[:n]),
                "source": pl.Series(list(D.SOURCES)).gather(ds.c_source[mc]),
                "sender": pl.Series(ds.c_sender).gather(mcs),
                "phone": pl.Series(ds.m_phone[:n]).cast(pl.String),
                "text": pl.Series(ds.c_text).gather(mcs),
                "validity_hours": pl.Series(ds.c_validity[mc], dtype=pl.Int32),
                "status": pl.Series(list(D.STATUS_NAMES)).gather(st),
                "created_at": self._ts(ds.m_created[:n], "created_at"),
                "sent_at": self._ts(sent_at, "sent_at"),
                "delivered_at": self._ts(delivered_at, "delivered_at"),
                "amount_value": self._money(ds.m_amount[:n], "amount_value"),
                "amount_currency": pl.Series(list(D.CURRENCIES)).gather(ds.c_currency[mc]),
                "fallback_sms_parts": pl.Series(fb_parts, dtype=pl.Int32).set(
                    pl.Series(~fb_vis), None
                ),
                "fallback_sms_ids": fb_id.set(pl.Series(~fb_vis), None),
                "country": pl.Series([c[0] for c in D.COUNTRIES]).gather(ds.m_country[:n]),
                "parts": pl.Series(ds.m_parts[:n], dtype=pl.Int32),
                "options_json": campaign_opts.gather(mcs).set(pl.Series(~ds.m_options[:n]), None),
                "amount_units": pl.Series(ds.m_amount[:n], dtype=pl.Int64),
            }
        )
        return df.with_columns(
            pl.when(pl.col("fallback_sms_ids").is_not_null())
            .then(pl.concat_list(pl.col("fallback_sms_ids")))
            .alias("fallback_sms_ids"),
            pl.col("created_at").dt.date().alias("created_date"),
            pl.lit(datetime.fromtimestamp(now, UTC))
            .cast(pl.Datetime("us", "UTC"))
            .alias("extracted_at"),
        )

    @staticmethod
    def _refs(ids: np.ndarray) -> pl.Series:
        x = (ids.astype(np.uint64) * np.uint64(REF_K)) & np.uint64(REF_MASK)
        return (
            pl.select(pl.lit("ext") + pl.Series(x.astype(np.int64)).cast(pl.String).str.zfill(13))
            .to_series()
            .alias("reference_id")
        )

    def ground_truth_campaigns(self, now: datetime | float | None = None) -> pl.DataFrame:
        """Every campaign visible at `now`: the `campaigns` table's columns (true values) plus
        per-status counts `primary_<status>` and `fallback_<status>`, and `total_units`."""
        ds = self.data
        now = self.now_s(now)
        nc = int(np.searchsorted(ds.c_created, now, "right"))
        rows = []
        for ci in range(nc):
            stats = self.campaign_stats(ci, now)
            t = self._campaign_times(ci, now)
            status = str(self._campaign_status(np.array([ci]), now)[0])
            prim, alt = stats["primary"], stats["fallback"]
            row = {
                "campaign_id": D.CAMPAIGN_ID_BASE + ci,
                "name": self.campaign_name(ci),
                "sender": ds.c_sender[ci],
                "channel": D.CHANNELS[ds.c_channel[ci]],
                "status": status,
                "is_final": status in ("done", "stopped"),
                "start_at": t["start"],
                "real_start_at": t["real_start"],
                "finished_at": t["finished"],
                "created_at": t["created"],
                "calculated_price_units": int(ds.c_price_planned[ci]),
                "total_messages": stats["total_messages"],
                "total_phones": stats["total_phones"],
                "total_units": stats["total_units"],
                "currency": D.CURRENCIES[ds.c_currency[ci]],
                "list_delivered": self._sent_delivered(prim)["delivered"],
                "list_sent": self._sent_delivered(prim)["sent"],
                "fallback_delivered": self._sent_delivered(alt)["delivered"],
                "fallback_sent": self._sent_delivered(alt)["sent"],
            }
            for k in D.STATUS_NAMES:
                row[f"primary_{k}"] = prim[k]
                row[f"fallback_{k}"] = alt[k]
            rows.append(row)
        schema = {
            "campaign_id": pl.Int64,
            "name": pl.String,
            "sender": pl.String,
            "channel": pl.String,
            "status": pl.String,
            "is_final": pl.Boolean,
            "start_at": pl.Int64,
            "real_start_at": pl.Int64,
            "finished_at": pl.Int64,
            "created_at": pl.Int64,
            "calculated_price_units": pl.Int64,
            "total_messages": pl.Int64,
            "total_phones": pl.Int64,
            "total_units": pl.Int64,
            "currency": pl.String,
            "list_delivered": pl.Int64,
            "list_sent": pl.Int64,
            "fallback_delivered": pl.Int64,
            "fallback_sent": pl.Int64,
        }
        for k in D.STATUS_NAMES:
            schema[f"primary_{k}"] = pl.Int64
            schema[f"fallback_{k}"] = pl.Int64
        df = (
            pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)
        )
        ts = ["start_at", "real_start_at", "finished_at", "created_at"]
        return df.with_columns(
            *[(pl.col(c) * 1_000_000).cast(pl.Datetime("us", "UTC")) for c in ts],
            self._money(df["calculated_price_units"], "calculated_price"),
            self._money(df["total_units"], "total_price"),
        ).with_columns(pl.col("created_at").dt.strftime("%Y-%m").alias("created_month"))

    def ground_truth_legacy_sms(self, now: datetime | float | None = None) -> pl.DataFrame:
        """The `legacy_sms` table's rows for every SMS message visible at `now`."""
        m = self.ground_truth_messages(now).filter(pl.col("channel") == "sms")
        now_i = self.now_s(now)
        j = (m["message_id"] - D.MESSAGE_ID_BASE).to_numpy()
        _, _, _, dr = self._trajectory(j, now_i)
        return m.select(
            "message_id",
            pl.col("phone").alias("msisdn"),
            pl.col("reference_id").alias("reference"),
            pl.col("created_at").alias("time_in"),
            pl.col("sent_at").alias("time_sent"),
            self._ts(dr, "time_dr"),
            "status",
            pl.col("amount_value").alias("price"),
            pl.col("amount_currency").alias("currency"),
            "extracted_at",
        )

    def ground_truth_legacy_tasks(self, now: datetime | float | None = None) -> pl.DataFrame:
        """The `legacy_tasks` table's rows: every SMS campaign visible at `now`."""
        ds = self.data
        now = self.now_s(now)
        rows = []
        for ci in np.flatnonzero(ds.c_channel == 0).tolist():
            if ds.c_created[ci] > now:
                continue
            body = self._task_body(ci, now)
            rows.append(
                {
                    "task_id": D.TASK_ID_OFFSET + D.CAMPAIGN_ID_BASE + ci,
                    "originator": body["originator"],
                    "body": body["body"],
                    "validity": body["validity"],
                    "total_units": self.campaign_stats(ci, now)["total_units"],
                    "currency": body["currency"],
                    **{
                        k: body[k]
                        for k in ("sent", "delivered", "expired", "undeliverable", "unknown")
                    },
                }
            )
        schema = {
            "task_id": pl.Int64,
            "originator": pl.String,
            "body": pl.String,
            "validity": pl.Int32,
            "total_units": pl.Int64,
            "currency": pl.String,
            **{k: pl.Int64 for k in ("sent", "delivered", "expired", "undeliverable", "unknown")},
        }
        df = (
            pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)
        )
        return df.with_columns(self._money(df["total_units"], "total_price"))

    # ----------------------------------------------------------------- helpers
    def status_counts(self, now=None, channel: str | None = None) -> dict[str, int]:
        df = self.ground_truth_messages(now)
        if channel:
            df = df.filter(pl.col("channel") == channel)
        return dict(df.group_by("status").len().sort("status").iter_rows())

    def spend(self, now=None) -> dict[str, int]:
        """Sum of message amounts per currency, in units of 1e-7 (exact)."""
        df = self.ground_truth_messages(now)
        return dict(df.group_by("amount_currency").agg(pl.col("amount_units").sum()).iter_rows())

    def window_bounds(self) -> tuple[datetime, datetime]:
        """The span of generated data (UTC)."""
        return (
            datetime.fromtimestamp(self.data.t0, UTC),
            datetime.fromtimestamp(self.data.t1, UTC) + timedelta(days=1),
        )

    # -------------------------------------------------------------------- auth
    def issue_token(self) -> str:
        self._token_seq += 1
        token = f"sim{self._token_seq:06d}{hash_key(str(self._token_seq)) & 0xFFFFFFFF:08x}"
        self.issued_tokens[token] = self.config.token_ttl_requests
        return token


LEGACY_ERRORS: dict[int, str] = {
    20: "SMS not found",
    21: "Incorrect phone number",
    22: "External ID of the SMS request is missing",
    23: "SMS with this ID is already present",
    24: "Invalid query payload",
    25: "Invalid originator",
    26: "Empty or too long SMS text",
    27: "Incorrect external SMS ID",
    28: "Incorrect value of SMS validity",
    29: "The task id is incorrect",
    30: "Task not found",
    31: "The phone is already in the messaging list",
    32: "Sender not allowed",
    33: "Unresolved direction",
    34: "Invalid OTP, code generation error",
    35: "2WAY service is not activated",
    36: "Incorrect sender for 2WAY",
}


def hash_key(text: str) -> int:
    import zlib

    return zlib.crc32(text.encode()) & 0x7FFFFFFF
