"""Sync state under ``D/state/``: the watermark, the open campaigns, and a per-run checkpoint.

Files (JSON, each written whole and atomically through `DataDir.write_bytes`)::

    D/state/sync.json              {"version", "watermark", "open_campaigns" (id -> status),
                                    "last_run" (id, range, when, rows), "updated_at"}
    D/state/run.json               the checkpoint of the run in progress: its request, range,
                                   planned job keys, and each done job with when its read began
    D/state/runs/<run_id>.json     each finished (or retired) run's checkpoint, for the record
    D/state/exports.json           the statistics export jobs made and not yet landed: job key
                                   -> {"key", "request", "created_at"} (`ExportKeys`)
    D/state/aside-<time>/          state set aside by `bsg-analytics reset` (never deleted)

How a run uses it (`bsg_analytics.pipeline`)::

    state = SyncState.load(data_dir)
    plan = plan_windows(settings, state, since, until, now)   # takes over state.run, see below
    run = state.start_run(plan)
    for job in plan jobs not in run.done:                     # in parallel if you like
        ... extract, transform, write the job's tables ...
        state.mark_done(job.key, read_at)                     # only AFTER its tables are written
    state.finish_run(open_campaigns)                          # watermark moves; checkpoint archived

Resuming is the normal path, never an error. A run killed at any moment leaves ``run.json``;
the next run *takes it over* when it asks the same (``since``/``until`` as given): the old
run's windows, its done jobs kept (with the time each was read), the last one (unless done)
and new ones planned again up to the new "now" (on the fixed grid of
`bsg_client.windows.GRID_ORIGIN`).
A run that asks something else *retires* it: the old run's unfinished windows join the new
plan, so nothing it promised is dropped. A job is marked done only once its data
is written, so state is never ahead of the data; a window cut off mid-way is read again, and
the tables' merge (latest row per key) makes the second read replace the first, not double it.

The watermark is the earliest moment any window of the finished run was read (a window done
by a killed run keeps its own, older, time). Everything created before it has been read at
or after it, so the next incremental run, from ``watermark - look-back``, misses no status
that could still change.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from bsg_analytics.schemas.statuses import campaign_is_open
from bsg_analytics.storage import STATE, DataDir
from bsg_client.windows import Window

SYNC_FILE = "sync.json"
EXPORTS_FILE = "exports.json"
RUN_FILE = "run.json"
RUNS_DIR = "runs"
ASIDE_PREFIX = "aside-"
VERSION = 2  # 1: "done" was a list of keys and open campaigns were all "open"

RESET_HINT = "`bsg-analytics reset` sets the state aside (raw pages and tables are kept)"


class StateError(RuntimeError):
    """The state files are unreadable or a call came out of order."""


def iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment else None


def parse_time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text).astimezone(UTC) if text else None


def job_key(stream: str, window_key: str, variant: str | None = None) -> str:
    """The key of a window job: ``<stream>/<window>``, or ``<stream>/<variant>/<window>``
    for a stream read once per variant (campaign lists: one per type)."""
    return f"{stream}/{variant}/{window_key}" if variant else f"{stream}/{window_key}"


# Where a checkpoint file keeps each window stream's windows: version 2 named the two
# streams' lists; a stream added since goes under "stream_windows" (same file version).
_WINDOW_FIELDS = {"messages": "windows", "campaigns": "campaign_windows"}


@dataclass
class RunCheckpoint:
    """One run's plan and progress. `jobs` are the planned job keys (`job_key`: e.g.
    ``messages/<window>``, ``campaigns/<type>/<window>``); `done` maps each written job to
    when its read began; `stream_windows` holds each window stream's windows."""

    run_id: str
    stream_windows: dict[str, list[Window]] = field(default_factory=dict)
    since: datetime | None = None
    until: datetime | None = None
    done: dict[str, datetime] = field(default_factory=dict)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    resumed: int = 0  # how many runs took this plan over before it finished
    request: tuple[str | None, str | None] = (None, None)
    jobs: list[str] = field(default_factory=list)
    took_over: list[str] = field(default_factory=list)  # runs whose plan this one continues
    # campaigns the done list jobs saw (id -> status): a run that takes this one over reads
    # their details again without reading their lists again
    campaigns: dict[int, str] = field(default_factory=dict)
    # what it re-reads of what was created before the last run (`Plan.lookback`): "full",
    # "adaptive" or "range"; a checkpoint of an older version re-read the fixed look-back
    lookback: str = "full"

    @property
    def windows(self) -> list[Window]:
        """The message windows."""
        return self.windows_of("messages")

    @property
    def campaign_windows(self) -> list[Window]:
        """The campaign list windows."""
        return self.windows_of("campaigns")

    def windows_of(self, stream: str) -> list[Window]:
        return list(self.stream_windows.get(stream, ()))

    def pending_jobs(self) -> list[str]:
        return [k for k in self.jobs if k not in self.done]

    def pending_windows(self, stream: str) -> list[Window]:
        """The windows of `stream` with a job (of any variant) not done yet."""
        pending = set(self.pending_jobs())
        out = []
        for w in self.windows_of(stream):
            keys = [k for k in self.jobs if k.startswith(f"{stream}/") and k.endswith(w.key)]
            if not keys or pending.intersection(keys):
                out.append(w)
        return out

    @property
    def is_complete(self) -> bool:
        return all(k in self.done for k in self.jobs)

    def read_since(self) -> datetime | None:
        """The earliest moment a done job's read began."""
        return min(self.done.values(), default=None)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "version": VERSION,
            "run_id": self.run_id,
            "request": list(self.request),
            "since": iso(self.since),
            "until": iso(self.until),
            "started_at": iso(self.started_at),
            "resumed": self.resumed,
            "took_over": list(self.took_over),
            "jobs": list(self.jobs),
            "lookback": self.lookback,
        }
        for stream, name in _WINDOW_FIELDS.items():
            out[name] = [w.to_dict() for w in self.windows_of(stream)]
        others = {s: ws for s, ws in self.stream_windows.items() if s not in _WINDOW_FIELDS}
        if others:
            out["stream_windows"] = {s: [w.to_dict() for w in ws] for s, ws in others.items()}
        out["done"] = {k: iso(v) for k, v in sorted(self.done.items())}
        out["campaigns"] = {str(k): v for k, v in sorted(self.campaigns.items())}
        return out

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict(), option=orjson.OPT_INDENT_2)

    @classmethod
    def from_json(cls, raw: bytes) -> RunCheckpoint:
        data = orjson.loads(raw)
        if not isinstance(data, dict):
            raise TypeError("a run checkpoint is a JSON object")
        stream_windows = {
            stream: [Window.from_dict(w) for w in data.get(name) or ()]
            for stream, name in _WINDOW_FIELDS.items()
        }
        if "windows" not in data:
            raise KeyError("windows")
        for stream, ws in (data.get("stream_windows") or {}).items():
            stream_windows[str(stream)] = [Window.from_dict(w) for w in ws]
        started = parse_time(data.get("started_at")) or datetime.now(UTC)
        done_raw = data.get("done") or {}
        if isinstance(done_raw, list):  # version 1: keys only; read when the run started
            done = {str(k): started for k in done_raw}
        else:
            done = {str(k): parse_time(v) or started for k, v in done_raw.items()}
        jobs = [str(k) for k in data.get("jobs") or ()]
        if not jobs:  # version 1 kept window keys ("plan"); its jobs are the done ones' peers
            jobs = _v1_jobs(stream_windows, done)
        return cls(
            run_id=str(data["run_id"]),
            stream_windows=stream_windows,
            since=parse_time(data.get("since")),
            until=parse_time(data.get("until")),
            done=done,
            started_at=started,
            resumed=int(data.get("resumed", 0)),
            request=tuple(data.get("request") or (None, None)),
            jobs=jobs,
            took_over=[str(r) for r in data.get("took_over") or ()],
            campaigns={int(k): str(v) for k, v in (data.get("campaigns") or {}).items()},
            lookback=str(data.get("lookback") or "full"),
        )


