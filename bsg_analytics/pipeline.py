"""The sync, as plain functions: plan -> extract (parallel) -> transform -> write -> warehouse.

Prefect is not imported here. `run_sync` takes a `mapper`: something that runs a function over
jobs and yields results as they complete. The default mapper is a thread pool; the Prefect flow
passes one that submits Prefect tasks (threads or Dask). Extraction runs in parallel, driven
from the caller's thread; one writer thread transforms and merges the message windows as they
land (so there is exactly one writer), and a window is checkpointed only after its tables are
written (state never ahead of the data).

Memory follows the settings, not the history: the writer takes at most `BATCH_BYTES` of raw
pages at a time (several small windows in one batch, a dense window over several), and the
requests allowed in flight are shared among the jobs running at once, so a backfill reads a
page per window (few pages wait to be landed) while a lone incremental window reads
`concurrency` pages at once. Outcomes carry page paths, not pages.
"""

from __future__ import annotations

import ctypes
import logging
import queue
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from typing import Any

from bsg_analytics.batch import transform_pages, write_batch
from bsg_analytics.extract import LegacyResult
from bsg_analytics.locking import sync_lock
from bsg_analytics.lookback import load_index, refresh_index, save_index
from bsg_analytics.planning import Plan, plan_windows
from bsg_analytics.raw import RawPage, RawStore, meta_path_of, new_run_id
from bsg_analytics.schemas.statuses import campaign_is_open
from bsg_analytics.schemas.tables import MESSAGES
from bsg_analytics.settings import Settings
from bsg_analytics.state import SyncState, reset_state
from bsg_analytics.storage import DataDir
from bsg_analytics.streams import REGISTRY, Job, Planning, Registry, RunContext, Written
from bsg_analytics.transforms.common import TransformReport
from bsg_client import BSGClient
from bsg_client.client import clock_gap

log = logging.getLogger("bsg_analytics.sync")

# Raw (uncompressed) page bytes the writer transforms and merges at once: ~30 pages of 500
# simulated messages. The transform holds several times this; 16 MiB measured ~50 MB more
# peak RSS for a 1M-message backfill, 4 MiB ~10% more wall time.
BATCH_BYTES = 8 * 2**20


@dataclass
class JobOutcome:
    job: Job
    result: object
    pages: list[str]
    seconds: float
    started_at: datetime | None = None  # when its read began (the checkpoint keeps it)
    reads: int = 1  # reads of the window this run (more when the API served it short)


@dataclass
class SyncReport:
    run_id: str
    windows_total: int = 0
    windows_done: int = 0
    windows_skipped: int = 0
    rows: dict[str, int] = field(default_factory=dict)  # rows written, per table
    rows_new: dict[str, int] = field(default_factory=dict)  # of those, keys new to the table
    campaigns_detailed: int = 0
    seconds: float = 0.0
    transform: TransformReport = field(default_factory=TransformReport)  # merged
    since: datetime | None = None
    until: datetime | None = None
    basis: str = ""
    took_over: str | None = None  # the interrupted run this one finished
    retired: str | None = None  # the unfinished run this one replaced (its rest included)
    rereads: int = 0  # windows read again in this run because the API served them short
    lookback: str = ""  # what was re-read of what was created before: `Plan.lookback`
    open_messages: int = 0  # messages that can still change after this run (the open index)
    temporary_removed: int = 0
    notices: list[str] = field(default_factory=list)  # said once per run, see `notices`

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
            "rows_new": dict(self.rows_new),
            "records_in": self.records_in,
            "quarantined": self.quarantined,
            "duplicates": self.duplicates,
            "campaigns_detailed": self.campaigns_detailed,
            "seconds": round(self.seconds, 3),
            "messages_per_second": round(self.messages_per_second, 1),
            "unknown_fields": self.transform.unknown_fields,
            "unknown_statuses": self.transform.unknown_statuses,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "basis": self.basis,
            "took_over": self.took_over,
            "retired": self.retired,
            "rereads": self.rereads,
            "lookback": self.lookback,
            "open_messages": self.open_messages,
            "notices": list(self.notices),
            "null_amounts": dict(self.transform.null_amounts),
        }


