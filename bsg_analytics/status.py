"""`bsg-analytics status` and `sync --dry-run`: what the data directory holds and what the next
sync will do, from the state files and the Parquet footers (no API called, nothing written;
the only columns read are the quarantine reasons and, for `status` alone, those the contract
report checks for values nobody published, `warehouse.ACCEPTED_VALUES`).

    describe(settings, since, until, now) -> dict      # plain data, for --json
    add_contract_report(status, data_dir) -> dict       # + the values nobody published
    render(status) -> str                               # lines for a person
"""

from __future__ import annotations

import sys
from dataclasses import asdict
from datetime import UTC, date, datetime
from typing import Any

import orjson
import pyarrow.parquet as pq

from bsg_analytics.locking import SyncLocked, sync_lock
from bsg_analytics.lookback import load_index
from bsg_analytics.planning import plan_windows
from bsg_analytics.schemas.tables import TABLES
from bsg_analytics.settings import Settings
from bsg_analytics.state import ExportKeys, StateError, SyncState, iso, reset_state
from bsg_analytics.storage import PARQUET, STATE, DataDir
from bsg_analytics.streams.exports import NAME as EXPORTS
from bsg_analytics.warehouse import UnpublishedValue, WarehouseError, unpublished_values


def table_rows(data_dir: DataDir) -> dict[str, int]:
    """Rows per table, from the Parquet footers (cheap: no column is read)."""
    out: dict[str, int] = {}
    for name in TABLES:
        total = 0
        for path in data_dir.table_files(name):
            with data_dir.fs.open(path, "rb") as fh:
                total += pq.ParquetFile(fh).metadata.num_rows
        out[name] = total
    return out


def quarantine_reasons(data_dir: DataDir, limit: int = 5) -> list[tuple[str, int]]:
    """The commonest quarantine reasons (their text before the first colon), with counts."""
    counts: dict[str, int] = {}
    for path in data_dir.table_files("quarantine"):
        with data_dir.fs.open(path, "rb") as fh:
            for reason in pq.read_table(fh, columns=["reason"]).column("reason").to_pylist():
                head = str(reason).split(":", 1)[0]
                counts[head] = counts.get(head, 0) + 1
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]


def _day(value: date | None, settings: Settings) -> datetime | None:
    if value is None:
        return None
    return datetime.combine(value, datetime.min.time(), tzinfo=settings.zone)


def describe(
    settings: Settings,
    since: date | None = None,
    until: date | None = None,
    now: datetime | None = None,
    *,
    fresh: bool = False,
    data_dir: DataDir | None = None,
) -> dict[str, Any]:
    """Everything `status` shows, as plain data; `fresh`: plan as `sync --full-refresh` would
    (no state). State that cannot be read is reported (with what to do), not raised."""
    data_dir = data_dir or DataDir(settings.data_dir)
    now = now or datetime.now(UTC)
    out: dict[str, Any] = {"data_dir": data_dir.uri(), "now": iso(now)}
    try:
        state = SyncState(data_dir) if fresh else SyncState.load(data_dir)
    except StateError as exc:
        out["state_error"] = str(exc)
        state = None
    if state is not None:
        out["watermark"] = iso(state.watermark)
        out["lookback_hours"] = settings.lookback_hours
        out["last_sync"] = state.last_run.to_dict() if state.last_run else None
        out["open_campaigns"] = len(state.open_campaigns)
        try:
            out["pending_exports"] = ExportKeys(data_dir).pending()
        except StateError as exc:
            out["pending_exports"] = {}
            out["state_error"] = str(exc)
        run = state.run
        out["unfinished_run"] = (
            None
            if run is None
            else {
                "run_id": run.run_id,
                "started_at": iso(run.started_at),
                "since": iso(run.since),
                "until": iso(run.until),
                "request": list(run.request),
                "jobs_done": len(run.done),
                "jobs": len(run.jobs),
            }
        )
        plan = plan_windows(settings, state, _day(since, settings), _day(until, settings), now)
        out["next_sync"] = {
            "basis": plan.basis,
            "since": iso(plan.since),
            "until": iso(plan.until),
            "message_windows": len(plan.windows),
            "campaign_windows": len(plan.campaign_windows),
            "export_windows": len(plan.stream_windows.get(EXPORTS, []))
            + sum(len(w) for w in plan.variant_windows.get(EXPORTS, {}).values()),
            "jobs": len(plan.job_keys),
            "jobs_already_done": len(plan.carried_done),
            "lookback": plan.lookback,
            "reread_spans": [[iso(a), iso(b)] for a, b in plan.reread_spans],
            "campaign_details": len(plan.open_campaigns),
            "takes_over": plan.takes_over,
            "retires": plan.retires,
            "windows": [
                {"start": iso(w.start), "end": iso(w.end), "done": k in plan.carried_done}
                for k, w in plan.message_jobs
            ],
        }
        index = load_index(data_dir)
        out["open_messages"] = (
            None
            if index is None
            else {
                "messages": index.open,
                "spans": len(index.spans),
                "computed_at": iso(index.computed_at),
            }
        )
        out["full_lookback_at"] = iso(state.full_lookback_at)
    out["tables"] = table_rows(data_dir) if data_dir.exists(data_dir.path(PARQUET)) else {}
    out["quarantine"] = dict(quarantine_reasons(data_dir)) if out["tables"] else {}
    return out


