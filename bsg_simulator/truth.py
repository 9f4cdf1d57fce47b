"""Ground truth: what the pipeline's tables should hold at a moment, as Polars frames with the
tables' column names and types (bsg_analytics/schemas/tables.py), for tests to compare:

- `ground_truth_messages` (`messages`, plus `amount_units` and `is_fallback`),
- `ground_truth_rcs_cards` / `ground_truth_rcs_suggestions` (`rcs_cards`, `rcs_suggestions`),
- `ground_truth_campaigns` (`campaigns`' columns of every campaign, all five types, plus
  `listable` - its type is one `GET /api/campaigns` lists -, `fallback_channel`,
  `calculated_price_units`, `total_units`, and the detail's counts `primary_<status>` /
  `sms_fallback_<status>`),
- `ground_truth_campaign_statistics` (`campaign_statistics`: per campaign, route and status),
- `ground_truth_legacy_sms`, `ground_truth_legacy_tasks`, `ground_truth_legacy_viber`,

and totals derived from them (`status_counts`, `spend`).

Values are the true ones whatever a quirk hides from a record (`country`, `parts`, the
suggestions' `postback_data` under `suggestion_shape=untyped`, the list's fallback counts
when it carries none), with three exceptions that follow what is served: `status` (an RCS
message to a phone without RCS is `not_service_user` or `not_rcs_user` as
`rcs_non_user_status` says), `options_json` (the page's `options`, only where
`options_field` serves it) and the detail's counts (its 13 keys: `state.detail_statistics`).
Legacy statuses are mapped as `legacy.py` says.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import polars as pl

from bsg_analytics.schemas.statuses import (
    CAMPAIGN_LIST_TYPES,
    CAMPAIGN_STATISTIC_STATUSES,
    CHANNELS,
    FINAL_CAMPAIGN_STATUSES,
    SOURCES,
)
from bsg_analytics.schemas.tables import (
    CAMPAIGN_STATISTICS,
    CAMPAIGNS,
    LEGACY_SMS,
    LEGACY_TASKS,
    LEGACY_VIBER,
    MESSAGES,
    RCS_CARDS,
    RCS_SUGGESTIONS,
    Table,
)

from . import data as D
from .common import REF_K, REF_MASK
from .legacy import LEGACY_SMS_NAMES, LEGACY_VIBER_NAMES, LegacyMixin
from .state import detail_statistics

TASK_COUNTS = ("sent", "total", "queued", "accepted", "enroute", "delivered", "expired",
               "undeliverable", "unknown")  # fmt: skip
TIME_COLUMNS = ("start_at", "real_start_at", "finished_at", "created_at")
ROUTE_PRIMARY, ROUTE_SMS_FALLBACK = "primary", "sms_fallback"
UTC_US = pl.Datetime("us", "UTC")


def _campaign_schema() -> dict[str, Any]:
    schema: dict[str, Any] = {
        "campaign_id": pl.Int64,
        "name": pl.String,
        "sender": pl.String,
        "channel": pl.String,
        "status": pl.String,
        "is_final": pl.Boolean,
        "listable": pl.Boolean,
        "reachable": pl.Boolean,
        "fallback_channel": pl.String,
        "start_at": pl.Int64,
        "real_start_at": pl.Int64,
        "finished_at": pl.Int64,
        "created_at": pl.Int64,
        "calculated_price_units": pl.Int64,
        "total_messages": pl.Int64,
        "total_phones": pl.Int64,
        "total_units": pl.Int64,
        "currency": pl.String,
        "list_currency": pl.String,
        "list_delivered": pl.Int64,
        "list_sent": pl.Int64,
        "fallback_delivered": pl.Int64,
        "fallback_sent": pl.Int64,
    }
    for k in CAMPAIGN_STATISTIC_STATUSES:
        schema[f"primary_{k}"] = pl.Int64
        schema[f"sms_fallback_{k}"] = pl.Int64
    return schema


CAMPAIGN_SCHEMA = _campaign_schema()
TASK_SCHEMA: dict[str, Any] = {
    "task_id": pl.Int64,
    "originator": pl.String,
    "body": pl.String,
    "validity": pl.Int32,
    "total_units": pl.Int64,
    "currency": pl.String,
    **{k: pl.Int64 for k in TASK_COUNTS},
}
_CARD_SCHEMA: dict[str, Any] = {
    "campaign_id": pl.Int64, "card_index": pl.Int32, "text": pl.String,
    "media_url": pl.String, "title": pl.String,
}  # fmt: skip
_SUGGESTION_SCHEMA: dict[str, Any] = {
    "campaign_id": pl.Int64, "card_index": pl.Int32, "suggestion_index": pl.Int32,
    "text": pl.String, "kind": pl.String, "phone": pl.String, "url": pl.String,
    "postback_data": pl.String,
}  # fmt: skip


def _frame(rows: list[dict[str, Any]], schema: dict[str, Any]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)


def _as_table(df: pl.DataFrame, table: Table, extra: tuple[str, ...] = ()) -> pl.DataFrame:
    """The table's columns in its order and types, then the `extra` columns."""
    return df.select(
        *[pl.col(c).cast(t) for c, t in table.schema.items()], *[pl.col(c) for c in extra]
    )