@dataclass
class JobContext:
    """What a job needs. Picklable: shipped to a Dask worker it leaves its client and data
    directory behind, and the worker makes its own from the settings, once per process."""

    settings: Settings
    run_id: str
    client: BSGClient | None = None
    parallel: int | None = None  # pages of one job in flight; None: settings.concurrency
    now: datetime | None = None  # a fixed clock (tests); None: the real one
    data_dir: DataDir | None = None
    registry: Registry = REGISTRY
    stop: threading.Event | None = None  # set: the run was asked to stop (`check_stop`)
    skew: timedelta = timedelta(0)  # the API's clock minus this machine's (`api_skew`)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "client": None, "data_dir": None, "stop": None}

    def check_stop(self) -> None:
        check_stop(self.stop)

    def cancel(self) -> None:
        """End the jobs in flight at their next request (see `BSGClient.cancel`)."""
        if self.client is not None:
            self.client.cancel()

    def run(self, job: Job) -> JobOutcome:
        client = self.client or _process_client(self.settings)
        raw_store = landing_store(
            self.data_dir or _process_data_dir(self.settings), self.settings, self.registry
        )
        parallel = self.parallel or self.settings.concurrency
        return run_job(
            job, client, raw_store, self.run_id, parallel=parallel, now=self.now,
            registry=self.registry, skew=self.skew,
        )  # fmt: skip


def landing_store(data_dir: DataDir, settings: Settings, registry: Registry) -> RawStore:
    """The raw store pages land through: with `BSG_PII` other than keep, the pages of the
    registry's personal streams lose what the setting does not keep (`bsg_analytics.pii`)."""
    return RawStore(data_dir, scrub=settings.pii_policy().scrubber(registry.personal()))


