"""The sync, as plain functions: plan -> extract (parallel) -> transform -> write -> warehouse.

Prefect is not imported here. `run_sync` takes a `mapper`: something that runs a function over
jobs and yields results as they complete. The default mapper is a thread pool; the Prefect flow
passes one that submits Prefect tasks (threads or Dask). Extraction runs in parallel; writing
happens in the caller's thread, one window at a time, so there is exactly one writer, and a
window is checkpointed only after its tables are written (state never ahead of the data).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from datetime import time as dtime

from bsg_analytics.raw import RawPage, RawStore, new_run_id
from bsg_analytics.settings import Settings
from bsg_analytics.storage import DataDir

log = logging.getLogger("bsg_analytics.sync")

CAMPAIGN_TYPES = ("sms", "rcs")
DETAIL_CHUNK = 25  # campaign details per job


@dataclass(frozen=True)
class Job:
    """One unit of extraction: a window of messages, a window of campaigns, or details."""

    kind: str  # "messages" | "campaigns" | "details" | "legacy"
    key: str
    window: object | None = None
    campaign_type: str | None = None
    ids: tuple[int, ...] = ()


@dataclass
class JobOutcome:
    job: Job
    result: object
    pages: list[str]
    seconds: float


def _transform_report():
    from transforms.common import TransformReport

    return TransformReport()


@dataclass
class SyncReport:
    run_id: str
    windows_total: int = 0
    windows_done: int = 0
    windows_skipped: int = 0
    rows: dict[str, int] = field(default_factory=dict)  # rows written, per table
    campaigns_detailed: int = 0
    seconds: float = 0.0
    transform: object = field(default_factory=_transform_report)  # TransformReport, merged

    @property
    def records_in(self) -> int:
        return self.transform.totals.records_in

    @property
    def quarantined(self) -> int:
        return self.transform.totals.quarantined

    @property
    def duplicates(self) -> int:
        return self.transform.totals.duplicates

    @property
    def messages_per_second(self) -> float:
        return self.rows.get("messages", 0) / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict:
        return {
            "run_id": self.run_id,
            "windows_total": self.windows_total,
            "windows_done": self.windows_done,
            "windows_skipped": self.windows_skipped,
            "rows": dict(self.rows),
            "records_in": self.records_in,
            "quarantined": self.quarantined,
            "duplicates": self.duplicates,
            "campaigns_detailed": self.campaigns_detailed,
            "seconds": round(self.seconds, 3),
            "messages_per_second": round(self.messages_per_second, 1),
            "unknown_fields": self.transform.unknown_fields,
            "unknown_statuses": self.transform.unknown_statuses,
        }


@dataclass
class JobContext:
    """What a window job needs. Picklable: shipped to a Dask worker it leaves its client
    behind, and the worker makes its own from the settings."""

    settings: Settings
    run_id: str
    client: object | None = None

    def __getstate__(self):
        return {"settings": self.settings, "run_id": self.run_id, "client": None}

    def run(self, job: Job) -> JobOutcome:
        client = self.client or _process_client(self.settings)
        raw_store = RawStore(DataDir(self.settings.data_dir))
        return run_job(job, client, raw_store, self.run_id, parallel=self.settings.concurrency)


_CLIENTS: dict[str, object] = {}


def _process_client(settings: Settings):
    from bsg_client import BSGClient

    key = settings.model_dump_json()
    if key not in _CLIENTS:
        _CLIENTS[key] = BSGClient.from_settings(settings)
    return _CLIENTS[key]


Mapper = Callable[[JobContext, list[Job]], Iterator[JobOutcome]]


class Progress:
    """Callbacks for progress; the CLI shows a bar, the flow logs lines."""

    def start(self, total: int, resumed: int) -> None: ...
    def advance(self, outcome: JobOutcome, rows: int) -> None: ...
    def message(self, text: str) -> None: ...


def thread_mapper(max_workers: int) -> Mapper:
    def mapper(context: JobContext, jobs: list[Job]) -> Iterator[JobOutcome]:
        if not jobs:
            return
        with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="bsg-window") as pool:
            pending = {pool.submit(context.run, job) for job in jobs}
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    yield fut.result()

    return mapper


def day_start(day: date, settings: Settings) -> datetime:
    """Midnight of a calendar day in the account's zone, as an aware datetime."""
    return datetime.combine(day, dtime(0), tzinfo=settings.zone)


