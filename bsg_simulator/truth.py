"""Ground truth: what the pipeline's tables should hold at a moment, as Polars frames (true
values, whatever the quirks hide), for tests to compare against - `ground_truth_messages`,
`_campaigns`, `_legacy_sms`, `_legacy_tasks` - and totals derived from them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import polars as pl

from . import data as D
from .common import REF_K, REF_MASK
from .legacy import LegacyMixin

TASK_COUNTS = ("sent", "delivered", "expired", "undeliverable", "unknown")
TIME_COLUMNS = ("start_at", "real_start_at", "finished_at", "created_at")


def _campaign_schema() -> dict[str, Any]:
    schema: dict[str, Any] = {
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


def _frame(rows: list[dict[str, Any]], schema: dict[str, Any]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)


class GroundTruthMixin(LegacyMixin):
    """The `ground_truth_*` frames, `status_counts` and `spend`."""

    @staticmethod
    def _ts(arr: np.ndarray, name: str) -> pl.Series:
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

    @staticmethod
    def _refs(ids: np.ndarray) -> pl.Series:
        x = (ids.astype(np.uint64) * np.uint64(REF_K)) & np.uint64(REF_MASK)
        return (
            pl.select(pl.lit("ext") + pl.Series(x.astype(np.int64)).cast(pl.String).str.zfill(13))
            .to_series()
            .alias("reference_id")
        )

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

    def ground_truth_campaigns(self, now: datetime | float | None = None) -> pl.DataFrame:
        """Every campaign visible at `now`: the `campaigns` table's columns (true values) plus
        per-status counts `primary_<status>` and `fallback_<status>`, and `total_units`."""
        now = self.now_s(now)
        nc = int(np.searchsorted(self.data.c_created, now, "right"))
        df = _frame([self._campaign_truth_row(ci, now) for ci in range(nc)], CAMPAIGN_SCHEMA)
        return df.with_columns(
            *[(pl.col(c) * 1_000_000).cast(pl.Datetime("us", "UTC")) for c in TIME_COLUMNS],
            self._money(df["calculated_price_units"], "calculated_price"),
            self._money(df["total_units"], "total_price"),
        ).with_columns(pl.col("created_at").dt.strftime("%Y-%m").alias("created_month"))

    def _campaign_truth_row(self, ci: int, now: int) -> dict[str, Any]:
        ds = self.data
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
        return row

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
                    **{k: body[k] for k in TASK_COUNTS},
                }
            )
        df = _frame(rows, TASK_SCHEMA)
        return df.with_columns(self._money(df["total_units"], "total_price"))

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