def page_parallel(concurrency: int, jobs: int) -> int:
    """Pages of one job in flight when `jobs` jobs share `concurrency` requests in flight.

    A paginator buffers up to twice its parallelism of parsed pages ahead of the one it lands,
    so `concurrency` windows each reading `concurrency` pages held ~concurrency**2 pages (about
    a quarter of a GiB at 500 messages a page) once windows grew past 16 pages. Sharing the
    requests instead keeps the network as busy (the client's limiter allows `concurrency` in
    flight in all) with a buffer that does not grow with the windows.
    """
    return max(1, -(-concurrency // max(1, jobs)))


# a Dask worker's own client and data directory, one per settings, made on first use
_CLIENTS: dict[str, BSGClient] = {}
_DATA_DIRS: dict[str, DataDir] = {}


def _process_client(settings: Settings) -> BSGClient:
    key = settings.model_dump_json()
    if key not in _CLIENTS:
        _CLIENTS[key] = BSGClient.from_settings(settings)
    return _CLIENTS[key]


def _process_data_dir(settings: Settings) -> DataDir:
    if settings.data_dir not in _DATA_DIRS:
        _DATA_DIRS[settings.data_dir] = DataDir(settings.data_dir)
    return _DATA_DIRS[settings.data_dir]


Mapper = Callable[[JobContext, list[Job]], Iterator[JobOutcome]]

STOP_POLL_SECONDS = 0.2  # how often a mapper waiting for its jobs looks at the stop flag


def check_stop(stop: threading.Event | None) -> None:
    """Raise KeyboardInterrupt when `stop` is set: a run asked to stop (the command line's
    Ctrl-C sets it, `bsg_analytics.flows.run.stop_on_ctrl_c`) ends at the next check,
    the way it ends on a KeyboardInterrupt (what is written stays checkpointed)."""
    if stop is not None and stop.is_set():
        raise KeyboardInterrupt


class Progress:
    """Callbacks for progress; the CLI shows a bar, the flow logs lines. A run goes through
    `STAGES` in order (`stage`); `retries` says how many requests were tried again so far and
    how long their waits add up to."""

    def start(self, total: int, resumed: int) -> None: ...
    def advance(self, outcome: JobOutcome, rows: int) -> None: ...
    def message(self, text: str) -> None: ...
    def stage(self, name: str) -> None: ...
    def retries(self, count: int, waited: float) -> None: ...


# what a sync does, in order: read the API (windows written as they land), write what is left
# (the last windows, the campaigns), build the warehouse
STAGES = ("extract", "write", "warehouse")


def thread_mapper(max_workers: int) -> Mapper:
    def mapper(context: JobContext, jobs: list[Job]) -> Iterator[JobOutcome]:
        if not jobs:
            return
        pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="bsg-window")
        try:
            pending = {pool.submit(context.run, job) for job in jobs}
            while pending:
                done, pending = wait(pending, STOP_POLL_SECONDS, return_when=FIRST_COMPLETED)
                context.check_stop()
                for fut in done:
                    yield fut.result()
        except BaseException:
            # a failure, Ctrl-C, or the caller stopping: jobs in flight stop at their next
            # request instead of reading their windows to the end first
            context.cancel()
            raise
        finally:
            # on an error (or the caller stopping), jobs not yet started are not started
            pool.shutdown(wait=True, cancel_futures=True)

    return mapper


_M_MMAP_THRESHOLD = -3  # mallopt's parameter number, glibc's malloc.h
MMAP_THRESHOLD = 128 * 1024  # glibc's initial value


def fixed_mmap_threshold() -> bool:
    """Keep glibc's mmap threshold at its initial 128 KiB, for this process.

    glibc raises the threshold each time a block above it is freed (up to 32 MiB), after
    which page-sized buffers (a ~300 KB page body, its decompressed and parsed copies) are cut
    from the heap arenas of a dozen threads and stay there, fragmented, once freed. Measured
    on a 1M-message backfill: ~50 MB more peak RSS than a 100k one for nothing held (after
    the sync, 296 MB vs 241 MB; with the threshold fixed, 206 vs 204). A fixed threshold keeps
    such blocks mmapped and gives them back when they are freed. Returns whether it was set
    (False off glibc)."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1


def day_start(day: date, settings: Settings) -> datetime:
    """Midnight of a calendar day in the account's zone, as an aware datetime."""
    return datetime.combine(day, dtime(0), tzinfo=settings.zone)


# ------------------------------------------------------------------------------------------
# extraction jobs: these run in worker threads (or Dask workers)
# ------------------------------------------------------------------------------------------


class IncompleteWindow(RuntimeError):
    """A window the API kept serving short of the total it announced; not checkpointed."""


# Reads of one window in one run before a short answer fails the run: a total announced
# once too high, or a page repeated, is read again at once; an API that keeps doing it is
# named in the failure.
WINDOW_READS = 3


# The API's clock behind this machine's by more than this: the run reads by the API's clock
# (`api_skew`). Less is absorbed by the windows' safety margin (2 min) and the overlap with
# the last run (`new_overlap_minutes`), and a Date header's error (a second, plus latency).
CLOCK_SKEW_TOLERANCE = timedelta(seconds=30)


def clock_now(now: datetime | None, skew: timedelta = timedelta(0)) -> datetime:
    """The run's now: `now` when fixed (tests), else this machine's moved by `skew`."""
    return now or datetime.now(UTC) + skew


def api_skew(client: BSGClient) -> timedelta:
    """How far the API's clock is behind this machine's (a negative timedelta), when more than
    `CLOCK_SKEW_TOLERANCE`; else zero. A run then plans, stamps its reads and moves its
    watermark by the API's clock: its windows end at a moment the API has reached (it refuses
    one after its own now with a 422), and the next run starts where the API's clock stood.
    An API ahead of this machine is harmless (windows end earlier than they could) and is not
    followed."""
    offset = client.api_clock_offset()
    if offset is None or offset > -CLOCK_SKEW_TOLERANCE.total_seconds():
        return timedelta(0)
    return timedelta(seconds=offset)


def run_job(
    job: Job,
    client: BSGClient,
    raw_store: RawStore,
    run_id: str,
    parallel: int = 1,
    now: datetime | None = None,
    registry: Registry = REGISTRY,
    skew: timedelta = timedelta(0),
) -> JobOutcome:
    """Extract one job through its stream's `extract`. `parallel` pages of a window may be in
    flight at once; the client's shared limiter bounds the requests in flight across all
    jobs. A window served short of its announced total is read again (each read lands under
    its own raw group), up to `WINDOW_READS` reads; every page landed is handed on."""
    stream = registry[job.stream]
    started_at = clock_now(now, skew)
    started = time.perf_counter()
    if stream.planning != Planning.WINDOW:
        result = stream.extract(client, raw_store, job, run_id, parallel=parallel, attempt=1)
        return JobOutcome(job, result, _paths(result), time.perf_counter() - started, started_at)
    paths: list[str] = []
    for attempt in range(1, WINDOW_READS + 1):
        result = stream.extract(client, raw_store, job, run_id, parallel=parallel, attempt=attempt)
        paths += _paths(result)
        if result.complete:
            break
        log.warning("%s: the API %s; reading it again", job.key, result.shortfall())
    else:
        raise IncompleteWindow(
            f"{job.key}: the API {result.shortfall()}, {WINDOW_READS} reads in a row; "
            "nothing of this window is checkpointed, so the next sync reads it again"
        )
    seconds = time.perf_counter() - started
    return JobOutcome(job, result, paths, seconds, started_at, reads=attempt)


def interleave(lists: list[list[Job]]) -> list[Job]:
    """The jobs of `lists` in one list, each list's spread evenly (job j of n at (j + 0.5) /
    n; ties in the lists' order): a stream of few long jobs starts beside the others."""
    keyed = [
        ((j + 0.5) / len(jobs), i, j) for i, jobs in enumerate(lists) for j in range(len(jobs))
    ]
    return [lists[i][j] for _, i, j in sorted(keyed)]


def _first(jobs: list[Job], keys: set[str]) -> list[Job]:
    """`jobs` with those of `keys` moved to the front (each part in its order)."""
    return [j for j in jobs if j.key in keys] + [j for j in jobs if j.key not in keys]


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
    client: BSGClient | None = None,
    transport=None,
    mapper: Mapper | None = None,
    progress: Progress | None = None,
    now: datetime | None = None,
    finish: Callable[[DataDir], object] | None = None,
    full_refresh: bool = False,
    data_dir: DataDir | None = None,
    registry: Registry = REGISTRY,
    stop: threading.Event | None = None,
) -> SyncReport:
    """One sync: plan (taking over or retiring an unfinished run), extract, write, finish.

    `now` fixes the clock (tests); by default every read is stamped with the real time.
    `full_refresh` sets the state aside first (`bsg_analytics.state.reset_state`), so the
    run plans as on a new data directory; raw pages and tables are kept. `finish(data_dir)`
    runs under the sync lock once the tables are written (the commands pass the warehouse
    build, `bsg_analytics.warehouse.build_warehouse`). `stop`, once set, ends the run at its
    next check with a KeyboardInterrupt (`check_stop`), before its state is finished; a run
    that finished is not undone."""
    progress = progress or Progress()
    data_dir = data_dir or DataDir(settings.data_dir)
    data_dir.check_writable()
    started = time.perf_counter()
    fixed_mmap_threshold()
    since_dt = day_start(since, settings) if since else None
    until_dt = day_start(until, settings) if until else None

    with sync_lock(data_dir):
        removed = data_dir.clean_temporary()
        if full_refresh:
            aside = reset_state(data_dir)
            if aside:
                progress.message(f"state set aside in {aside}; reading from the start")
        state = SyncState.load(data_dir)
        own_client = client is None
        client = client or BSGClient.from_settings(settings, transport=transport)
        client.resume()  # a client stopped by an earlier run on it
        try:
            with cancel_on_stop(stop, client):
                skew = timedelta(0) if now is not None else api_skew(client)
                plan = plan_windows(
                    settings, state, since_dt, until_dt, clock_now(now, skew), registry=registry
                )
                run = _Run(
                    settings, state, data_dir, client, plan, now, progress, registry, stop, skew
                )
                report = run.sync(mapper or thread_mapper(settings.concurrency))
        finally:
            if own_client:
                client.close()
        report.temporary_removed = removed
        if finish is not None:
            progress.stage("warehouse")
            finish(data_dir)
    report.seconds = time.perf_counter() - started
    return report