class GroundTruthMixin(LegacyMixin):
    """The `ground_truth_*` frames, `status_counts` and `spend`."""

    @staticmethod
    def _ts(arr: np.ndarray, name: str) -> pl.Series:
        s = pl.Series(name, arr, dtype=pl.Int64)
        s = s.set(s < 0, None)
        return (s * 1_000_000).cast(UTC_US).alias(name)

    @staticmethod
    def _money(units: np.ndarray | pl.Series, name: str) -> pl.Series:
        u = pl.Series("u", units, dtype=pl.Int64)
        df = pl.DataFrame({"u": u}).select(
            (
                (pl.col("u") // D.UNITS).cast(pl.String)
                + "."
                + (pl.col("u") % D.UNITS).cast(pl.String).str.zfill(7)
            ).cast(pl.Decimal(18, 7))
        )
        return df.to_series().alias(name)

    def _refs(self, j: np.ndarray) -> pl.Series:
        """The reference_id of messages `j` (null for those made in the web account)."""
        ids = D.MESSAGE_ID_BASE + j
        x = (ids.astype(np.uint64) * np.uint64(REF_K)) & np.uint64(REF_MASK)
        refs = pl.select(
            pl.lit("ext") + pl.Series(x.astype(np.int64)).cast(pl.String).str.zfill(13)
        ).to_series()
        return refs.set(pl.Series(~self.m_has_ref[j]), None).alias("reference_id")

    @staticmethod
    def _at(now: int) -> pl.Expr:
        return pl.lit(datetime.fromtimestamp(now, UTC)).cast(UTC_US).alias("extracted_at")

    @staticmethod
    def _gather(values: list[Any], codes: np.ndarray, dtype: Any = pl.String) -> pl.Series:
        return pl.Series(values, dtype=dtype).gather(pl.Series(codes, dtype=pl.UInt32))

    # -------------------------------------------------------------- messages
    def ground_truth_messages(self, now: datetime | float | None = None) -> pl.DataFrame:
        """Every message visible at `now` (default: the clock), as the `messages` table would
        hold it, plus `amount_units` and `is_fallback`. The fallback columns: the fallback
        (SMS or Viber) once it exists; `fallback_sms_*` only for an SMS fallback."""
        ds = self.data
        now = self.now_s(now)
        n = self.visible_count(now)
        idx = np.arange(n, dtype=np.int64)
        st, sent_at, delivered_at, _ = self._trajectory(idx, now)
        mc = ds.m_campaign[:n]
        fb = ds.m_fallback[:n]
        f0 = np.maximum(fb, 0)
        fb_vis = (fb >= 0) & (ds.m_created[f0] <= now)
        fb_ch = np.where(fb_vis, ds.m_channel[f0], -1)
        no_fb, no_sms = pl.Series(~fb_vis), pl.Series(fb_ch != D.CH["sms"])
        fb_parts = pl.Series(ds.m_parts[f0], dtype=pl.Int32)
        fb_ids = pl.Series(D.MESSAGE_ID_BASE + f0, dtype=pl.Int64)
        options = [D.options_json(o) for o in ds.c_options]
        shown_opts = ds.m_options[:n] & ~self.quirks.pick("options_field", D.MESSAGE_ID_BASE + idx)
        df = pl.DataFrame(
            {
                "message_id": pl.Series(D.MESSAGE_ID_BASE + idx, dtype=pl.Int64),
                "campaign_id": pl.Series(D.CAMPAIGN_ID_BASE + mc.astype(np.int64)),
                "reference_id": self._refs(idx),
                "channel": self._gather(list(CHANNELS), ds.m_channel[:n]),
                "source": self._gather(list(SOURCES), ds.c_source[mc]),
                "sender": self._gather(ds.c_sender, mc),
                "phone": pl.Series(ds.m_phone[:n]).cast(pl.String),
                "text": self._gather(ds.c_text, mc),
                "validity_hours": pl.Series(ds.c_validity[mc], dtype=pl.Int32),
                "status": self._gather(list(D.STATUS_NAMES), st),
                "created_at": self._ts(ds.m_created[:n], "created_at"),
                "sent_at": self._ts(sent_at, "sent_at"),
                "delivered_at": self._ts(delivered_at, "delivered_at"),
                "amount_value": self._money(ds.m_amount[:n], "amount_value"),
                "amount_currency": self._gather(list(D.CURRENCIES), ds.c_currency[mc]),
                "fallback_sms_parts": fb_parts.set(no_sms, None),
                "fallback_sms_ids": fb_ids.set(no_sms, None),
                "country": self._gather([c[0] for c in D.COUNTRIES], ds.m_country[:n]),
                "parts": pl.Series(ds.m_parts[:n], dtype=pl.Int32),
                "options_json": self._gather(options, mc).set(pl.Series(~shown_opts), None),
                "fallback_channel": self._gather(list(CHANNELS), np.maximum(fb_ch, 0)).set(
                    no_fb, None
                ),
                "fallback_parts": fb_parts.set(no_fb, None),
                "fallback_ids": fb_ids.set(no_fb, None),
                "amount_units": pl.Series(ds.m_amount[:n], dtype=pl.Int64),
                "is_fallback": pl.Series(ds.m_is_fallback[:n], dtype=pl.Boolean),
            }
        )
        df = df.with_columns(
            *[
                pl.when(pl.col(c).is_not_null()).then(pl.concat_list(pl.col(c))).alias(c)
                for c in ("fallback_sms_ids", "fallback_ids")
            ],
            pl.col("created_at").dt.date().alias("created_date"),
            self._at(now),
        )
        return _as_table(df, MESSAGES, ("amount_units", "is_fallback"))

    def _rcs_messages(self, now: int) -> pl.DataFrame:
        """(campaign_id, message_id, created_date, extracted_at) of the visible RCS messages
        whose campaign sends cards."""
        ds = self.data
        n = self.visible_count(now)
        sl = self.channel_messages(D.CH["rcs"])
        sl = sl[: np.searchsorted(sl, n)]
        has_cards = np.array([c is not None for c in ds.c_cards] + [False], dtype=bool)
        sl = sl[has_cards[ds.m_campaign[sl]]]
        return pl.DataFrame(
            {
                "message_id": pl.Series(D.MESSAGE_ID_BASE + sl, dtype=pl.Int64),
                "campaign_id": pl.Series(D.CAMPAIGN_ID_BASE + ds.m_campaign[sl].astype(np.int64)),
                "created_date": self._ts(ds.m_created[sl], "c").dt.date(),
            }
        ).with_columns(self._at(now))

    def _campaign_cards(self) -> tuple[pl.DataFrame, pl.DataFrame]:
        cards, sugs = [], []
        for ci, cc in enumerate(self.data.c_cards):
            for k, card in enumerate(cc or ()):
                cid = D.CAMPAIGN_ID_BASE + ci
                cards.append((cid, k, card["text"], card["media"]["url"], card.get("title")))
                for s, sug in enumerate(card["suggestions"]):
                    sugs.append((cid, k, s, sug["text"], sug["type"], sug.get("phone"),
                                 sug.get("url"), sug.get("postback_data")))  # fmt: skip
        return (
            pl.DataFrame(cards, schema=_CARD_SCHEMA, orient="row"),
            pl.DataFrame(sugs, schema=_SUGGESTION_SCHEMA, orient="row"),
        )

    def ground_truth_rcs_cards(self, now: datetime | float | None = None) -> pl.DataFrame:
        """The `rcs_cards` rows: each card of each visible RCS message that sends cards."""
        now = self.now_s(now)
        cards, _ = self._campaign_cards()
        df = self._rcs_messages(now).join(cards, on="campaign_id")
        return _as_table(df.sort("message_id", "card_index"), RCS_CARDS)

    def ground_truth_rcs_suggestions(self, now: datetime | float | None = None) -> pl.DataFrame:
        """The `rcs_suggestions` rows: `kind` link or call (the published `type`),
        `postback_data` where the campaign set one."""
        now = self.now_s(now)
        _, sugs = self._campaign_cards()
        df = self._rcs_messages(now).join(sugs, on="campaign_id")
        df = df.sort("message_id", "card_index", "suggestion_index")
        return _as_table(df, RCS_SUGGESTIONS)

    # ------------------------------------------------------------- campaigns
    def _visible_campaigns(self, now: int) -> int:
        return int(np.searchsorted(self.data.c_created, now, "right"))

    def ground_truth_campaigns(self, now: datetime | float | None = None) -> pl.DataFrame:
        """Every campaign visible at `now`, all five types (`listable`: the list shows it;
        the others are reached through their detail only, from the campaign id of one of
        their messages: `reachable` is false for one with no message visible yet, or none
        ever, as a Viber campaign refused as spam): the `campaigns` table's columns but the
        *_extracted_at ones, then the extras."""
        now = self.now_s(now)
        nc = self._visible_campaigns(now)
        carried = set(np.unique(self.data.m_campaign[: self.visible_count(now)]).tolist())
        df = _frame(
            [self._campaign_truth_row(ci, now, ci in carried) for ci in range(nc)],
            CAMPAIGN_SCHEMA,
        )
        df = df.with_columns(
            *[(pl.col(c) * 1_000_000).cast(UTC_US) for c in TIME_COLUMNS],
            self._money(df["calculated_price_units"], "calculated_price"),
            self._money(df["total_units"], "total_price"),
        ).with_columns(pl.col("created_at").dt.strftime("%Y-%m").alias("created_month"))
        skip = ("detail_extracted_at", "list_extracted_at", "extracted_at")
        table_cols = [c for c in CAMPAIGNS.columns if c not in skip]
        return df.select(
            *[pl.col(c).cast(CAMPAIGNS.schema[c]) for c in table_cols],
            *[c for c in df.columns if c not in table_cols],
        )

    def _campaign_truth_row(self, ci: int, now: int, carried: bool) -> dict[str, Any]:
        ds = self.data
        stats = self.campaign_stats(ci, now)
        t = self._campaign_times(ci, now)
        status = str(self._campaign_status(np.array([ci]), now)[0])
        channel = self.campaign_channel(ci)
        listable = channel in CAMPAIGN_LIST_TYPES
        prim = detail_statistics(stats["primary"], channel)
        alt = detail_statistics(stats["fallback"], "sms")
        fb = int(ds.c_fallback[ci])
        row = {
            "campaign_id": D.CAMPAIGN_ID_BASE + ci,
            "name": self.campaign_name(ci),
            "sender": ds.c_sender[ci],
            "channel": channel,
            "status": status,
            "is_final": status in FINAL_CAMPAIGN_STATUSES,
            "listable": listable,
            "reachable": listable or carried,
            "fallback_channel": CHANNELS[fb] if fb != D.NO_FALLBACK else None,
            "start_at": t["start"],
            "real_start_at": t["real_start"],
            "finished_at": t["finished"],
            "created_at": t["created"],
            "calculated_price_units": (
                None if ds.c_price_null[ci] or not listable else int(ds.c_price_planned[ci])
            ),
            "total_messages": stats["total_messages"],
            "total_phones": stats["total_phones"],
            "total_units": stats["total_units"],
            "currency": D.CURRENCIES[ds.c_currency[ci]],
        }
        # the list's own columns: null for a type no list shows (its row is the detail's)
        listed = {
            "list_currency": D.CURRENCIES[ds.c_currency[ci]],
            "list_delivered": self._sent_delivered(stats["primary"])["delivered"],
            "list_sent": self._sent_delivered(stats["primary"])["sent"],
            "fallback_delivered": self._sent_delivered(stats["fallback"])["delivered"],
            "fallback_sent": self._sent_delivered(stats["fallback"])["sent"],
        }
        row.update({k: v if listable else None for k, v in listed.items()})
        for k in CAMPAIGN_STATISTIC_STATUSES:
            row[f"primary_{k}"] = prim[k]
            row[f"sms_fallback_{k}"] = alt[k]
        return row

    def ground_truth_campaign_statistics(self, now: datetime | float | None = None) -> pl.DataFrame:
        """The `campaign_statistics` rows of every visible campaign's detail: route
        `primary` (13 statuses, zeros included) and, for a campaign sent with an SMS
        fallback, `sms_fallback`."""
        now = self.now_s(now)
        rows = []
        for ci in range(self._visible_campaigns(now)):
            stats = self.campaign_stats(ci, now)
            cid = D.CAMPAIGN_ID_BASE + ci
            month = datetime.fromtimestamp(int(self.data.c_created[ci]), UTC).strftime("%Y-%m")
            channel = self.campaign_channel(ci)
            routes = [(ROUTE_PRIMARY, detail_statistics(stats["primary"], channel))]
            if self.has_sms_fallback(ci):
                routes.append((ROUTE_SMS_FALLBACK, detail_statistics(stats["fallback"], "sms")))
            for route, counts in routes:
                rows += [(cid, route, k, counts[k], month) for k in CAMPAIGN_STATISTIC_STATUSES]
        schema = {"campaign_id": pl.Int64, "route": pl.String, "status": pl.String,
                  "messages": pl.Int64, "created_month": pl.String}  # fmt: skip
        df = pl.DataFrame(rows, schema=schema, orient="row").with_columns(self._at(now))
        return _as_table(df, CAMPAIGN_STATISTICS)

    # ---------------------------------------------------------------- legacy
    def _legacy_frame(self, j: np.ndarray, now: int, viber: bool, prefix: str = "") -> pl.DataFrame:
        """message_id, msisdn, reference, time_in, time_sent, time_dr, status (legacy), price,
        currency of messages `j` (columns prefixed `prefix`)."""
        ds = self.data
        st, sent_at, _, dr_at = self._trajectory(j, now)
        names = LEGACY_VIBER_NAMES if viber else LEGACY_SMS_NAMES
        mc = ds.m_campaign[j]
        cols = {
            "message_id": pl.Series(D.MESSAGE_ID_BASE + j, dtype=pl.Int64),
            "msisdn": pl.Series(ds.m_phone[j], dtype=pl.Int64).cast(pl.String),
            "reference": self._refs(j),
            "time_in": self._ts(ds.m_created[j], "t"),
            "time_sent": self._ts(sent_at, "t"),
            "time_dr": self._ts(dr_at, "t"),
            "status": pl.Series(names[st].tolist(), dtype=pl.String),
            "price": self._money(ds.m_amount[j], "p"),
            "currency": self._gather(list(D.CURRENCIES), ds.c_currency[mc]),
            "sender": self._gather(ds.c_sender, mc),
            "text": self._gather(ds.c_text, mc),
        }
        return pl.DataFrame({f"{prefix}{k}": v.alias(f"{prefix}{k}") for k, v in cols.items()})

    def _visible_of_channel(self, channel: str, now: int) -> np.ndarray:
        sl = self.channel_messages(D.CH[channel])
        return sl[: np.searchsorted(sl, self.visible_count(now))]

    def ground_truth_legacy_sms(self, now: datetime | float | None = None) -> pl.DataFrame:
        """The `legacy_sms` rows of every SMS message visible at `now` (fallbacks too)."""
        now = self.now_s(now)
        df = self._legacy_frame(self._visible_of_channel("sms", now), now, viber=False)
        return _as_table(df.with_columns(self._at(now)), LEGACY_SMS)

    def ground_truth_legacy_viber(self, now: datetime | float | None = None) -> pl.DataFrame:
        """The `legacy_viber` rows of every Viber message visible at `now` (RCS fallbacks
        too); the `alt_*` columns describe its SMS fallback once that exists."""
        ds = self.data
        now = self.now_s(now)
        j = self._visible_of_channel("viber", now)
        df = self._legacy_frame(j, now, viber=True)
        fb = ds.m_fallback[j]
        has = (fb >= 0) & (ds.m_created[np.maximum(fb, 0)] <= now)
        alt = self._legacy_frame(np.maximum(fb, 0), now, viber=False, prefix="alt_")
        alt = alt.with_columns(alt_channel=pl.lit("sms"), _has=pl.Series(has))
        alt = alt.select(pl.when(pl.col("_has")).then(pl.exclude("_has")).name.keep())
        df = pl.concat([df, alt], how="horizontal").with_columns(self._at(now))
        return _as_table(df, LEGACY_VIBER)

    def ground_truth_legacy_tasks(self, now: datetime | float | None = None) -> pl.DataFrame:
        """The `legacy_tasks` rows: every SMS campaign visible at `now` (plus
        `total_units`)."""
        ds = self.data
        now = self.now_s(now)
        rows = []
        for ci in np.flatnonzero(ds.c_channel == D.CH["sms"]).tolist():
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
                    **{k: body[k] for k in TASK_COUNTS},
                }
            )
        df = _frame(rows, TASK_SCHEMA)
        df = df.with_columns(self._money(df["total_units"], "total_price"), self._at(now))
        return _as_table(df, LEGACY_TASKS, ("total_units",))

    # ------------------------------------------------------------------ totals
    def status_counts(
        self, now: datetime | float | None = None, channel: str | None = None
    ) -> dict[str, int]:
        df = self.ground_truth_messages(now)
        if channel:
            df = df.filter(pl.col("channel") == channel)
        return dict(df.group_by("status").len().sort("status").iter_rows())

    def spend(self, now: datetime | float | None = None) -> dict[str, int]:
        """Sum of message amounts per currency, in units of 1e-7 (exact)."""
        df = self.ground_truth_messages(now)
        return dict(df.group_by("amount_currency").agg(pl.col("amount_units").sum()).iter_rows())