# the campaign list types a version-1 run read, each a job of its own
_V1_CAMPAIGN_TYPES = ("sms", "rcs")


def _v1_jobs(stream_windows: Mapping[str, list[Window]], done: Mapping) -> list[str]:
    """The job keys a version-1 checkpoint planned: its flow named them
    ``messages/<window>`` and ``campaigns/<type>/<window>`` (types sms, rcs)."""
    jobs = [job_key("messages", w.key) for w in stream_windows.get("messages", ())]
    jobs += [
        job_key("campaigns", w.key, t)
        for w in stream_windows.get("campaigns", ())
        for t in _V1_CAMPAIGN_TYPES
    ]
    return list(dict.fromkeys([*jobs, *done]))


@dataclass
class LastRun:
    """What `status` says of the last finished run."""

    run_id: str
    since: datetime | None
    until: datetime | None
    finished_at: datetime | None
    rows: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "since": iso(self.since),
            "until": iso(self.until),
            "finished_at": iso(self.finished_at),
            "rows": dict(self.rows),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LastRun:
        return cls(
            run_id=str(data["run_id"]),
            since=parse_time(data.get("since")),
            until=parse_time(data.get("until")),
            finished_at=parse_time(data.get("finished_at")),
            rows={str(k): int(v) for k, v in (data.get("rows") or {}).items()},
        )


