"""Prefect flows: incremental sync, backfill, legacy lookups.

Each flow is a thin wrapper over `bsg_analytics.pipeline`: the flow resolves settings from the
environment (flow parameters never carry secrets: Prefect stores them), picks a task runner,
and hands `run_sync` a mapper that submits one Prefect task per window. Window tasks retry on
their own; the pipeline's single writer stays in the flow's thread.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from functools import partial
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import as_completed
from prefect.tasks import exponential_backoff

from bsg_analytics.pipeline import JobContext, JobOutcome, Progress, run_sync
from bsg_analytics.settings import MissingExtra, Settings, load_settings
from bsg_analytics.streams import Job
from bsg_analytics.warehouse import build_warehouse

# Settings a flow run may override: plain values only, never secrets.
OVERRIDABLE = frozenset(
    {
        "api_url",
        "rest_url",
        "timezone",
        "data_dir",
        "page_limit",
        "window_days",
        "lookback_hours",
        "lookback",
        "full_lookback_every_hours",
        "concurrency",
        "task_runner",
    }
)


def settings_from(overrides: dict[str, Any] | None) -> Settings:
    unknown = set(overrides or {}) - OVERRIDABLE
    if unknown:
        raise ValueError(f"these settings cannot be flow parameters: {sorted(unknown)}")
    return load_settings(**(overrides or {}))


def task_runner_for(settings: Settings):
    """Prefect's thread pool by default; a Dask cluster when `BSG_TASK_RUNNER` says so:
    `dask` starts a local cluster, anything else is a scheduler address."""
    from prefect.task_runners import ThreadPoolTaskRunner

    choice = settings.task_runner.strip()
    if choice in ("", "threads"):
        return ThreadPoolTaskRunner(max_workers=settings.concurrency)
    try:
        from prefect_dask import DaskTaskRunner
    except ImportError:
        raise MissingExtra(f"BSG_TASK_RUNNER={choice}", "dask", "prefect-dask") from None

    if choice == "dask":
        return DaskTaskRunner(cluster_kwargs={"n_workers": 2, "threads_per_worker": 4})
    return DaskTaskRunner(address=choice)


@task(
    name="extract-window",
    retries=2,
    retry_delay_seconds=exponential_backoff(backoff_factor=2),
    retry_jitter_factor=0.5,
    cache_policy=NO_CACHE,
    task_run_name="{job.key}",
)
def extract_window(context: JobContext, job: Job) -> JobOutcome:
    return context.run(job)


def prefect_mapper(context: JobContext, jobs: list[Job]) -> Iterator[JobOutcome]:
    """One Prefect task per job, on the flow's task runner; outcomes as they complete."""
    futures = [extract_window.submit(context, job) for job in jobs]
    for future in as_completed(futures):
        yield future.result()


class LogProgress(Progress):
    """Progress as log lines in the flow run: windows done of total, rows, rate."""

    def __init__(self, inner: Progress | None = None):
        self.logger = get_run_logger()
        self.inner = inner
        self.total = self.done = self.rows = 0

    def start(self, total: int, resumed: int) -> None:
        self.total, self.done = total, resumed
        self.logger.info("%d windows in the plan, %d done by an earlier run", total, resumed)
        if self.inner:
            self.inner.start(total, resumed)

    def advance(self, outcome: JobOutcome, rows: int) -> None:
        self.done += 1
        self.rows += rows
        rate = rows / outcome.seconds if outcome.seconds else 0.0
        self.logger.info(
            "window %d/%d %s: %d rows in %.2fs (%.0f rows/s)",
            self.done,
            self.total,
            outcome.job.key,
            rows,
            outcome.seconds,
            rate,
        )
        if self.inner:
            self.inner.advance(outcome, rows)

    def message(self, text: str) -> None:
        self.logger.info(text)
        if self.inner:
            self.inner.message(text)

    def stage(self, name: str) -> None:
        self.logger.info("stage: %s", name)
        if self.inner:
            self.inner.stage(name)

    def retries(self, count: int, waited: float) -> None:
        if self.inner:
            self.inner.retries(count, waited)


# A progress display of the calling process (the CLI's bar); never a flow parameter.
_DISPLAY: Progress | None = None


def _sync(
    since: date | None,
    until: date | None,
    overrides: dict[str, Any] | None,
    full_refresh: bool = False,
) -> dict:
    settings = settings_from(overrides)
    report = run_sync(
        settings,
        since,
        until,
        mapper=prefect_mapper,
        progress=LogProgress(_DISPLAY),
        full_refresh=full_refresh,
        finish=partial(build_warehouse, settings=settings),
    )
    for line in report.notices:
        get_run_logger().warning("%s", line)
    get_run_logger().info(
        "rows written %s; %d records quarantined; %.1f s; %.0f messages/s",
        report.rows,
        report.quarantined,
        report.seconds,
        report.messages_per_second,
    )
    return report.as_dict()


@flow(name="bsg-sync")
def sync_flow(
    since: date | None = None,
    until: date | None = None,
    overrides: dict[str, Any] | None = None,
    full_refresh: bool = False,
) -> dict:
    """Incremental sync (no `since`: continue from the saved state, re-reading the look-back
    window in which statuses still change), or a backfill from `since`. An interrupted run
    asked the same is continued; `full_refresh` sets the state aside first."""
    return _sync(since, until, overrides, full_refresh)


def run_flow(
    since=None, until=None, overrides: dict[str, Any] | None = None, full_refresh: bool = False
) -> dict:
    """Run `sync_flow` with the task runner the settings choose (threads or Dask)."""
    runner = task_runner_for(settings_from(overrides))
    return sync_flow.with_options(task_runner=runner)(
        since=since, until=until, overrides=overrides, full_refresh=full_refresh
    )