def add_contract_report(status: dict[str, Any], data_dir: DataDir) -> dict[str, Any]:
    """`status` with `unpublished_values`: the values nobody published, by table and column,
    with their rows (kept as data; `warehouse.unpublished_values`), read from the Parquet
    files only when some table has rows; or `contract_error` when they cannot be read."""
    status["unpublished_values"] = []
    if any((status.get("tables") or {}).values()):
        try:
            status["unpublished_values"] = [asdict(v) for v in unpublished_values(data_dir)]
        except WarehouseError as exc:
            status["contract_error"] = str(exc)
    return status


def _when(text: str | None) -> str:
    if not text:
        return "-"
    return datetime.fromisoformat(text).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


_BASIS = {
    "default": "a first backfill",
    "watermark": "an incremental run (watermark minus the look-back)",
    "since": "a run from --since",
    "takeover": "the interrupted run, continued",
}


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


def lookback_line(status: dict[str, Any]) -> str:
    nxt, index = status["next_sync"], status.get("open_messages")
    full = status.get("full_lookback_at")
    can_change = (
        f"{_plural(index['messages'], 'message')} can still change, "
        f"in {_plural(index['spans'], 'span')} of creation time"
        if index
        else "no open index yet (the next sync writes one)"
    )
    if nxt.get("lookback") == "adaptive":
        spans = nxt.get("reread_spans") or []
        return (
            f"look-back: adaptive, re-reads {_plural(len(spans), 'span')} ({can_change}) and "
            f"what is new; the full look-back last ran {_when(full)}"
        )
    if nxt.get("lookback") == "range":
        return f"look-back: the range asked ({can_change})"
    return f"look-back: the whole {status.get('lookback_hours', 72)} hours ({can_change})"


def render_plan(status: dict[str, Any]) -> list[str]:
    nxt = status.get("next_sync")
    if not nxt:
        return []
    lines = [
        f"next sync:    {_BASIS.get(nxt['basis'], nxt['basis'])}: "
        f"{_when(nxt['since'])} .. {_when(nxt['until'])}",
        f"              {nxt['message_windows']} message windows, "
        f"{nxt['campaign_windows']} campaign windows and {nxt.get('export_windows', 0)} "
        f"exports ({nxt['jobs']} jobs, "
        f"{nxt['jobs_already_done']} already written), then {nxt['campaign_details']} open "
        "campaigns' details and every campaign seen",
    ]
    lines.append("              " + lookback_line(status))
    if nxt.get("takes_over"):
        lines.append(f"              continues interrupted run {nxt['takes_over']}")
    if nxt.get("retires"):
        lines.append(
            f"              replaces unfinished run {nxt['retires']} (its unread windows included)"
        )
    return lines