class SyncState:
    """The state of one data directory. Thread-safe within a process; one sync at a time
    per data directory (the pipeline holds the sync lock)."""

    def __init__(self, data_dir: DataDir):
        self.data_dir = data_dir
        self.watermark: datetime | None = None
        self.open_campaigns: dict[int, str] = {}
        self.last_run: LastRun | None = None
        # when the last run that re-read the fixed look-back (or backfilled) began
        self.full_lookback_at: datetime | None = None
        self.run: RunCheckpoint | None = None
        self._lock = threading.RLock()

    @property
    def last_run_id(self) -> str | None:
        return self.last_run.run_id if self.last_run else None

    # files --------------------------------------------------------------------------------
    def _path(self, *parts: str) -> str:
        return self.data_dir.path(STATE, *parts)

    @classmethod
    def load(cls, data_dir: DataDir) -> SyncState:
        state = cls(data_dir)
        for name, read in ((SYNC_FILE, state._read_sync), (RUN_FILE, state._read_run)):
            path = state._path(name)
            if not data_dir.exists(path):
                continue
            try:
                read(data_dir.read_bytes(path))
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as e:
                reason = " ".join(str(e).split())[:200] or type(e).__name__
                raise StateError(
                    f"state file {data_dir.uri(STATE, name)} is unreadable ({reason}); "
                    f"{RESET_HINT}, after which the next sync reads from the start again"
                ) from None
        return state

    def _read_sync(self, raw: bytes) -> None:
        data = orjson.loads(raw)
        if not isinstance(data, dict):
            raise TypeError("sync.json is not a JSON object")
        self.watermark = parse_time(data.get("watermark"))
        self.full_lookback_at = parse_time(data.get("full_lookback_at"))
        self.open_campaigns = {
            int(k): str(v) for k, v in (data.get("open_campaigns") or {}).items()
        }
        if data.get("last_run"):
            self.last_run = LastRun.from_dict(data["last_run"])
        elif data.get("last_run_id"):  # version 1
            self.last_run = LastRun(str(data["last_run_id"]), None, self.watermark, None)

    def _read_run(self, raw: bytes) -> None:
        self.run = RunCheckpoint.from_json(raw)

    def _save_sync(self) -> None:
        self.data_dir.write_bytes(
            self._path(SYNC_FILE),
            orjson.dumps(
                {
                    "version": VERSION,
                    "watermark": iso(self.watermark),
                    "full_lookback_at": iso(self.full_lookback_at),
                    "open_campaigns": {str(k): v for k, v in sorted(self.open_campaigns.items())},
                    "last_run": self.last_run.to_dict() if self.last_run else None,
                    "updated_at": iso(datetime.now(UTC)),
                },
                option=orjson.OPT_INDENT_2,
            ),
        )

    def _save_run(self) -> None:
        if self.run is not None:
            self.data_dir.write_bytes(self._path(RUN_FILE), self.run.to_json())

    def _archive(self, run: RunCheckpoint, outcome: str) -> None:
        body = {**run.to_dict(), "outcome": outcome, "archived_at": iso(datetime.now(UTC))}
        self.data_dir.write_bytes(
            self._path(RUNS_DIR, f"{run.run_id}.json"),
            orjson.dumps(body, option=orjson.OPT_INDENT_2),
        )

    # runs ---------------------------------------------------------------------------------
    def start_run(self, plan) -> RunCheckpoint:
        """Record a plan (`bsg_analytics.planning.Plan`) before any job is read.

        The plan says what became of an unfinished run (`plan.takes_over`: its done jobs are
        in `plan.carried_done` and stay done; `plan.retires`: it is archived as retired, its
        unfinished windows already in the plan). Returns the new checkpoint."""
        with self._lock:
            previous = self.run
            took_over: list[str] = []
            resumed = 0
            if previous is not None:
                if previous.run_id == getattr(plan, "takes_over", None):
                    took_over = [*previous.took_over, previous.run_id]
                    resumed = previous.resumed + 1
                    self._archive(previous, "taken over")
                else:
                    self._archive(previous, "retired")
            self.run = RunCheckpoint(
                run_id=plan.run_id,
                stream_windows={k: list(v) for k, v in plan.stream_windows.items()},
                since=plan.since,
                until=plan.until,
                request=tuple(plan.request),
                jobs=list(plan.job_keys),
                done={k: v for k, v in plan.carried_done.items() if k in set(plan.job_keys)},
                resumed=resumed,
                took_over=took_over,
                campaigns=dict(previous.campaigns) if previous is not None and took_over else {},
                lookback=getattr(plan, "lookback", "full"),
            )
            self._save_run()
            return self.run

    def mark_done(
        self, key: str, read_at: datetime, campaigns: Mapping[int, str] | None = None
    ) -> None:
        """Call only after the job's tables are written; `read_at` is when its read began,
        `campaigns` the campaigns (id -> status) a list job saw."""
        with self._lock:
            if self.run is None:
                raise StateError("mark_done without a run in progress")
            if key not in self.run.jobs:
                raise StateError(f"job {key} is not in the plan of run {self.run.run_id}")
            self.run.done[key] = read_at.astimezone(UTC)
            self.run.campaigns.update({int(k): str(v) for k, v in (campaigns or {}).items()})
            self._save_run()

    def is_done(self, key: str) -> bool:
        """Whether this job key was marked done in the run in progress."""
        return self.run is not None and key in self.run.done

    def finish_run(
        self,
        open_campaigns: Mapping[int, str] | None = None,
        rows: Mapping[str, int] | None = None,
        finished_at: datetime | None = None,
    ) -> None:
        """All jobs done: move the watermark to the earliest moment a job of the run was read
        (capped at the run's end; it never moves back, nor over a gap before the run's start),
        replace the open campaign set when given (id -> status; final ones are left out),
        record the run as the last one, archive the checkpoint and clear it."""
        with self._lock:
            run = self.run
            if run is None:
                raise StateError("finish_run without a run in progress")
            if not run.is_complete:
                left = len(run.pending_jobs())
                raise StateError(f"run {run.run_id} still has {left} jobs to do")
            if open_campaigns is not None:
                self.open_campaigns = {
                    int(k): str(v) for k, v in open_campaigns.items() if campaign_is_open(v)
                }
            candidates = [t for t in (run.until, run.read_since()) if t is not None]
            new = min(candidates) if candidates else None
            # a range that starts after the watermark leaves a gap: keep the old watermark
            contiguous = self.watermark is None or (
                run.since is not None and run.since <= self.watermark
            )
            if new is not None and contiguous and (self.watermark is None or new > self.watermark):
                self.watermark = new.astimezone(UTC)
            if run.lookback == "full":  # the daily safety net counts from here
                self.full_lookback_at = (finished_at or datetime.now(UTC)).astimezone(UTC)
            self.last_run = LastRun(
                run.run_id, run.since, run.until, finished_at or datetime.now(UTC), dict(rows or {})
            )
            self._save_sync()
            self._archive(run, "finished")
            self.data_dir.rm(self._path(RUN_FILE))
            self.run = None

    def record_campaigns(self, statuses: Mapping[int | str, str | None]) -> None:
        """Update the open set from campaign statuses seen: non-final ones are (still)
        open, final ones leave it. Saved at once."""
        with self._lock:
            for cid, status in statuses.items():
                if not campaign_is_open(status):
                    self.open_campaigns.pop(int(cid), None)
                else:
                    self.open_campaigns[int(cid)] = str(status)
            self._save_sync()


