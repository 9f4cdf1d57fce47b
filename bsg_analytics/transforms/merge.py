"""Latest state per key: the one rule used inside a batch and when merging into Parquet.

Rows are ordered by (version column, arrival order): the greatest `extracted_at` wins and on a
tie the row that arrived later (later page, or the new batch over the stored rows) wins.
Tables with `merge_groups` (campaigns) merge each column group by its own version column, so a
newer list page does not wipe the detail columns that only the detail endpoint fills.
A column of `FALLBACKS` left null by the merge takes its fallback column's value, after every
merge (in a batch and into Parquet): `campaigns.currency` is the detail's currency, else the
list's (`list_currency`), whichever of the two was read last.
"""

from __future__ import annotations

import polars as pl

from bsg_analytics.schemas.tables import TABLES, Table

ORDER = "__arrival"
# table -> (column, the column it falls back to when null), applied after each merge
FALLBACKS: dict[str, tuple[tuple[str, str], ...]] = {
    "campaigns": (("currency", "list_currency"),),
}


def strictly_increasing(df: pl.DataFrame, key: list[str]) -> bool:
    """Whether the rows are in strictly increasing key order (so keys are unique and the frame
    is already sorted by them). Cheap, one pass; False when a key column holds nulls."""
    if df.height < 2:
        return True
    if any(df.get_column(k).null_count() for k in key):
        return False
    if len(key) == 1:
        s = df.get_column(key[0])
        return s.is_sorted() and s.n_unique() == s.len()
    greater, equal = pl.lit(False), pl.lit(True)
    for k in key:
        col, prev = pl.col(k), pl.col(k).shift(1)
        greater = greater | (equal & (col > prev))
        equal = equal & (col == prev)
    return bool(df.select(greater.slice(1).all()).item())


def unique_keys(df: pl.DataFrame, key: list[str]) -> bool:
    if strictly_increasing(df, key):
        return True
    if len(key) == 1:
        return df.get_column(key[0]).n_unique() == df.height
    return bool(df.select(pl.struct(key).n_unique()).item() == df.height)


def latest(df: pl.DataFrame, table: Table | str) -> pl.DataFrame:
    """One row per key; `df` rows are in arrival order (later rows win ties). A frame whose
    keys are already unique is returned as it is."""
    t = TABLES[table] if isinstance(table, str) else table
    if not t.key or df.is_empty():
        return df
    key = list(t.key)
    if unique_keys(df, key):
        return with_fallbacks(df, t)
    df = df.with_row_index(ORDER)
    if not t.merge_groups:
        out = df.sort([t.version_column, ORDER], nulls_last=False).unique(
            subset=key, keep="last", maintain_order=True
        )
        return with_fallbacks(out.sort(ORDER).drop(ORDER), t)
    grouped = {c for _, cols in t.merge_groups for c in cols}
    base_cols = [c for c in df.columns if c not in grouped]
    out = (
        df.select(base_cols)
        .sort([t.version_column, ORDER], nulls_last=False)
        .unique(subset=key, keep="last", maintain_order=True)
    )
    for version, cols in t.merge_groups:
        part = (
            df.filter(pl.col(version).is_not_null())
            .sort([version, ORDER])
            .unique(subset=key, keep="last", maintain_order=True)
            .select([*key, *cols])
        )
        out = out.join(part, on=key, how="left", nulls_equal=True)
    return with_fallbacks(out.sort(ORDER).drop(ORDER).select(df.columns[1:]), t)


def with_fallbacks(df: pl.DataFrame, table: Table) -> pl.DataFrame:
    """`df` with each null of a `FALLBACKS` column of `table` filled from its fallback."""
    pairs = [
        (col, alt)
        for col, alt in FALLBACKS.get(table.name, ())
        if col in df.columns and alt in df.columns
    ]
    if not pairs:
        return df
    return df.with_columns(pl.coalesce(col, alt).alias(col) for col, alt in pairs)