# ------------------------------------------------------------------------------------------
# extraction jobs: these run in worker threads (or Dask workers)
# ------------------------------------------------------------------------------------------


class IncompleteWindow(RuntimeError):
    """A window ended short of the total the API announced; it is not checkpointed."""


def run_job(job: Job, client, raw_store: RawStore, run_id: str, parallel: int = 1) -> JobOutcome:
    """Extract one job. `parallel` pages of a window may be in flight at once; the client's
    shared limiter bounds the requests in flight across all jobs."""
    from bsg_analytics import extract

    started = time.perf_counter()
    if job.kind == "messages":
        result = extract.extract_messages_window(
            client, raw_store, job.window, run_id, parallel=parallel
        )
    elif job.kind == "campaigns":
        result = extract.extract_campaigns_window(
            client, raw_store, job.window, job.campaign_type, run_id, parallel=parallel
        )
    elif job.kind == "details":
        result = extract.extract_campaign_details(
            client, raw_store, list(job.ids), run_id, parallel=parallel
        )
    else:  # pragma: no cover - a programming error
        raise ValueError(f"unknown job kind {job.kind!r}")
    if getattr(result, "complete", True) is False:
        raise IncompleteWindow(
            f"{job.key}: the API announced more rows than it served; the window will be re-read"
        )
    return JobOutcome(job, result, _paths(result), time.perf_counter() - started)


def _paths(result) -> list[str]:
    return list(result.raw_paths)


# ------------------------------------------------------------------------------------------
# the sync
# ------------------------------------------------------------------------------------------


def run_sync(
    settings: Settings,
    since: date | None = None,
    until: date | None = None,
    *,
    client=None,
    transport=None,
    mapper: Mapper | None = None,
    progress: Progress | None = None,
    now: datetime | None = None,
    build_warehouse: bool = True,
) -> SyncReport:
    from bsg_analytics import extract
    from bsg_analytics.locking import sync_lock
    from bsg_analytics.state import SyncState
    from bsg_client import BSGClient

    progress = progress or Progress()
    data_dir = DataDir(settings.data_dir)
    data_dir.check_writable()
    started = time.perf_counter()
    now = now or datetime.now(UTC)
    since_dt = day_start(since, settings) if since else None
    until_dt = day_start(until, settings) if until else None

    with sync_lock(data_dir):
        state = SyncState.load(data_dir)
        raw_store = RawStore(data_dir)
        own_client = client is None
        client = client or BSGClient.from_settings(settings, transport=transport)
        try:
            report = _sync(
                settings,
                state,
                data_dir,
                raw_store,
                client,
                since_dt,
                until_dt,
                now,
                mapper or thread_mapper(settings.concurrency),
                progress,
                extract,
            )
        finally:
            if own_client:
                client.close()
        if build_warehouse:
            from bsg_analytics.warehouse import build_warehouse as build

            build(data_dir)
    report.seconds = time.perf_counter() - started
    return report


def _sync(
    settings, state, data_dir, raw_store, client, since, until, now, mapper, progress, extract
):
    plan = extract.plan_windows(settings, state, since, until, now)
    run = state.start_run(plan)  # resumes an unfinished run of the same plan
    run_id = run.run_id
    report = SyncReport(run_id=run_id)

    message_jobs = [Job("messages", f"messages/{w.key}", window=w) for w in plan.windows]
    campaign_jobs = [
        Job("campaigns", f"campaigns/{t}/{w.key}", window=w, campaign_type=t)
        for w in plan.campaign_windows
        for t in CAMPAIGN_TYPES
    ]
    all_jobs = message_jobs + campaign_jobs
    todo = [j for j in all_jobs if not state.is_window_done(j.key)]
    report.windows_total = len(all_jobs)
    report.windows_skipped = len(all_jobs) - len(todo)
    progress.start(len(all_jobs), report.windows_skipped)

    context = JobContext(settings, run_id, client)

    # messages: each window is written as soon as it lands
    for outcome in mapper(context, [j for j in todo if j.kind == "messages"]):
        rows = _write_pages(data_dir, raw_store, outcome.pages, settings, report)
        state.mark_window_done(outcome.job.key)
        report.windows_done += 1
        progress.advance(outcome, rows)

    # campaigns: the list windows, then the detail of every campaign seen or still open,
    # transformed together so list and detail columns meet in one batch
    campaign_pages: list[str] = []
    seen: dict[int, str] = {}
    done_campaign_jobs: list[Job] = []
    for outcome in mapper(context, [j for j in todo if j.kind == "campaigns"]):
        campaign_pages.extend(outcome.pages)
        seen.update(outcome.result.campaign_statuses)
        done_campaign_jobs.append(outcome.job)
        progress.advance(outcome, 0)
    detail_ids = sorted(set(seen) | set(plan.open_campaign_ids))
    detail_jobs = [
        Job("details", f"details/{i}", ids=tuple(detail_ids[i : i + DETAIL_CHUNK]))
        for i in range(0, len(detail_ids), DETAIL_CHUNK)
    ]
    for outcome in mapper(context, detail_jobs):
        campaign_pages.extend(outcome.pages)
    report.campaigns_detailed = len(detail_ids)
    _write_pages(data_dir, raw_store, campaign_pages, settings, report)
    for job in done_campaign_jobs:
        state.mark_window_done(job.key)
        report.windows_done += 1
    state.finish_run(watermark=plan.until, open_campaigns=_still_open(seen, plan.open_campaigns))
    _report_unknowns(report, progress)
    return report