def reset_state(data_dir: DataDir, now: datetime | None = None) -> str | None:
    """Set every state file aside under ``D/state/aside-<time>/`` (nothing is deleted, and
    ``D/raw/`` and ``D/parquet/`` are not touched); the next sync then plans from the start,
    as on a new data directory. Returns the folder used, or None when there was no state.
    Hold the sync lock when calling it."""
    stamp = f"{(now or datetime.now(UTC)):%Y%m%dT%H%M%S}Z"
    aside = data_dir.path(STATE, f"{ASIDE_PREFIX}{stamp}")
    moved = 0
    for name in (SYNC_FILE, RUN_FILE):
        src = data_dir.path(STATE, name)
        if data_dir.exists(src):
            data_dir.write_bytes(f"{aside}/{name}", data_dir.read_bytes(src))
            data_dir.rm(src)
            moved += 1
    return data_dir.uri(STATE, f"{ASIDE_PREFIX}{stamp}") if moved else None


def iter_archived_runs(data_dir: DataDir) -> Iterable[dict[str, Any]]:
    """The archived checkpoints under ``D/state/runs/`` that can be read, oldest first."""
    base = data_dir.path(STATE, RUNS_DIR)
    for path in sorted(data_dir.walk_files(base)):
        if not path.endswith(".json"):
            continue
        try:
            data = orjson.loads(data_dir.read_bytes(path))
        except (orjson.JSONDecodeError, OSError):
            continue
        if isinstance(data, dict):
            yield data


