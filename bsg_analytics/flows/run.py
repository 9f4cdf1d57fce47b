"""Running the flows from the command line: Prefect's environment first, then a progress bar,
and every failure turned into one line (secrets scrubbed) and an exit code.

Exit codes: 0 done; 1 the API kept failing or refused a request; 2 bad settings or
credentials missing; 3 credentials refused; 4 another sync holds the data directory.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from functools import partial
from typing import ClassVar

from bsg_analytics import INTERRUPTED_LINE, settle, status
from bsg_analytics.locking import SyncLocked
from bsg_analytics.pipeline import Progress, run_sync
from bsg_analytics.settings import Settings, SettingsError
from bsg_analytics.state import StateError
from bsg_analytics.storage import DataDir
from bsg_analytics.warehouse import build_warehouse
from bsg_client.errors import BSGAPIError, BSGAuthError, Scrubber


def prepare_prefect_env(verbose: bool = False) -> None:
    """Quiet, offline-friendly Prefect defaults, set before Prefect is imported. Retries are
    expected and counted (the client's `stats`); one warning line per retry is noise on a
    terminal, so stamina's logger only speaks up on errors unless asked to be verbose."""
    import logging

    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    # On a fresh PREFECT_HOME the temporary server first migrates its database: 20 s or more
    # on two busy cores, which is Prefect's whole default wait (the first `demo` failed so).
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    if not verbose:
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
        logging.getLogger("stamina").setLevel(logging.ERROR)


# `sync --log-level` names; `-v` is info
LOG_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
              "error": logging.ERROR}  # fmt: skip