def render(status: dict[str, Any]) -> str:
    """`status` for a person: a few aligned lines."""
    lines = [f"data dir:     {status['data_dir']}"]
    if status.get("state_error"):
        lines.append(f"state:        UNREADABLE: {status['state_error']}")
    last = status.get("last_sync")
    if last and last.get("finished_at"):
        rows = last.get("rows") or {}
        lines.append(
            f"last sync:    {_when(last.get('finished_at'))} (run {last['run_id']}), "
            f"{_when(last.get('since'))} .. {_when(last.get('until'))}, "
            f"{rows.get('messages', 0)} messages written"
        )
    elif last:  # recorded by a version that kept only its id
        lines.append(f"last sync:    run {last['run_id']}, up to {_when(last.get('until'))}")
    elif not status.get("state_error"):
        lines.append("last sync:    none yet")
    if "watermark" in status:
        lines.append(f"watermark:    {_when(status.get('watermark'))}")
    run = status.get("unfinished_run")
    if run:
        lines.append(
            f"unfinished:   run {run['run_id']} started {_when(run['started_at'])}: "
            f"{run['jobs_done']} of {run['jobs']} jobs written; the next sync with the same "
            "arguments continues it"
        )
    for i, (job, entry) in enumerate(sorted((status.get("pending_exports") or {}).items())):
        label = "exports:      " if i == 0 else " " * 14
        lines.append(
            f"{label}{job}: export {entry.get('key')} made {_when(entry.get('created_at'))}, "
            "not yet landed; the next sync polls it"
        )
    lines += render_plan(status)
    tables = status.get("tables") or {}
    if tables:
        lines.append("tables:       " + ", ".join(f"{k} {v}" for k, v in tables.items()))
    else:
        lines.append("tables:       none yet")
    quarantine = status.get("quarantine") or {}
    if quarantine:
        lines.append(
            "quarantined:  "
            + ", ".join(f"{v} {k}" for k, v in quarantine.items())
            + " (see the quarantine table)"
        )
    for i, value in enumerate(status.get("unpublished_values") or []):
        label = "unpublished:  " if i == 0 else " " * 14
        lines.append(label + UnpublishedValue(**value).describe())
    if status.get("contract_error"):
        lines.append(f"unpublished:  not checked: {status['contract_error']}")
    return "\n".join(lines)


def _no_data_dir(data_dir: DataDir) -> str | None:
    if data_dir.exists(data_dir.path()):
        return None
    return f"no data directory at {data_dir.uri()}: `bsg-analytics sync` (or `demo`) makes one"


def run_status_command(
    settings: Settings, as_json: bool = False, *, data_dir: DataDir | None = None
) -> int:
    """`bsg-analytics status`: 0, or 3 when there is no data directory to describe."""
    data_dir = data_dir or DataDir(settings.data_dir)
    missing = _no_data_dir(data_dir)
    if missing:
        print(f"bsg-analytics: {missing}", file=sys.stderr)
        return 3
    info = add_contract_report(describe(settings, data_dir=data_dir), data_dir)
    if as_json:
        print(orjson.dumps(info, option=orjson.OPT_INDENT_2).decode())
    else:
        print(render(info))
    return 0


def run_reset_command(settings: Settings, *, data_dir: DataDir | None = None) -> int:
    """`bsg-analytics reset`: the state set aside under the sync lock; 0, 3 or 4 (locked)."""
    data_dir = data_dir or DataDir(settings.data_dir)
    missing = _no_data_dir(data_dir)
    if missing:
        print(f"bsg-analytics: {missing}", file=sys.stderr)
        return 3
    try:
        with sync_lock(data_dir):
            aside = reset_state(data_dir)
    except SyncLocked as exc:
        print(f"bsg-analytics: {exc}", file=sys.stderr)
        return 4
    if aside is None:
        print(f"no state to set aside in {data_dir.uri(STATE)}; the next sync reads from the start")
    else:
        print(
            f"state set aside in {aside}; the next sync reads from the start "
            "(raw pages and tables are kept)"
        )
    return 0