def _skew_notices(skew: timedelta) -> list[str]:
    if not skew:
        return []
    return [
        f"the API's clock reads {clock_gap(skew.total_seconds())} behind this machine's: this "
        "run reads up to the API's now and keeps its times by that clock"
    ]


@contextmanager
def cancel_on_stop(stop: threading.Event | None, client: BSGClient) -> Iterator[None]:
    """While inside: once `stop` is set, `client` is cancelled (`BSGClient.cancel`), so a
    request that is retrying (the clock probe, a cleanup, a window between two checks) gives
    up at its next try instead of running on for minutes against an API that is down; what
    then fails is raised as the KeyboardInterrupt `check_stop` would have raised."""
    if stop is None:
        yield
        return
    over = threading.Event()

    def watch() -> None:
        while not over.is_set():
            if stop.wait(STOP_POLL_SECONDS):
                client.cancel()
                return

    watcher = threading.Thread(target=watch, name="bsg-stop", daemon=True)
    watcher.start()
    try:
        yield
    except Exception as exc:
        if stop.is_set():  # it failed because it was stopped: an interruption, as check_stop
            raise KeyboardInterrupt("stopped") from exc
        raise
    finally:
        over.set()
        watcher.join()


def _notices_of(plan: Plan) -> list[str]:
    out = []
    if plan.takes_over:
        out.append(
            f"continued interrupted run {plan.takes_over}: "
            f"{len(plan.carried_done)} of {len(plan.job_keys)} windows were already written"
        )
    if plan.retires:
        out.append(
            f"replaced unfinished run {plan.retires}, which asked for another range; "
            f"its {plan.carried_windows} unread windows were read in this run"
        )
    catch_up = plan.catch_up_notice()
    if catch_up is not None:
        out.append(catch_up)
    return out


