"""`bsg-analytics`: the command line. Heavy imports (prefect, polars, duckdb) happen inside
the commands, so `--help` stays fast."""

from __future__ import annotations

import sys
from datetime import date
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer

from bsg_analytics import INTERRUPTED_LINE

app = typer.Typer(
    help="BSG SMS/RCS message statuses, campaigns and spend as Parquet tables and DuckDB views.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    # docstrings are wrapped at 100 columns: markdown joins their lines into paragraphs
    rich_markup_mode="markdown",
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"bsg-analytics {version('bsg-analytics')}")
        raise typer.Exit(0)


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="print the version and exit"
        ),
    ] = False,
) -> None:
    """BSG SMS/RCS message statuses, campaigns and spend as Parquet tables and DuckDB views."""


def _env(text: str, name: str) -> str:
    """An option's help naming the setting it overrides (one place for the spelling)."""
    return f"{text} [env: {name}]"


DataDirOpt = Annotated[
    str | None,
    typer.Option("--data-dir", "-d", help="Data directory or s3:// URL [env: BSG_DATA_DIR]"),
]


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print one clear line to stderr and return the exit to raise."""
    typer.echo(f"bsg-analytics: {message}", err=True)
    return typer.Exit(code)


def _data_dir(settings):
    """The data directory, built once per command; a setting it needs an extra for (an
    s3:// URL without s3fs) is one line and exit 2."""
    from bsg_analytics.settings import SettingsError
    from bsg_analytics.storage import DataDir

    try:
        return DataDir(settings.data_dir)
    except SettingsError as exc:
        raise fail(str(exc), 2) from None


def _synced(settings):
    """The data directory of a command that reads a sync's tables; one that holds none is
    one line and exit 3 (as `status` says it), not an empty warehouse made on the spot."""
    directory = _data_dir(settings)
    missing = directory.nothing_synced()
    if missing:
        raise fail(missing, 3)
    return directory


def _settings(**overrides):
    from bsg_analytics.settings import SettingsError, load_settings

    try:
        return load_settings(**overrides)
    except SettingsError as exc:
        raise fail(str(exc), 2) from None


@app.command()
def demo(
    data_dir: DataDirOpt = None,
    messages: Annotated[int, typer.Option(help="messages the simulator holds")] = 20_000,
    seed: Annotated[int, typer.Option(help="simulator seed")] = 7,
) -> None:
    """Run the whole pipeline through Prefect against the built-in simulator; no account needed."""
    from bsg_analytics.demo import run_demo

    run_demo(data_dir=data_dir or "./data", messages=messages, seed=seed)


@app.command()
def sync(
    since: Annotated[
        str | None,
        typer.Option(
            help="first day to read, YYYY-MM-DD in the account's time zone; default: from "
            "the saved state (90 days back on a new data directory)"
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(help="day to stop before, YYYY-MM-DD (exclusive); default: now"),
    ] = None,
    data_dir: DataDirOpt = None,
    api_url: Annotated[
        str | None, typer.Option(help=_env("base URL of the One API", "BSG_API_URL"))
    ] = None,
    rest_url: Annotated[
        str | None, typer.Option(help=_env("base URL of the legacy REST API", "BSG_REST_URL"))
    ] = None,
    timezone: Annotated[
        str | None,
        typer.Option(help=_env("the account's time zone, e.g. Europe/Kyiv", "BSG_TIMEZONE")),
    ] = None,
    concurrency: Annotated[
        int | None, typer.Option(help=_env("requests in flight at most", "BSG_CONCURRENCY"))
    ] = None,
    window_days: Annotated[
        int | None,
        typer.Option(help=_env("days per window of /api/messages", "BSG_WINDOW_DAYS")),
    ] = None,
    lookback_hours: Annotated[
        int | None,
        typer.Option(
            help=_env(
                "hours an incremental run re-reads behind the watermark", "BSG_LOOKBACK_HOURS"
            )
        ),
    ] = None,
    lookback: Annotated[
        str | None,
        typer.Option(
            help=_env(
                "adaptive (re-read what can still change) or fixed (the whole look-back)",
                "BSG_LOOKBACK",
            )
        ),
    ] = None,
    orchestrator: Annotated[
        str | None,
        typer.Option(
            help=_env(
                "auto (a Prefect flow when a Prefect server is configured), prefect or plain",
                "BSG_ORCHESTRATOR",
            )
        ),
    ] = None,
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
    full_refresh: Annotated[
        bool,
        typer.Option(
            "--full-refresh",
            help="set the saved state aside (as `reset` does) and read from the start again; "
            "raw pages and tables are kept",
        ),
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="print the plan of this sync and stop; calls no API"),
    ] = False,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="print the run's report as JSON instead of the summary"),
    ] = False,
    log_level: Annotated[
        str | None,
        typer.Option(help="show the log on stderr from this level: debug, info, warning, error"),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="--log-level info")] = False,
) -> None:
    """Extract from the BSG API, transform, load, and build the warehouse. An interrupted
    sync is continued by the next one asked the same."""
    try:
        _sync(
            since, until, data_dir, api_url, rest_url, timezone, concurrency, window_days,
            lookback_hours, lookback, orchestrator, progress, full_refresh, dry_run, as_json,
            log_level, verbose,
        )  # fmt: skip
    except KeyboardInterrupt:  # before the run installed its own handler, or after it
        raise fail(INTERRUPTED_LINE, 130) from None