@contextmanager
def shown_log(level: int | None) -> Iterator[None]:
    """While inside: the pipeline's and the client's log records at `level` and above, one
    line each on stderr (their texts are scrubbed of secrets where they are made); None
    shows nothing. The loggers are left as they were."""
    if level is None:
        yield
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    loggers = [logging.getLogger(name) for name in ("bsg_analytics", "bsg_client")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(level)
        logger.addHandler(handler)
    try:
        yield
    finally:
        for logger, before in zip(loggers, levels, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(before)


@contextmanager
def no_heartbeat():
    """A local run needs no heartbeat thread; it adds ~1 s to every flow (Prefect 3.9)."""
    if os.environ.get("PREFECT_API_URL"):
        yield
        return
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield


@contextmanager
def stop_on_ctrl_c(enabled: bool = True) -> Iterator[threading.Event]:
    """While inside: the first Ctrl-C (SIGINT) sets the event it yields, which the sync
    checks between jobs and before it finishes (`pipeline.check_stop`) and then ends as
    interrupted; a second one raises KeyboardInterrupt at once.

    Why a flag and not Python's KeyboardInterrupt raised wherever the main thread is: one
    raised inside a finaliser or a callback from native code is swallowed or wrapped (seen
    as a Ctrl-C ignored, the sync running on to exit 0, or an exit 1), and polars keeps a
    SIGINT handler of its own that raises a KeyboardInterrupt from the polars call running
    in any thread, on top of Python's (seen as a second one inside the first one's handler,
    exit -2 with a traceback). Not `enabled` (a Prefect flow run: Prefect handles Ctrl-C),
    or off the main thread (no handler can be set there), it yields an event nobody sets."""
    stop = threading.Event()
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def on_sigint(signum, frame) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield stop
    finally:
        if signal.getsignal(signal.SIGINT) is on_sigint:  # not once the command `settle`d
            signal.signal(signal.SIGINT, previous)


def check_range(since: date | None, until: date | None, today: date) -> str | None:
    """Why `--since`/`--until` cannot be synced, or None."""
    if since is not None and since > today:
        return f"--since {since} is in the future (today is {today}); nothing could be read"
    if since is not None and until is not None and until <= since:
        return f"--until {until} is not after --since {since}; the range is empty"
    return None


def run_sync_command(
    settings: Settings,
    since: date | None = None,
    until: date | None = None,
    progress=True,
    *,
    full_refresh: bool = False,
    dry_run: bool = False,
    as_json: bool = False,
    log_level: str | None = None,
) -> int:
    """`bsg-analytics sync`: the exit code; the summary line (or with `as_json` the run's
    report as JSON) on stdout, notes and errors one line each on stderr. `log_level` (a
    `LOG_LEVELS` name) shows the pipeline's and the client's log on stderr."""
    level = None if log_level is None else LOG_LEVELS.get(log_level.lower())
    if log_level is not None and level is None:
        print(
            f"bsg-analytics: --log-level must be one of {', '.join(LOG_LEVELS)}, got {log_level!r}",
            file=sys.stderr,
        )
        return 2
    with shown_log(level):
        return _sync_command(settings, since, until, progress, full_refresh, dry_run, as_json,
                             log_level is not None)  # fmt: skip


def _sync_command(settings, since, until, progress, full_refresh, dry_run, as_json, verbose) -> int:
    today = datetime.now(settings.zone).date()
    problem = check_range(since, until, today)
    if problem:
        print(f"bsg-analytics: {problem}", file=sys.stderr)
        return 2
    if dry_run:
        return print_plan(settings, since, until, full_refresh)
    creds = settings.credentials()
    if not (creds.api_token or creds.api_login_key):
        print(
            "bsg-analytics: BSG_API_TOKEN (or BSG_API_LOGIN_KEY) is not set; "
            "`bsg-analytics demo` runs against the built-in simulator instead",
            file=sys.stderr,
        )
        return 2
    try:
        data_dir = DataDir(settings.data_dir)
    except SettingsError as exc:
        print(f"bsg-analytics: {exc}", file=sys.stderr)
        return 2
    prepare_prefect_env(verbose=verbose)
    # on the plain path Ctrl-C is a flag until the command has said how it ended (after the
    # run too: one pressed as the summary is printed must not end it with a traceback)
    try:
        plain = not uses_prefect(settings)
    except Exception as exc:  # a Prefect configuration it cannot read
        code, line = describe_failure(exc)
        print(f"bsg-analytics: {Scrubber(settings.secrets()).scrub(line)}", file=sys.stderr)
        return code
    with stop_on_ctrl_c(enabled=plain) as stop:
        code = _run_and_report(
            settings, since, until, progress, full_refresh, data_dir, stop, as_json
        )
        settle()  # said how it ended: a Ctrl-C from here on changes nothing
    return code


def _run_and_report(
    settings, since, until, progress, full_refresh, data_dir, stop, as_json=False
) -> int:
    scrubber = Scrubber(settings.secrets())
    started = time.perf_counter()
    try:
        report = run_with_display(settings, since, until, progress, full_refresh, data_dir, stop)
        # the command's own time (a flow adds Prefect's start, a temporary server's too)
        report["command_seconds"] = round(time.perf_counter() - started, 3)
    except KeyboardInterrupt:
        print(f"bsg-analytics: {INTERRUPTED_LINE}", file=sys.stderr)
        return 130
    except StateError as exc:
        print(f"bsg-analytics: {scrubber.scrub(exc)}", file=sys.stderr)
        return 2
    except BaseException as exc:
        if stop is not None and stop.is_set():  # what failed after Ctrl-C failed because of it
            print(f"bsg-analytics: {INTERRUPTED_LINE}", file=sys.stderr)
            return 130
        code, line = describe_failure(exc)
        print(f"bsg-analytics: {scrubber.scrub(line)}", file=sys.stderr)
        return code
    if as_json:
        print(json.dumps(report, default=str, ensure_ascii=False))
    else:
        print(summary_line(report))
    for line in report.get("notices", ()):
        print(f"bsg-analytics: note: {scrubber.scrub(line)}", file=sys.stderr)
    return 0


def print_plan(settings: Settings, since, until, full_refresh: bool) -> int:
    """`sync --dry-run`: the plan the next sync would follow; reads state, writes nothing."""
    info = status.describe(settings, since, until, fresh=full_refresh)
    if info.get("state_error") and not full_refresh:
        print(f"bsg-analytics: {info['state_error']}", file=sys.stderr)
        return 2
    print("\n".join(status.render_plan(info)))
    for w in info["next_sync"]["windows"]:
        mark = "written" if w["done"] else "to read"
        print(f"  messages {w['start']} .. {w['end']}  {mark}")
    return 0


def _rows_part(table: str, n: int, new: int | None) -> str:
    """A table's rows in the summary: written, and of those how many are keys new to it."""
    if new is None:
        return f"{table} {n}"
    return f"{table} {n} ({'all' if new == n else new} new)"


def summary_line(report: dict) -> str:
    """The one line a sync ends with: its range, rows per table (with the keys new to each
    table), quarantine, speed, and how it ran."""
    new = report.get("rows_new", {})
    rows = ", ".join(
        _rows_part(k, v, new.get(k)) for k, v in sorted(report.get("rows", {}).items()) if v
    )
    span = ""
    if report.get("since") and report.get("until"):
        a = datetime.fromisoformat(report["since"]).astimezone(UTC)
        b = datetime.fromisoformat(report["until"]).astimezone(UTC)
        span = f" {a:%Y-%m-%d %H:%M} .. {b:%Y-%m-%d %H:%M} UTC"
    extra = ""
    if report.get("took_over"):
        extra += f"; continued run {report['took_over']}"
    if report.get("rereads"):
        extra += f"; {report['rereads']} windows read again (served short)"
    open_messages = f"{report.get('open_messages', 0):,} messages can still change"
    if report.get("lookback") == "adaptive":
        extra += f"; adaptive look-back, {open_messages}"
    elif report.get("lookback") == "full" and report.get("basis") == "watermark":
        extra += f"; full look-back, {open_messages}"
    took = f"{report.get('seconds', 0):.1f}s"
    whole = report.get("command_seconds")
    if whole is not None and whole - report.get("seconds", 0) >= 1:
        took = f"{whole:.1f}s (the sync itself {report.get('seconds', 0):.1f}s)"
    return (
        f"synced{span} in {took}: {rows or 'no rows'}; "
        f"{report.get('quarantined', 0)} quarantined; "
        f"{report.get('messages_per_second', 0):.0f} messages/s{extra}"
    )


def describe_failure(exc: BaseException) -> tuple[int, str]:
    if isinstance(exc, SettingsError):
        return 2, str(exc)
    if isinstance(exc, SyncLocked):
        return 4, str(exc)
    if isinstance(exc, BSGAuthError):
        return 3, str(exc)
    if isinstance(exc, BSGAPIError):
        return 1, str(exc)
    if isinstance(exc, PermissionError):
        return 2, str(exc)
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return 1, f"{type(exc).__name__}: {first}"


def uses_prefect(settings: Settings) -> bool:
    """Whether `sync` runs as a Prefect flow (see `Settings.orchestrator`)."""
    if settings.orchestrator != "auto":
        return settings.orchestrator == "prefect"
    if settings.task_runner.strip() not in ("", "threads"):
        return True  # Dask is a Prefect task runner
    if os.environ.get("PREFECT_API_URL"):
        return True
    if "prefect" not in sys.modules and not _prefect_config_present():
        return False  # nothing could name a server: spare the ~2 s import of prefect
    from prefect.settings import get_current_settings  # the exact answer, from every source

    return bool(get_current_settings().api.url)


def _prefect_config_present() -> bool:
    """Whether any of Prefect's settings sources other than the environment exists and may
    name an API URL: the profiles file, `prefect.toml`, `[tool.prefect]` in `pyproject.toml`,
    a `.env` mentioning it. Conservative: a hit only means "ask Prefect"."""
    from pathlib import Path

    home = Path(os.environ.get("PREFECT_HOME", "~/.prefect")).expanduser()
    profiles = Path(os.environ.get("PREFECT_PROFILES_PATH", home / "profiles.toml")).expanduser()
    needles = {
        profiles: "PREFECT_API_URL",
        Path("prefect.toml"): "",
        Path("pyproject.toml"): "tool.prefect",
        Path(".env"): "PREFECT_API_URL",
    }
    for path, needle in needles.items():
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        if needle in text:
            return True
    return False


def run_with_display(
    settings: Settings,
    since: date | None,
    until: date | None,
    progress: bool,
    full_refresh: bool = False,
    data_dir: DataDir | None = None,
    stop: threading.Event | None = None,
) -> dict:
    """The sync, as plain functions or as the Prefect flow (`uses_prefect`); its report.
    `stop` (`stop_on_ctrl_c`) ends the plain path at its next check; a flow run is left to
    Prefect's own handling of Ctrl-C."""
    display = RichProgress() if progress and sys.stderr.isatty() else None
    data_dir = data_dir or DataDir(settings.data_dir)
    if not uses_prefect(settings):
        with display or _null():
            report = run_sync(
                settings, since, until, progress=display, full_refresh=full_refresh,
                finish=partial(build_warehouse, settings=settings), data_dir=data_dir,
                stop=stop,
            )  # fmt: skip
            return report.as_dict()
    # before Prefect starts: a data directory that cannot be written fails at once (the
    # plain path's run_sync checks it itself)
    data_dir.check_writable()

    # imported here, not at the top: a sync without Prefect never pays for importing it
    from bsg_analytics.flows import sync as sync_module

    overrides = {
        k: getattr(settings, k)
        for k in sync_module.OVERRIDABLE
        if k in settings.model_fields_set or k == "data_dir"
    }
    sync_module._DISPLAY = display
    try:
        with no_heartbeat(), display or _null():
            return sync_module.run_flow(
                since=since, until=until, overrides=overrides, full_refresh=full_refresh
            )
    finally:
        sync_module._DISPLAY = None


@contextmanager
def _null():
    yield


class RichProgress(Progress):
    """A progress bar on stderr: the stage, jobs done of total (windows, campaign details,
    exports), rows written and their rate, retries and their waits, time left and elapsed."""

    STAGE_TEXT: ClassVar[dict[str, str]] = {
        "extract": "reading the API",
        "write": "writing the last windows",
        "warehouse": "building the warehouse",
    }

    def __init__(self, console=None):
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.bar = Progress(
            TextColumn("[bold]sync[/] {task.fields[stage]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn(
                "jobs · {task.fields[rows]} rows ({task.fields[rate]}/s){task.fields[retried]}"
            ),
            TextColumn("· left"),
            TimeRemainingColumn(),
            TextColumn("· elapsed"),
            TimeElapsedColumn(),
            transient=False,
            console=console,
        )
        self.task = None
        self.rows = 0
        self.started = time.perf_counter()

    def __enter__(self):
        self.bar.__enter__()
        return self

    def __exit__(self, *exc):
        return self.bar.__exit__(*exc)

    def start(self, total: int, resumed: int) -> None:
        self.started = time.perf_counter()
        self.task = self.bar.add_task(
            "sync", total=total, completed=resumed, rows="0", rate="0", retried="",
            stage=self.STAGE_TEXT["extract"],
        )  # fmt: skip

    def advance(self, outcome, rows: int) -> None:
        self.rows += rows
        if self.task is not None:
            rate = self.rows / max(time.perf_counter() - self.started, 1e-9)
            self.bar.update(self.task, advance=1, rows=f"{self.rows:,}", rate=f"{rate:,.0f}")

    def stage(self, name: str) -> None:
        if self.task is not None:
            self.bar.update(self.task, stage=self.STAGE_TEXT.get(name, name))

    def retries(self, count: int, waited: float) -> None:
        if self.task is not None and count:
            self.bar.update(self.task, retried=f" · {count} retried, {waited:.0f} s waited")

    def message(self, text: str) -> None:
        self.bar.console.log(text)