class _Run:
    """One sync's reads and writes, stream by stream in the registry's order:

    - window streams written as they land (messages) go to the one `WindowWriter`, which
      checkpoints each window once its tables are written;
    - the others (campaign lists, then the details of every campaign seen or still open)
      are kept and written together at the end, then checkpointed.
    """

    def __init__(
        self, settings, state, data_dir, client, plan, now, progress, registry, stop, skew
    ):
        self.settings, self.state, self.data_dir = settings, state, data_dir
        self.client, self.plan, self.now, self.registry = client, plan, now, registry
        self.stop, self.skew = stop, skew
        self.raw_store = landing_store(data_dir, settings, registry)
        self.checkpoint = state.start_run(plan)
        self.report = SyncReport(
            run_id=self.checkpoint.run_id,
            since=plan.since,
            until=plan.until,
            basis=plan.basis,
            lookback=plan.lookback,
            took_over=plan.takes_over,
            retired=plan.retires,
            notices=_notices_of(plan) + _skew_notices(skew),
        )
        self.progress = _Locked(progress)  # the writer thread reports too
        # campaigns the list jobs saw; those an interrupted run's done jobs saw come with it
        self.context = RunContext(open_campaigns=dict(plan.open_campaigns))
        self.context.seen.update(self.checkpoint.campaigns)

    def _refresh_open_index(self) -> None:
        """The open index (`bsg_analytics.lookback`) over the windows of the streams that
        write the messages table."""
        windows = [
            (w.start, w.end)
            for name, ws in self.plan.stream_windows.items()
            if name in self.registry
            and any(t.name == MESSAGES.name for t in self.registry[name].transform.tables)
            for w in ws
        ]
        if not windows:
            return
        index = refresh_index(
            self.data_dir, windows, load_index(self.data_dir), self.clock(),
            self.settings.read_receipt_hours,
        )  # fmt: skip
        save_index(self.data_dir, index)
        self.report.open_messages = index.open

    def _context_for(self, jobs: list[Job]) -> JobContext:
        parallel = page_parallel(self.settings.concurrency, len(jobs))
        return JobContext(
            self.settings, self.checkpoint.run_id, self.client, parallel, self.now,
            self.data_dir, self.registry, self.stop, self.skew,
        )  # fmt: skip

    def clock(self) -> datetime:
        return clock_now(self.now, self.skew)

    def _window_written(self, outcome: JobOutcome, rows: int) -> None:
        read_at = outcome.started_at or self.clock()
        self.data_dir.barrier()  # its raw pages, landed without an fsync each, on disk
        self.state.mark_done(outcome.job.key, read_at, getattr(outcome.result, "campaigns", None))
        self.report.windows_done += 1
        self.report.rereads += outcome.reads - 1
        self.progress.advance(outcome, rows)

    def _report_retries(self) -> None:
        self.progress.retries(*self.client.retried())

    def _cleanup(self, planned: frozenset[str]) -> None:
        for stream in self.registry.values():
            if stream.cleanup is not None and stream.is_enabled(self.settings):
                stream.cleanup(self.client, self.raw_store, planned)

    def _batches(self, todo: list[Job]) -> Iterator[list[Job]]:
        """The jobs of each stream in the registry's order, one mapper call each, planned when
        its turn comes (an ids stream plans from what the streams before it saw). Adjacent
        window streams written as they land go in one call, their jobs spread evenly through
        it (`interleave`): the exports' waits for their jobs overlap the messages' reads. The
        jobs a stream's `resume_first` names go first."""
        merged: list[list[Job]] = []
        first: set[str] = set()  # keys to start before any other job of their call
        for stream in self.registry.values():
            if not stream.is_enabled(self.settings):
                continue
            if stream.planning == Planning.WINDOW:
                jobs = [j for j in todo if j.stream == stream.name]
                if stream.resume_first is not None:
                    first |= stream.resume_first(self.raw_store)
                if stream.written == Written.STREAMED:
                    merged.append(jobs)
                    continue
            elif stream.planning == Planning.IDS and stream.plan_ids is not None:
                ids = list(stream.plan_ids(self.context))
                if stream.name == "campaign_detail":
                    self.report.campaigns_detailed = len(ids)
                jobs = stream.id_jobs(ids)
            elif stream.planning == Planning.SNAPSHOT:
                jobs = stream.snapshot_jobs()
            else:
                continue  # lookups are asked for (`run_legacy`), not planned
            if merged:
                yield _first(interleave(merged), first)
                merged = []
            yield _first(jobs, first)
        if merged:
            yield _first(interleave(merged), first)

    def sync(self, mapper: Mapper) -> SyncReport:
        report, state, registry = self.report, self.state, self.registry
        all_jobs = self.plan.jobs
        todo = [j for j in all_jobs if not state.is_done(j.key)]
        report.windows_total = len(all_jobs)
        report.windows_skipped = len(all_jobs) - len(todo)
        self.progress.start(len(all_jobs), report.windows_skipped)
        self.progress.stage("extract")
        writer = WindowWriter(
            read=lambda path: self.raw_store.read(meta_path_of(path)),
            write=lambda pages: _write_raw_pages(
                self.data_dir, pages, self.settings, report, registry=registry
            ),
            done=self._window_written,
        )
        at_end_pages: list[str] = []
        at_end_windows: list[JobOutcome] = []  # checkpointed once their pages are written
        planned = frozenset(j.key for j in all_jobs)
        self._cleanup(planned)  # what an earlier run left that this plan will not ask for
        try:
            for jobs in self._batches(todo):
                for outcome in mapper(self._context_for(jobs), jobs):
                    check_stop(self.stop)
                    self._report_retries()
                    stream = registry[outcome.job.stream]
                    if stream.observe is not None:
                        stream.observe(outcome.result, self.context)
                    if stream.written == Written.STREAMED:
                        writer.put(outcome)
                        continue
                    writer.check()
                    at_end_pages.extend(outcome.pages)
                    if stream.planning == Planning.WINDOW:
                        at_end_windows.append(outcome)
                        self.progress.advance(outcome, 0)
            check_stop(self.stop)
        except BaseException as exc:
            # windows already handed over are complete: write them (not on Ctrl-C), then fail
            # with the first reason (the writer's own failure, if any, is logged at debug level)
            writer.close(drain=isinstance(exc, Exception), raise_error=False)
            raise
        self.progress.stage("write")
        writer.close()
        _write_pages(
            self.data_dir, self.raw_store, at_end_pages, self.settings, report, registry=registry
        )
        if at_end_windows:
            self.data_dir.barrier()  # their raw pages on disk before they are checkpointed
        for outcome in at_end_windows:
            read_at = outcome.started_at or self.clock()
            state.mark_done(outcome.job.key, read_at, getattr(outcome.result, "campaigns", None))
            report.windows_done += 1
            report.rereads += outcome.reads - 1
        check_stop(self.stop)
        self._refresh_open_index()  # before the watermark moves past what it records
        state.finish_run(
            open_campaigns=still_open(
                self.context.seen, self.plan.open_campaigns, self.context.not_found
            ),
            rows=report.rows,
            finished_at=self.clock(),
        )
        self._cleanup(planned)
        _report_unknowns(report)
        return report