class ExportKeys:
    """The keys of the export jobs (`/api/stat/jobs`) made and not yet landed, by job key
    (``D/state/exports.json``): saved the moment the API hands one out, dropped once its
    result is landed. A run killed while an export is pending leaves its key here, and the
    next run polls that key instead of making the export again. Every change reads the file,
    changes it and writes it whole and atomically under one lock of the process, so the
    instances of all threads agree."""

    _lock = threading.Lock()  # one for the process: a change is read, modify, write

    def __init__(self, data_dir: DataDir):
        self.data_dir = data_dir
        self._path = data_dir.path(STATE, EXPORTS_FILE)

    def _read(self) -> dict[str, dict[str, Any]]:
        if not self.data_dir.exists(self._path):
            return {}
        try:
            data = orjson.loads(self.data_dir.read_bytes(self._path))
            if not isinstance(data, dict):
                raise TypeError("not a JSON object")
            return {str(k): dict(v) for k, v in data.items() if isinstance(v, dict)}
        except (orjson.JSONDecodeError, TypeError, ValueError) as e:
            raise StateError(
                f"state file {self.data_dir.uri(STATE, EXPORTS_FILE)} is unreadable ({e}); "
                "delete it: its exports are made again (the API lets the old ones expire)"
            ) from None

    def get(self, job_key: str) -> str | None:
        """The export key saved for `job_key`, if any."""
        with self._lock:
            key = self._read().get(job_key, {}).get("key")
        return key if isinstance(key, str) and key else None

    def pending(self) -> dict[str, dict[str, Any]]:
        """Job key -> {key, request, created_at}: what `bsg-analytics status` shows."""
        with self._lock:
            return dict(sorted(self._read().items()))

    def put(self, job_key: str, key: str, request: Mapping[str, Any]) -> None:
        entry = {"key": key, "request": dict(request), "created_at": iso(datetime.now(UTC))}
        with self._lock:
            keys = self._read()
            keys[job_key] = entry
            self._write(keys)

    def drop(self, job_key: str) -> None:
        with self._lock:
            keys = self._read()
            if keys.pop(job_key, None) is not None:
                self._write(keys)

    def _write(self, keys: Mapping[str, Any]) -> None:
        self.data_dir.write_bytes(self._path, orjson.dumps(keys, option=orjson.OPT_INDENT_2))
