"""The account balance (``GET /api/accounts/balance``) -> `balance_history`.

The body is ``{"data": {"balance": <number>, "currency": "EUR", "credit": <number>}}``: one
row per answer, `observed_at` the moment it was fetched. Numbers become decimals through
their shortest text (`float_text_to_money_text`), never through binary arithmetic. A body
without a `data` object, or whose `balance` is missing or not a number, goes to quarantine
with the reason; a `credit` that does not parse too.
"""

from __future__ import annotations

from datetime import tzinfo
from typing import TYPE_CHECKING

import polars as pl

from bsg_analytics.schemas.tables import BALANCE_HISTORY

from .common import (
    Check,
    Quarantine,
    QuarantineRow,
    Records,
    Spec,
    TransformReport,
    float_text_to_money_text,
    latest_counted,
    money_expr,
    page_object,
    scalar_text,
    split_bad,
    unknown_paths,
)

if TYPE_CHECKING:
    from bsg_analytics.raw import RawPage

SPEC: dict[str, Spec] = {"data": dict.fromkeys(("balance", "currency", "credit"))}
CHECKS = [
    Check("data.balance", "balance_t", "balance", required=True, kind="unparsable"),
    Check("data.credit", "credit_t", "credit", kind="unparsable"),
]
_COLUMNS = ["balance", "credit", "currency"]


def _data(body: object) -> dict | None:
    data = body.get("data") if isinstance(body, dict) else None
    return data if isinstance(data, dict) else None


def transform_balance(
    pages: list[RawPage], zone: tzinfo, report: TransformReport
) -> tuple[pl.DataFrame, list[QuarantineRow]]:
    """-> (balance_history, quarantine rows): one record per page."""
    quarantine = Quarantine(report)
    records = Records()
    for i, page in enumerate(pages):
        report.stream(page.stream).records_in += 1
        data, why, raw = page_object(page, _data, "wrong type data: expected an object")
        if data is None:
            report.pages_quarantined += 1
            quarantine.add(page, why, raw, None)
            continue
        report.add_unknown_fields(page.stream, unknown_paths({"data": data}, SPEC))
        row = {
            "balance": float_text_to_money_text(data.get("balance")),
            "credit": float_text_to_money_text(data.get("credit")),
            "currency": scalar_text(data.get("currency")),
        }
        records.add(row, i, page.body.decode("utf-8", "replace"), None)
    df = records.frame(_COLUMNS, pages).rename({"balance": "balance_t", "credit": "credit_t"})
    df = df.with_columns(
        observed_at=pl.col("extracted_at"),
        balance=money_expr("balance_t"),
        credit=money_expr("credit_t"),
    )
    df, _ = split_bad(df, CHECKS, records.on_bad(pages, quarantine, "currency"))
    return latest_counted(df, BALANCE_HISTORY.name, report), quarantine.rows