class _Locked(Progress):
    """A Progress whose callbacks are serialised (the extraction loop and the writer thread
    both report)."""

    def __init__(self, inner: Progress):
        self.inner = inner
        self.lock = threading.Lock()

    def start(self, total: int, resumed: int) -> None:
        with self.lock:
            self.inner.start(total, resumed)

    def advance(self, outcome: JobOutcome, rows: int) -> None:
        with self.lock:
            self.inner.advance(outcome, rows)

    def message(self, text: str) -> None:
        with self.lock:
            self.inner.message(text)

    def stage(self, name: str) -> None:
        with self.lock:
            self.inner.stage(name)

    def retries(self, count: int, waited: float) -> None:
        with self.lock:
            self.inner.retries(count, waited)


@dataclass
class _Pending:
    """A landed window whose pages are not all written yet."""

    outcome: JobOutcome
    paths: deque
    rows: int = 0
    taken: int = 0  # pages of it in the batch being written


_END = object()


class WindowWriter:
    """The one writer of a sync's message windows: a thread that transforms and merges the
    windows handed to `put`, in the order they come, a batch of at most `batch_bytes` of raw
    page bytes at a time, and reports each window to `done` (which checkpoints it) once all
    its pages are written.

    Batches are what has arrived: windows that land together are merged in one batch (a day
    partition is rewritten once, not once per window); a window larger than a batch is
    written over several (memory stays bounded by `batch_bytes` whatever the density). The
    rows written are shared among a batch's windows by their pages, so the rows reported add
    up to the rows written. `read(path) -> RawPage`, `write(pages) -> rows`,
    `done(outcome, rows)`.
    """

    def __init__(self, read, write, done, batch_bytes: int | None = None):
        self._read = read
        self._write = write
        self._done = done
        self.batch_bytes = batch_bytes or BATCH_BYTES
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._abort = threading.Event()
        self.error: BaseException | None = None
        self.batches = 0
        self._thread = threading.Thread(target=self._run, name="bsg-writer", daemon=True)
        self._thread.start()

    def put(self, outcome: JobOutcome) -> None:
        self.check()
        self._queue.put(outcome)

    def check(self) -> None:
        """Raise the writer's error, if it failed."""
        if self.error is not None:
            raise self.error

    def close(self, drain: bool = True, raise_error: bool = True) -> None:
        """Wait until every window put is written (or, `drain=False`, only the batch being
        written), then raise the writer's error if any."""
        if not drain:
            self._abort.set()
        self._queue.put(_END)
        self._thread.join()
        if raise_error:
            self.check()
        elif self.error is not None:
            log.debug("the writer failed as well: %s", self.error)

    def _run(self) -> None:
        pending: deque[_Pending] = deque()
        ended = False
        try:
            while not self._abort.is_set():
                if not pending and ended:
                    return
                # everything that has arrived; wait only when there is nothing to write
                try:
                    item = self._queue.get(block=not pending)
                except queue.Empty:
                    item = None
                while item is not None:
                    if item is _END:
                        ended = True
                    else:
                        pending.append(_Pending(item, deque(item.pages)))
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        item = None
                if pending and not self._abort.is_set():
                    self._write_batch(pending)
        except BaseException as exc:  # handed to the extraction loop
            self.error = exc

    def _write_batch(self, pending: deque[_Pending]) -> None:
        pages, size, members = [], 0, []
        for window in pending:
            members.append(window)
            while window.paths and size < self.batch_bytes:
                page = self._read(window.paths.popleft())
                pages.append(page)
                size += len(page.body)
                window.taken += 1
            if size >= self.batch_bytes:
                break
        rows = self._write(pages) if pages else 0
        self.batches += 1
        del pages
        share = [w for w in members if w.taken]
        total = sum(w.taken for w in share)
        given = 0
        for i, w in enumerate(share):
            part = rows - given if i == len(share) - 1 else rows * w.taken // total
            w.rows += part
            given += part
            w.taken = 0
        while pending and not pending[0].paths:
            window = pending.popleft()
            self._done(window.outcome, window.rows)


