"""Open anomalies: the `anomalies` view with the user's thresholds, from a day on.

`find_anomalies(data_dir, settings, since)` is the one function: the findings of the
`anomalies` view (its definition: `METRIC_DOCS["anomalies"]`) rendered with `settings`
(BSG_ALERT_*, BSG_CURRENCY_RATES: `warehouse.query(..., settings)`), whatever thresholds the
warehouse file was built with. A finding is **open** when its day is `since` or later; without
`since`, the last `alert_open_days` UTC days, today included.

`bsg-analytics alerts` (`run_alerts_command`) prints them and exits 0 when none is open, 1 when
any is, 2 when it cannot tell (nothing synced yet that the view reads, a bad option, a
warehouse that fails): a cron job or a Prefect deployment (`flows/alerts.py`, which fails its
run when any is open) notifies on a non-zero exit.
"""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from bsg_analytics.settings import Settings
from bsg_analytics.storage import DataDir
from bsg_analytics.warehouse import (
    WarehouseError,
    format_result,
    json_rows,
    print_table,
    query,
)

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "ALERT_FORMATS",
    "NothingSynced",
    "find_anomalies",
    "findings_summary",
    "open_since",
    "run_alerts_command",
    "to_markdown",
]

ALERT_FORMATS = ("table", "json")
# the tables the anomalies view judges: without any of them there is nothing to say
JUDGED_TABLES = ("message_costs", "balance_history")
# the columns a person reads first (the table and the markdown artifact, in this order)
SUMMARY_COLUMNS = ("day", "kind", "dimension", "subject", "channel", "detail")


class NothingSynced(RuntimeError):
    """The data directory holds none of the tables the anomalies are found in."""


def open_since(settings: Settings, today: date | None = None) -> date:
    """The first open day by default: `alert_open_days` UTC days back, today included."""
    today = today or datetime.now(UTC).date()
    return today - timedelta(days=settings.alert_open_days - 1)


def find_anomalies(
    data_dir: DataDir,
    settings: Settings,
    since: date | None = None,
    *,
    today: date | None = None,
) -> pa.Table:
    """The open findings of the `anomalies` view (day >= `since`, default `open_since`),
    with the thresholds of `settings`, as an Arrow table in the view's columns and order.
    Raises `NothingSynced` when no table the view reads has data, `WarehouseError` when the
    query fails."""
    if not any(data_dir.table_files(name) for name in JUDGED_TABLES):
        raise NothingSynced(
            f"nothing to judge in {data_dir.uri()}: no statistics export (message_costs) or "
            "balance (balance_history) synced yet; run `bsg-analytics sync` (or `demo`) first"
        )
    first = since or open_since(settings, today)
    return query(data_dir, "SELECT * FROM anomalies WHERE day >= ?", settings, params=[first])


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return " ".join(text.split()).replace("|", "\\|")


def to_markdown(rows: list[dict[str, Any]], since: date) -> str:
    """The findings (JSON-ready rows, `warehouse.json_rows`) as a markdown section: a
    heading that counts them, then a table of `SUMMARY_COLUMNS` (every value escaped)."""
    if not rows:
        return f"# No open anomalies\n\nNothing found on or after {since.isoformat()}.\n"
    head = f"# {len(rows)} open anomal{'y' if len(rows) == 1 else 'ies'} since {since.isoformat()}"
    lines = [
        head,
        "",
        "| " + " | ".join(SUMMARY_COLUMNS) + " |",
        "|" + "---|" * len(SUMMARY_COLUMNS),
    ]
    lines += ["| " + " | ".join(_cell(r.get(c)) for c in SUMMARY_COLUMNS) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def run_alerts_command(
    settings: Settings,
    since: date | None = None,
    fmt: str = "table",
    *,
    data_dir: DataDir | None = None,
) -> int:
    """`bsg-analytics alerts`: print the open findings; exit 0 (none), 1 (some), 2 (cannot
    tell: the reason is one line on stderr)."""
    fmt = (fmt or "table").lower()
    if fmt not in ALERT_FORMATS:
        print(
            f"bsg-analytics: --format must be one of {', '.join(ALERT_FORMATS)}, got {fmt!r}",
            file=sys.stderr,
        )
        return 2
    data_dir = data_dir or DataDir(settings.data_dir)
    first = since or open_since(settings)
    try:
        found = find_anomalies(data_dir, settings, first)
    except (NothingSynced, WarehouseError) as exc:
        print(f"bsg-analytics: {exc}", file=sys.stderr)
        return 2
    if fmt == "json":
        sys.stdout.write(format_result(found, "json"))
        sys.stdout.flush()
    elif found.num_rows:  # the columns a person reads; --format json has them all
        title = f"open anomalies since {first.isoformat()}"
        print_table(found.select(list(SUMMARY_COLUMNS)), title=title)
    else:
        print(f"no open anomalies since {first.isoformat()}")
    return 1 if found.num_rows else 0


def findings_summary(found: pa.Table, since: date) -> dict[str, Any]:
    """What a flow run returns and logs: the open findings as JSON-ready rows, by `since`."""
    rows = json_rows(found)
    return {"since": since.isoformat(), "open": len(rows), "findings": rows}