def _sync(
    since, until, data_dir, api_url, rest_url, timezone, concurrency, window_days,
    lookback_hours, lookback, orchestrator, progress, full_refresh, dry_run, as_json,
    log_level, verbose,
) -> None:  # fmt: skip
    settings = _settings(
        orchestrator=orchestrator,
        data_dir=data_dir,
        api_url=api_url,
        rest_url=rest_url,
        timezone=timezone,
        concurrency=concurrency,
        window_days=window_days,
        lookback_hours=lookback_hours,
        lookback=lookback,
    )
    since_d = _parse_day(since, "--since")
    until_d = _parse_day(until, "--until")
    from bsg_analytics.flows.run import run_sync_command

    code = run_sync_command(
        settings,
        since=since_d,
        until=until_d,
        progress=progress,
        full_refresh=full_refresh,
        dry_run=dry_run,
        as_json=as_json,
        log_level=log_level or ("info" if verbose else None),
    )
    raise typer.Exit(code)


@app.command()
def status(
    data_dir: DataDirOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the status as JSON")] = False,
) -> None:
    """The last sync, the watermark, an unfinished run, rows per table, quarantine counts,
    and what the next `sync` will do. Reads only; calls no API."""
    settings = _settings(data_dir=data_dir)
    from bsg_analytics.status import run_status_command

    raise typer.Exit(run_status_command(settings, as_json, data_dir=_data_dir(settings)))


@app.command()
def reset(
    data_dir: DataDirOpt = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask")] = False,
) -> None:
    """Set the sync state aside (under D/state/aside-TIME/) so the next sync reads from the
    start again. Raw pages and tables are kept; nothing is deleted."""
    settings = _settings(data_dir=data_dir)
    if not yes and sys.stdin.isatty():
        typer.confirm("Set the sync state aside? The next sync reads from the start", abort=True)
    from bsg_analytics.status import run_reset_command

    raise typer.Exit(run_reset_command(settings, data_dir=_data_dir(settings)))


@app.command(context_settings={"allow_extra_args": False})
def simulate(
    port: Annotated[int, typer.Option(help="loopback port; 0 picks a free one")] = 8799,
    host: Annotated[str, typer.Option(help="bind address (loopback only)")] = "127.0.0.1",
    messages: Annotated[int, typer.Option(help="messages to generate")] = 20_000,
    seed: Annotated[int, typer.Option()] = 7,
    days: Annotated[int, typer.Option(help="days of history")] = 183,
    timezone: Annotated[str, typer.Option(help="the account's time zone")] = "UTC",
    token: Annotated[str | None, typer.Option(help="the one bearer token accepted")] = None,
    api_key: Annotated[str | None, typer.Option(help="the one X-API-KEY accepted")] = None,
    live: Annotated[
        bool,
        typer.Option(
            "--live/--frozen",
            help="live: the clock runs from the real now, statuses advance; "
            "frozen: the clock stays at the start (windows past it are refused)",
        ),
    ] = True,
    speed: Annotated[
        float | None,
        typer.Option(help="simulated seconds per real second (a live clock); default 1"),
    ] = None,
    fault_rate: Annotated[float, typer.Option(help="share of requests that fail")] = 0.0,
    latency_ms: Annotated[float, typer.Option(help="added latency per request")] = 0.0,
    rate_limit: Annotated[float, typer.Option(help="requests per second before 429s")] = 0.0,
    quirk: Annotated[
        list[str] | None,
        typer.Option(help="NAME=VARIANT, repeatable; `--quirk list` shows them"),
    ] = None,
    collapses: Annotated[
        int, typer.Option(help="operator delivery collapses planted in the data; 0: clean data")
    ] = 3,
    export_ready_seconds: Annotated[
        float, typer.Option(help="wall-clock seconds until a statistics export job is ready")
    ] = 1.0,
    behind_hours: Annotated[
        float,
        typer.Option(
            help="start the clock this many hours before now; with --speed above 1 it catches "
            "up (--behind-hours 1 --speed 61: an hour of traffic in a minute)"
        ),
    ] = 0.0,
) -> None:
    """Run the simulator of the BSG API alone; it prints the lines that point `sync` at it."""
    from bsg_simulator.server import main as simulator_main

    code = simulator_main(
        host=host,
        port=port,
        messages=messages,
        seed=seed,
        days=days,
        timezone=timezone,
        token=token,
        api_key=api_key,
        live=live,
        speed=speed,
        fault_rate=fault_rate,
        latency_ms=latency_ms,
        rate_limit=rate_limit,
        quirks=quirk or [],
        collapses=collapses,
        export_ready_seconds=export_ready_seconds,
        behind_hours=behind_hours,
    )
    raise typer.Exit(code or 0)


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help="SQL to run on the warehouse")],
    data_dir: DataDirOpt = None,
    format: Annotated[str, typer.Option("--format", "-f", help="table, csv or json")] = "table",
    max_rows: Annotated[
        int | None,
        typer.Option(help="rows to print at most; 0: all (default: 100 as a table, all else)"),
    ] = None,
) -> None:
    """Run a query on the warehouse and print the result (`views` lists what there is)."""
    settings = _settings(data_dir=data_dir)
    directory = _synced(settings)
    from bsg_analytics.warehouse import run_sql_command

    raise typer.Exit(
        run_sql_command(settings, query, format, data_dir=directory, max_rows=max_rows)
    )


