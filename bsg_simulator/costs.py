"""Where messages went and what they cost: each message's operator, the statistics export's
rows (`export_rows`, what a ready `GET /api/stat/jobs/{key}` serves), the account balance
(`balance_body`), and their ground truth (`ground_truth_message_costs`,
`ground_truth_balance`) with the delivery collapses planted in the data
(`planted_anomalies`).

An export row is the message as `/api/messages` serves it at the same moment: `price` is the
amount (7 decimals; a failed message's is 0), `time_in` / `time_sent` / `time_dlr` are its
created / sent / delivered times in the account's zone (null until they happened), `status`
the export's word for its status (`MESSAGE_TO_EXPORT_STATUS`: read is Delivered, a phone
without the app - not_viber_user, not_service_user and the pages' not_rcs_user - Rejected),
`brand` / `mcc` / `mnc` its operator (a function of the phone: `data.OPERATORS`). `sl_clicks`
is an int for the delivered SMS and Viber messages of campaigns whose text carries a short
link (`data.SHORT_LINK_TEXTS`), else null.

The balance is `balance_start` minus the cost of every message created by the clock (its
price is charged from creation on, as /api/messages shows it), each converted into
`account_currency` at the fixed rates of `data.EUR_PER`, to 7 decimals; the credit is the
config's. With `balance_start` None the start is chosen so that at the anchor (UTC midnight)
BALANCE_RUNWAY_DAYS of the last 7 days' mean daily spend is left.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Decimal
from typing import Any

import numpy as np
import polars as pl

from bsg_analytics.schemas.statuses import CHANNELS, EXPORT_STATUS_MAP, MESSAGE_TO_EXPORT_STATUS
from bsg_analytics.schemas.tables import MESSAGE_COSTS

from . import data as D
from .config import _salt, mix64
from .truth import GroundTruthMixin

BALANCE_RUNWAY_DAYS = 28
SEVEN = Decimal("0.0000001")
# the export's word for each status code (the pages' `not_rcs_user` too: a phone without RCS)
EXPORT_WORDS: tuple[str, ...] = tuple(
    MESSAGE_TO_EXPORT_STATUS.get(name, MESSAGE_TO_EXPORT_STATUS["not_service_user"])
    for name in D.STATUS_NAMES
)
PRODUCT_OF_WORD: tuple[str, ...] = tuple(EXPORT_STATUS_MAP[w] for w in EXPORT_WORDS)
# the export row's keys, in the provider's example's order
EXPORT_FIELDS = ("message_id", "message_type", "msisdn", "country_name", "brand", "mcc", "mnc",
                 "originator", "price", "currency", "time_in", "time_sent", "time_dlr",
                 "status", "body", "sl_clicks")  # fmt: skip
PLANTED_SCHEMA: dict[str, Any] = {
    "kind": pl.String, "country_name": pl.String, "operator": pl.String, "mcc": pl.String,
    "mnc": pl.String, "channel": pl.String, "day": pl.Date, "messages": pl.Int64,
    "delivered": pl.Int64, "delivered_without_collapse": pl.Int64,
}  # fmt: skip
_COUNTRY_NAMES = [D.COUNTRY_NAMES[c[0]] for c in D.COUNTRIES]
_OP_COUNTRY = np.array([op[0] for op in D.OPERATOR_LIST], dtype=np.int64)
_SL_SALT = _salt("sl_clicks")
_SL_EDGES = np.cumsum(D.SL_CLICK_SHARES)


def _decimal(units: int) -> Decimal:
    return Decimal(units).scaleb(-7)


class CostsMixin(GroundTruthMixin):
    """`export_rows`, `export_json`, `balance_body`, `ground_truth_message_costs`,
    `ground_truth_balance`, `planted_anomalies`."""

    # ------------------------------------------------------------- columns
    def _short_link_campaigns(self) -> np.ndarray:
        if not hasattr(self, "_c_short_link"):
            texts = self.data.c_text
            self._c_short_link = np.array(
                [t.startswith(D.SHORT_LINK_TEXTS) for t in texts] + [False], dtype=bool
            )
        return self._c_short_link

    def _cost_codes(self, idx: np.ndarray, now: int) -> dict[str, np.ndarray]:
        """Per message of `idx` at `now`: status code, sent/delivered times (-1: not yet),
        operator and clicks (-1: null)."""
        ds = self.data
        st, sent_at, delivered_at, _ = self._trajectory(idx, now)
        ci = ds.m_campaign[idx]
        ch = ds.m_channel[idx]
        mids = D.MESSAGE_ID_BASE + idx
        u = (mix64(mids, _SL_SALT) >> np.uint64(11)).astype(np.float64) / float(1 << 53)
        clicks = np.searchsorted(_SL_EDGES, u, "right").astype(np.int64)
        has = (
            self._short_link_campaigns()[ci]
            & ((ch == D.CH["sms"]) | (ch == D.CH["viber"]))
            & (delivered_at >= 0)
        )
        return {
            "status": st,
            "sent": sent_at,
            "delivered": delivered_at,
            "operator": ds.m_operator[idx].astype(np.int64),
            "clicks": np.where(has, clicks, -1),
        }

    def _operator_columns(self, op: np.ndarray) -> dict[str, pl.Series]:
        ops = D.OPERATOR_LIST
        return {
            "country_name": self._gather(_COUNTRY_NAMES, _OP_COUNTRY[op]),
            "operator": self._gather([o[1] for o in ops], op),
            "mcc": self._gather([o[2] for o in ops], op),
            "mnc": self._gather([o[3] for o in ops], op),
        }

    def _local_text(self, t: np.ndarray, name: str) -> pl.Series:
        """Epoch seconds as the account's `yyyy-mm-dd hh:mm:ss` (null where negative)."""
        t = np.asarray(t, dtype=np.int64)
        local = pl.Series(name, t + self.tz.offsets(t), dtype=pl.Int64)
        text = pl.select(pl.from_epoch(local, time_unit="s").dt.strftime("%Y-%m-%d %H:%M:%S"))
        return text.to_series().set(pl.Series(t < 0), None).alias(name)

    @staticmethod
    def _money_text(units: np.ndarray) -> pl.Series:
        u = pl.Series("u", units, dtype=pl.Int64)
        return pl.select(
            (u // D.UNITS).cast(pl.String) + "." + (u % D.UNITS).cast(pl.String).str.zfill(7)
        ).to_series()

    # -------------------------------------------------------------- export
    def export_rows(self, idx: np.ndarray, now: int) -> pl.DataFrame:
        """The export's rows of messages `idx` (ascending) at `now`: string columns in the
        provider's order (`EXPORT_FIELDS`), `sl_clicks` Int64."""
        ds = self.data
        idx = np.asarray(idx, dtype=np.int64)
        k = self._cost_codes(idx, now)
        ci = ds.m_campaign[idx]
        op = self._operator_columns(k["operator"])
        clicks = pl.Series("sl_clicks", k["clicks"], dtype=pl.Int64)
        df = pl.DataFrame(
            {
                "message_id": pl.Series(D.MESSAGE_ID_BASE + idx, dtype=pl.Int64).cast(pl.String),
                "message_type": self._gather(list(CHANNELS), ds.m_channel[idx]),
                "msisdn": pl.Series(ds.m_phone[idx], dtype=pl.Int64).cast(pl.String),
                "country_name": op["country_name"],
                "brand": op["operator"],
                "mcc": op["mcc"],
                "mnc": op["mnc"],
                "originator": self._gather(ds.c_sender, ci),
                "price": self._money_text(ds.m_amount[idx]),
                "currency": self._gather(list(D.CURRENCIES), ds.c_currency[ci]),
                "time_in": self._local_text(ds.m_created[idx], "time_in"),
                "time_sent": self._local_text(k["sent"], "time_sent"),
                "time_dlr": self._local_text(k["delivered"], "time_dlr"),
                "status": self._gather(list(EXPORT_WORDS), k["status"]),
                "body": self._gather(ds.c_text, ci),
                "sl_clicks": clicks.set(clicks < 0, None),
            }
        )
        return df.select(EXPORT_FIELDS)

    def export_json(self, idx: np.ndarray, now: int) -> bytes:
        """The JSON list of `export_rows` (what a ready job's `result` is)."""
        return self.export_rows(idx, now).write_json().encode()

    # --------------------------------------------------------------- truth
    def ground_truth_message_costs(self, now: datetime | float | None = None) -> pl.DataFrame:
        """Every message visible at `now` as `message_costs` holds it (its columns but
        `extracted_at`): `status` the product's status of the export's word
        (`export_status`), times UTC, `created_date` the UTC date of `time_in`."""
        ds = self.data
        now = self.now_s(now)
        idx = np.arange(self.visible_count(now), dtype=np.int64)
        k = self._cost_codes(idx, now)
        ci = ds.m_campaign[idx]
        clicks = pl.Series("sl_clicks", k["clicks"], dtype=pl.Int64)
        df = pl.DataFrame(
            {
                "message_id": pl.Series(D.MESSAGE_ID_BASE + idx, dtype=pl.Int64),
                "channel": self._gather(list(CHANNELS), ds.m_channel[idx]),
                **self._operator_columns(k["operator"]),
                "originator": self._gather(ds.c_sender, ci),
                "price": self._money(ds.m_amount[idx], "price"),
                "currency": self._gather(list(D.CURRENCIES), ds.c_currency[ci]),
                "time_in": self._ts(ds.m_created[idx], "time_in"),
                "time_sent": self._ts(k["sent"], "time_sent"),
                "time_dlr": self._ts(k["delivered"], "time_dlr"),
                "status": self._gather(list(PRODUCT_OF_WORD), k["status"]),
                "export_status": self._gather(list(EXPORT_WORDS), k["status"]),
                "sl_clicks": clicks.set(clicks < 0, None),
            }
        ).with_columns(pl.col("time_in").dt.date().alias("created_date"))
        cols = [c for c in MESSAGE_COSTS.columns if c != "extracted_at"]
        return df.select(pl.col(c).cast(MESSAGE_COSTS.schema[c]) for c in cols)

    def planted_anomalies(self) -> pl.DataFrame:
        """The delivery collapses planted in the data (`collapses`), one row each, by day:
        kind `delivery_collapse`, the operator (country_name, operator, mcc, mnc), channel,
        the UTC `day`, its `messages` (all of that operator, channel and day: primary and
        fallback), how many are `delivered` in the end (read ones too) and how many would
        have been without the collapse."""
        rows = []
        for c in self.data.collapses:
            k, brand, mcc, mnc = D.OPERATOR_LIST[c.operator]
            rows.append(("delivery_collapse", _COUNTRY_NAMES[k], brand, mcc, mnc,
                         CHANNELS[c.channel], c.day, len(c.messages), c.delivered,
                         c.delivered_before))  # fmt: skip
        return pl.DataFrame(rows, schema=PLANTED_SCHEMA, orient="row")

    # ------------------------------------------------------------- balance
    def _spend_prefix(self) -> np.ndarray:
        """(currencies, messages + 1) running sums of the messages' costs (units of 1e-7),
        by currency, in id (= created) order."""
        if not hasattr(self, "_spend_cum"):
            ds = self.data
            cur = ds.c_currency[ds.m_campaign]
            cum = np.zeros((len(D.CURRENCIES), ds.n_messages + 1), dtype=np.int64)
            for c in range(len(D.CURRENCIES)):
                np.cumsum(np.where(cur == c, ds.m_amount, 0), out=cum[c, 1:])
            self._spend_cum = cum
        return self._spend_cum

    def _converted(self, units: np.ndarray) -> Decimal:
        """Units of 1e-7 per currency (CURRENCIES order) in the account's currency."""
        to = Decimal(D.EUR_PER[self.config.account_currency])
        pairs = zip(D.CURRENCIES, units, strict=True)
        total = sum((_decimal(int(u)) * Decimal(D.EUR_PER[c]) / to for c, u in pairs), Decimal(0))
        return total.quantize(SEVEN, ROUND_HALF_EVEN)

    def spend_converted(self, now: datetime | float | None = None) -> Decimal:
        """The cost of every message created by `now`, in the account's currency."""
        return self._converted(self._spend_prefix()[:, self.visible_count(self.now_s(now))])

    def balance_start(self) -> Decimal:
        """The config's `balance_start`, or the one chosen for the data (module doc)."""
        if not hasattr(self, "_balance_start"):
            self._balance_start = self._start()
        return self._balance_start

    def _start(self) -> Decimal:
        if self.config.balance_start is not None:
            return Decimal(str(self.config.balance_start)).quantize(SEVEN)
        a = D.anchor_epoch(self.data.anchor)
        cum = self._spend_prefix()
        at_anchor = cum[:, self.visible_count(a - 1)]
        week = self._converted(at_anchor - cum[:, self.visible_count(a - 7 * 86400 - 1)]) / 7
        if week == 0:
            week = self._converted(at_anchor) / max(1, (a - self.data.t0) // 86400)
        start = self._converted(at_anchor) + BALANCE_RUNWAY_DAYS * week
        return (start if start > 0 else Decimal(2500)).quantize(Decimal("0.01"), ROUND_CEILING)

    def ground_truth_balance(self, now: datetime | float | None = None) -> dict[str, Any]:
        """{balance, credit (Decimal, 7 places), currency, start, spend, at} at `now`."""
        now = self.now_s(now)
        start, spend = self.balance_start(), self.spend_converted(now)
        return {
            "balance": (start - spend).quantize(SEVEN),
            "credit": Decimal(str(self.config.credit)).quantize(SEVEN),
            "currency": self.config.account_currency,
            "start": start.quantize(SEVEN),
            "spend": spend,
            "at": datetime.fromtimestamp(now, UTC),
        }

    def balance_body(self, now: int | None = None) -> dict[str, Any]:
        """`GET /api/accounts/balance` at `now`: numbers (a float's shortest form is the
        7-decimal value)."""
        truth = self.ground_truth_balance(now)
        return {
            "data": {
                "balance": float(truth["balance"]),
                "currency": truth["currency"],
                "credit": float(truth["credit"]),
            }
        }