def notices(transform) -> list[str]:
    """What a person should hear about once per run, whether or not anyone watches a terminal:
    fields nobody declared (kept in raw), statuses nobody listed (kept as data), and sent
    messages without an amount (they add nothing to spend)."""
    out = []
    for stream, paths in sorted(transform.unknown_fields.items()):
        out.append(f"unknown fields in {stream} (kept in raw): {', '.join(paths)}")
    for stream, counts in sorted(transform.unknown_statuses.items()):
        listed = ", ".join(f"{k} ({v})" for k, v in sorted(counts.items()))
        out.append(f"statuses nobody documented in {stream} (kept as data): {listed}")
    for stream, n in sorted(transform.null_amounts.items()):
        out.append(f"{n} sent {stream} have no amount: they count as delivered, not as spend")
    return out


def _report_unknowns(report: SyncReport) -> None:
    report.notices += notices(report.transform)
    for line in report.notices:
        log.info("%s", line)


def still_open(
    seen: Mapping[int, str], previously_open: Mapping[int, str], not_found: Iterable[int] = ()
) -> dict[int, str]:
    """The campaigns to read again next time, id -> status: those seen in a status that can
    still change, and those open before and not seen now (a detail the API answered 404
    for is gone). Final statuses are dropped by `SyncState.finish_run`."""
    gone = set(not_found)
    out = {i: s for i, s in previously_open.items() if i not in seen and i not in gone}
    out.update({i: s for i, s in seen.items() if campaign_is_open(s) and i not in gone})
    return dict(sorted(out.items()))


def _write_pages(
    data_dir: DataDir,
    raw_store: RawStore,
    paths: list[str],
    settings: Settings,
    report: SyncReport,
    registry: Registry = REGISTRY,
) -> int:
    if not paths:
        return 0
    pages: list[RawPage] = [raw_store.read(meta_path_of(p)) for p in paths]
    return _write_raw_pages(data_dir, pages, settings, report, registry=registry)


def _write_raw_pages(
    data_dir: DataDir,
    pages: list[RawPage],
    settings: Settings,
    report: SyncReport,
    registry: Registry = REGISTRY,
) -> int:
    """Transform and write `pages`; returns the message rows written (what a window job's
    progress counts)."""
    if not pages:
        return 0
    batch = transform_pages(pages, settings.zone, registry)
    added: Counter[str] = Counter()
    written = write_batch(data_dir, batch, added=added)
    report.transform.merge(batch.report)
    for table, n in written.items():
        report.rows[table] = report.rows.get(table, 0) + n
    for table, n in added.items():
        report.rows_new[table] = report.rows_new.get(table, 0) + n
    return written.get("messages", 0)


# lookup argument -> what a bad value of it is called in the one line that says so
_ID_LOOKUPS = {"sms_ids": "SMS id", "task_ids": "task id", "viber_ids": "Viber id"}


def check_lookups(asked: Mapping[str, Iterable[Any]]) -> dict[str, tuple[Any, ...]]:
    """The lookups asked, as tuples; ValueError (one line, naming the value) for an id that
    is not a whole number >= 1 or an empty reference, before anything is asked."""
    out = {arg: tuple(values) for arg, values in asked.items()}
    for arg, values in out.items():
        what = _ID_LOOKUPS.get(arg)
        for value in values:
            text = str(value).strip()
            if what is not None and isinstance(value, bool | float):
                raise ValueError(f"{what} {value!r} is not a whole number")
            if what is not None and not (text.isascii() and text.isdigit() and int(text) >= 1):
                raise ValueError(f"{what} {value!r} is not a whole number >= 1")
            if what is None and not text:
                raise ValueError(f"an empty {arg.removesuffix('s').replace('_', ' ')} was given")
    return out