@app.command()
def views() -> None:
    """List the tables and views `sql` can query, each with what one row is."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table as RichTable

    from bsg_analytics.schemas.tables import TABLES
    from bsg_analytics.warehouse import view_definitions

    out = RichTable(show_lines=False, box=None, padding=(0, 2, 0, 0))
    out.add_column("name", no_wrap=True, style="bold")
    out.add_column("kind", no_wrap=True)
    out.add_column("one row is", overflow="fold")
    for name, table in TABLES.items():
        out.add_row(escape(name), "table", escape(table.description))
    for name, text in view_definitions().items():
        out.add_row(escape(name), "view", escape(text.removeprefix("one row ").strip()))
    Console().print(out)


@app.command()
def alerts(
    since: Annotated[
        str | None,
        typer.Option(help="YYYY-MM-DD; default: the last BSG_ALERT_OPEN_DAYS UTC days"),
    ] = None,
    format: Annotated[str, typer.Option("--format", "-f", help="table or json")] = "table",
    data_dir: DataDirOpt = None,
) -> None:
    """Print the open anomalies (delivery drops, campaigns over their estimate, a short
    runway); exit 0 when none is open, 1 when any is, 2 when it cannot tell."""
    settings = _settings(data_dir=data_dir)
    since_d = _parse_day(since, "--since")
    from bsg_analytics.alerts import run_alerts_command

    raise typer.Exit(run_alerts_command(settings, since_d, format, data_dir=_data_dir(settings)))


@app.command()
def report(
    data_dir: DataDirOpt = None,
    output: Annotated[Path | None, typer.Option("--output", "-o")] = None,
) -> None:
    """Write a self-contained HTML report with charts of the metrics."""
    settings = _settings(data_dir=data_dir)
    directory = _synced(settings)
    from bsg_analytics.report import run_report_command

    raise typer.Exit(run_report_command(settings, output, data_dir=directory))


@app.command()
def rebuild(
    data_dir: DataDirOpt = None,
    timezone: Annotated[str | None, typer.Option()] = None,
    skip_unreadable: Annotated[
        bool,
        typer.Option(
            "--skip-unreadable",
            help="rebuild even when raw pages cannot be read: they go to quarantine, and rows "
            "only they held are lost (without it such a rebuild leaves the tables as they were)",
        ),
    ] = False,
):
    """Re-derive every table from D/raw/ without calling the API; the tables are swapped in
    only when the rebuild succeeded."""
    settings = _settings(data_dir=data_dir, timezone=timezone)
    from bsg_analytics.rebuild import run_rebuild_command

    raise typer.Exit(
        run_rebuild_command(settings, skip_unreadable=skip_unreadable, data_dir=_data_dir(settings))
    )


@app.command()
def lookup(
    sms_id: Annotated[
        list[str] | None,
        typer.Option("--id", metavar="N[,N...]", help="SMS id; repeatable or a comma list"),
    ] = None,
    reference: Annotated[
        list[str] | None,
        typer.Option(metavar="REF", help="SMS reference (external id); repeatable"),
    ] = None,
    task: Annotated[
        list[str] | None,
        typer.Option(metavar="T[,T...]", help="bulk task id; repeatable or a comma list"),
    ] = None,
    viber_id: Annotated[
        list[str] | None,
        typer.Option(metavar="V[,V...]", help="Viber message id; repeatable or a comma list"),
    ] = None,
    viber_reference: Annotated[
        list[str] | None,
        typer.Option(metavar="REF", help="Viber message reference; repeatable"),
    ] = None,
    ids_from: Annotated[
        str | None,
        typer.Option(
            metavar="FILE", help="SMS ids, one a line (`#` comments, blank lines; - for stdin)"
        ),
    ] = None,
    data_dir: DataDirOpt = None,
    rest_url: Annotated[
        str | None, typer.Option(help="legacy REST base URL (env BSG_REST_URL)")
    ] = None,
    timezone: Annotated[
        str | None, typer.Option(help="the account's time zone (env BSG_TIMEZONE)")
    ] = None,
) -> None:
    """Look SMS (by id, through getStatus, 100 a call; by reference), bulk tasks and Viber
    messages up on the legacy REST API (key: BSG_API_KEY); write legacy_sms, legacy_tasks and
    legacy_viber and rebuild the warehouse. Prints one summary line."""
    asked: dict[str, list[Any]] = {
        "sms_ids": _lookup_ids(sms_id, "--id", "an SMS id"),
        "references": _lookup_texts(reference, "--reference"),
        "task_ids": _lookup_ids(task, "--task", "a task id"),
        "viber_ids": _lookup_ids(viber_id, "--viber-id", "a Viber id"),
        "viber_references": _lookup_texts(viber_reference, "--viber-reference"),
    }
    if ids_from is not None:
        asked["sms_ids"] += _ids_from_file(ids_from)
    if not any(asked.values()):
        flags = "--id, --reference, --task, --viber-id, --viber-reference or --ids-from"
        raise fail(f"lookup needs something to look up: give {flags}", 2)
    settings = _settings(data_dir=data_dir, rest_url=rest_url, timezone=timezone)
    if not settings.credentials().rest_api_key:
        raise fail("BSG_API_KEY is not set: the legacy REST lookups need its key", 2)
    directory = _data_dir(settings)
    from bsg_analytics.flows.run import describe_failure
    from bsg_analytics.pipeline import run_legacy
    from bsg_analytics.warehouse import build_warehouse
    from bsg_client.errors import Scrubber

    scrubber = Scrubber(settings.secrets())
    try:
        report = run_legacy(
            settings,
            **asked,
            finish=partial(build_warehouse, settings=settings),
            data_dir=directory,
        )
    except KeyboardInterrupt:
        raise fail("interrupted; what landed is kept in raw: run the lookup again", 130) from None
    except Exception as exc:
        code, line = describe_failure(exc)
        raise fail(scrubber.scrub(line), code) from None
    typer.echo(report.summary_line())
    for kind, key, error, words in report.errors:
        said = f"error {error}" if error is not None else "no answer"
        typer.echo(f"bsg-analytics: note: {kind} {key}: {said}, {scrubber.scrub(words)}", err=True)
    for line in report.notices:
        typer.echo(f"bsg-analytics: note: {scrubber.scrub(line)}", err=True)
    raise typer.Exit(0)


def _lookup_ids(values: list[str] | None, flag: str, what: str) -> list[int]:
    """Ids from repeated or comma-separated flags; a bad one is one line and exit 2."""
    out: list[int] = []
    for value in values or ():
        for part in value.split(","):
            out.append(_one_id(part, f"{flag} {part.strip()!r}", what))
    return out


def _one_id(text: str, where: str, what: str) -> int:
    text = text.strip()
    if not (text.isascii() and text.isdigit() and int(text) >= 1):
        raise fail(f"{where} is not {what} (a whole number >= 1)", 2)
    return int(text)


def _lookup_texts(values: list[str] | None, flag: str) -> list[str]:
    out = [v.strip() for v in values or ()]
    if any(not v for v in out):
        raise fail(f"{flag} was given an empty value", 2)
    return out


def _ids_from_file(path: str) -> list[int]:
    """SMS ids, one a line (commas allowed too); blank lines and `#` comments skipped."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise fail(f"--ids-from {path}: cannot be read ({reason})", 2) from None
    out: list[int] = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        for part in filter(None, (p.strip() for p in line.split(","))):
            out.append(_one_id(part, f"--ids-from {path} line {n}: {part!r}", "an SMS id"))
    return out


@app.command()
def serve(
    cron: Annotated[
        str | None,
        typer.Option(help="schedule of the incremental sync (default: hourly, 0 * * * *)"),
    ] = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Serve the sync flow on a cron schedule from this machine (Prefect `flow.serve`)."""
    settings = _settings(data_dir=data_dir)
    from bsg_analytics.flows.deploy import serve_flows
    from bsg_analytics.settings import SYNC_CRON

    serve_flows(settings, cron=cron or SYNC_CRON)


def _parse_day(value: str | None, flag: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise fail(f"{flag} must be YYYY-MM-DD, got {value!r}", 2) from None