def _report_unknowns(report: SyncReport, progress: Progress) -> None:
    """Once per run: fields nobody declared (kept in raw) and statuses nobody listed (kept)."""
    for stream, paths in sorted(report.transform.unknown_fields.items()):
        progress.message(f"unknown fields in {stream} (kept in raw): {', '.join(paths)}")
    for stream, counts in sorted(report.transform.unknown_statuses.items()):
        listed = ", ".join(f"{k} ({v})" for k, v in sorted(counts.items()))
        progress.message(f"statuses nobody documented in {stream} (kept as data): {listed}")


def _still_open(seen: dict[int, str], previously_open: Iterable[int]) -> list[int]:
    from schemas.statuses import FINAL_CAMPAIGN_STATUSES

    open_ids = {i for i in previously_open if i not in seen}
    open_ids |= {i for i, status in seen.items() if status not in FINAL_CAMPAIGN_STATUSES}
    return sorted(open_ids)


def _write_pages(data_dir, raw_store: RawStore, paths: list[str], settings, report) -> int:
    from transforms.pipeline import transform_pages, write_batch

    if not paths:
        return 0
    pages: list[RawPage] = [raw_store.read(p.replace(".json.gz", ".meta.json")) for p in paths]
    batch = transform_pages(pages, settings.zone)
    written = write_batch(data_dir, batch)
    _accumulate(report, batch, written)
    return written.get("messages", 0)


def _accumulate(report: SyncReport, batch, written: dict[str, int]) -> None:
    report.transform.merge(batch.report)
    for table, n in written.items():
        report.rows[table] = report.rows.get(table, 0) + n


def run_legacy(
    settings: Settings,
    sms_ids: Iterable[int] = (),
    references: Iterable[str] = (),
    task_ids: Iterable[int] = (),
    *,
    transport=None,
    build_warehouse: bool = True,
) -> SyncReport:
    """Legacy REST lookups: land, transform and write `legacy_sms` / `legacy_tasks`."""
    from bsg_analytics import extract
    from bsg_analytics.locking import sync_lock
    from bsg_client import BSGClient

    data_dir = DataDir(settings.data_dir)
    data_dir.check_writable()
    started = time.perf_counter()
    report = SyncReport(run_id=new_run_id())
    with sync_lock(data_dir), BSGClient.from_settings(settings, transport=transport) as client:
        result = extract.extract_legacy(
            client,
            RawStore(data_dir),
            report.run_id,
            sms_ids=tuple(sms_ids),
            references=tuple(references),
            task_ids=tuple(task_ids),
        )
        _write_pages(data_dir, RawStore(data_dir), _paths(result), settings, report)
        if build_warehouse:
            from bsg_analytics.warehouse import build_warehouse as build

            build(data_dir)
    report.seconds = time.perf_counter() - started
    return report


def reconcile(settings: Settings) -> dict:
    """Campaigns whose own statistics disagree with their messages (from the warehouse)."""
    from bsg_analytics.warehouse import query

    data_dir = DataDir(settings.data_dir)
    rows = query(data_dir, "select * from campaign_delivery").to_pylist()
    disagreements = [r for r in rows if r.get("disagrees")]
    return {"campaigns": len(rows), "disagreements": disagreements}