def extract_legacy(
    client: BSGClient,
    raw_store: RawStore,
    run_id: str,
    registry: Registry = REGISTRY,
    **asked: Iterable[Any],
) -> LegacyResult:
    """Every lookup asked (`sms_ids=`, `references=`, `task_ids=`, `viber_ids=`,
    `viber_references=`: the lookup arguments of the registry's lookup streams), stream by
    stream; one result for them all. Bad ids raise ValueError before any call."""
    unknown = set(asked) - set(registry.lookup_args)
    if unknown:
        raise TypeError(f"no lookup stream takes {sorted(unknown)}")
    ids = check_lookups(asked)
    result = LegacyResult()
    for stream in registry.planned(Planning.LOOKUP):
        for job in stream.lookup_jobs(ids):
            result.merge(stream.extract(client, raw_store, job, run_id, parallel=1, attempt=1))
    return result


@dataclass
class LookupReport(SyncReport):
    """A `run_legacy` report: the sync report's counts (rows per table, quarantine) and what
    the lookups answered: found per stream, not found (kind, key), errors (kind, key, code,
    words)."""

    asked: dict[str, int] = field(default_factory=dict)  # lookup kind -> values asked
    landed: dict[str, int] = field(default_factory=dict)
    not_found: list[tuple[str, str]] = field(default_factory=list)
    errors: list[tuple[str, str, int | None, str]] = field(default_factory=list)
    tasks_answered_as_sms: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        out = super().as_dict()
        out["lookups"] = {
            "asked": dict(self.asked),
            "landed": dict(self.landed),
            "not_found": [list(k) for k in self.not_found],
            "errors": [list(e) for e in self.errors],
            "tasks_answered_as_sms": list(self.tasks_answered_as_sms),
        }
        return out

    def summary_line(self) -> str:
        """One line: what was asked, rows written per legacy table, not found per kind,
        errors, quarantined records."""
        asked = ", ".join(_counted(n, k) for k, n in self.asked.items())
        rows = ", ".join(f"{t} {self.rows.get(t, 0)}" for t in _LEGACY_TABLES)
        missing: dict[str, int] = {}
        for kind, _ in self.not_found:
            missing[kind] = missing.get(kind, 0) + 1
        gone = ", ".join(_counted(n, k) for k, n in missing.items())
        errors = len(self.errors)
        return (
            f"looked up {asked or 'nothing'} in {self.seconds:.1f}s: rows written {rows}; "
            f"not found: {gone or 'none'}; {errors} error{'' if errors == 1 else 's'}; "
            f"{self.quarantined} quarantined"
        )


_LEGACY_TABLES = ("legacy_sms", "legacy_tasks", "legacy_viber")
# a lookup kind (the job variant of a lookup argument) as the summary line says it
_KIND_LABELS = {
    "sms": "SMS id",
    "reference": "SMS reference",
    "task": "task id",
    "viber": "Viber id",
    "viber_reference": "Viber reference",
}


def _counted(n: int, kind: str) -> str:
    label = _KIND_LABELS.get(kind, kind)
    return f"{n} {label}{'' if n == 1 else 's'}"


def run_legacy(
    settings: Settings,
    sms_ids: Iterable[int | str] = (),
    references: Iterable[str] = (),
    task_ids: Iterable[int | str] = (),
    viber_ids: Iterable[int | str] = (),
    viber_references: Iterable[str] = (),
    *,
    transport=None,
    finish: Callable[[DataDir], object] | None = None,
    data_dir: DataDir | None = None,
) -> LookupReport:
    """Legacy REST lookups: land, transform and write `legacy_sms` / `legacy_tasks` /
    `legacy_viber`; `finish(data_dir)` runs under the lock at the end (see `run_sync`).
    Bad ids raise ValueError before anything is asked; a refused key raises the client's
    `BSGAuthError` (what landed before it stays in raw)."""
    asked = check_lookups(
        {
            "sms_ids": sms_ids,
            "references": references,
            "task_ids": task_ids,
            "viber_ids": viber_ids,
            "viber_references": viber_references,
        }
    )
    data_dir = data_dir or DataDir(settings.data_dir)
    data_dir.check_writable()
    started = time.perf_counter()
    report = LookupReport(run_id=new_run_id())
    kinds = {a: v for s in REGISTRY.planned(Planning.LOOKUP) for a, v in s.lookups.items()}
    report.asked = {kinds.get(a, a): len(values) for a, values in asked.items() if values}
    with sync_lock(data_dir), BSGClient.from_settings(settings, transport=transport) as client:
        data_dir.clean_temporary()
        raw_store = landing_store(data_dir, settings, REGISTRY)
        result = extract_legacy(client, raw_store, report.run_id, REGISTRY, **asked)
        _write_pages(data_dir, raw_store, _paths(result), settings, report)
        if finish is not None:
            finish(data_dir)
    report.landed = dict(result.landed)
    report.not_found = list(result.not_found)
    report.errors = list(result.errors)
    report.tasks_answered_as_sms = list(result.tasks_answered_as_sms)
    report.notices += notices(report.transform)
    report.seconds = time.perf_counter() - started
    return report
