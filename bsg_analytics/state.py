"""Sync state under ``D/state/``: the watermark, the open campaigns, and a per-run checkpoint.

Files (JSON, each written whole and atomically through `DataDir.write_bytes`)::

    D/state/sync.json              {"watermark", "open_campaigns", "updated_at", "last_run_id"}
    D/state/run.json               the checkpoint of the run in progress: its run id, range,
                                   plan (window keys and bounds) and the keys done so far
    D/state/runs/<run_id>.json     each finished run's checkpoint, kept for the record

How a run uses it (the flow)::

    state = SyncState.load(data_dir)
    run = state.resume()                      # the unfinished run, or None
    if run is None:
        plan = plan_windows(settings, state, since, until, now)
        run = state.start_run(run_id, plan.windows, plan.since, plan.until)
    for window in run.pending():              # in parallel if you like
        ... extract, transform, write the window's tables ...
        state.mark_window_done(window.key)    # only AFTER its tables are written
    state.record_campaigns(statuses)          # open (non-final) campaigns to re-read
    state.finish_run()                        # watermark := run.until; checkpoint archived

A run killed at any moment leaves ``run.json`` behind; the next run resumes it: the same run
id, the same windows, skipping those marked done. A window is marked done only once its data
is written, so state is never ahead of the data: a window cut off mid-way is read again, and
the tables' merge (latest row per key) makes the second read replace the first, not double it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson

from bsg_analytics.storage import STATE, DataDir
from bsg_client.windows import Window
from schemas.statuses import FINAL_CAMPAIGN_STATUSES

SYNC_FILE = "sync.json"
RUN_FILE = "run.json"
RUNS_DIR = "runs"
VERSION = 1


class StateError(RuntimeError):
    """The state files are unreadable or a call came out of order."""


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment else None


def _parse(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text).astimezone(UTC) if text else None


@dataclass
class RunCheckpoint:
    run_id: str
    windows: list[Window]
    since: datetime | None = None
    until: datetime | None = None
    done: set[str] = field(default_factory=set)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    resumed: int = 0  # how many times this run was picked up again
    campaign_windows: list[Window] = field(default_factory=list)
    request: tuple[str | None, str | None] = (None, None)

    @property
    def keys(self) -> list[str]:
        """Every planned window key (message windows, then campaign windows)."""
        seen = dict.fromkeys(w.key for w in [*self.windows, *self.campaign_windows])
        return list(seen)

    def belongs(self, key: str) -> str | None:
        """The planned window key that `key` names: the key itself, or a job key ending in
        ``/<window key>`` (``messages/<key>``, ``campaigns/sms/<key>``)."""
        wkey = key.rsplit("/", 1)[-1]
        return wkey if wkey in set(self.keys) else None

    def _window_done(self, wkey: str) -> bool:
        return wkey in self.done or any(d.rsplit("/", 1)[-1] == wkey for d in self.done)

    def pending(self) -> list[Window]:
        """Message windows with no done key yet."""
        return [w for w in self.windows if not self._window_done(w.key)]

    @property
    def is_complete(self) -> bool:
        return all(self._window_done(k) for k in self.keys)

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "version": VERSION,
                "run_id": self.run_id,
                "since": _iso(self.since),
                "until": _iso(self.until),
                "started_at": _iso(self.started_at),
                "resumed": self.resumed,
                "request": list(self.request),
                "plan": self.keys,
                "windows": [w.to_dict() for w in self.windows],
                "campaign_windows": [w.to_dict() for w in self.campaign_windows],
                "done": sorted(self.done),
            },
            option=orjson.OPT_INDENT_2,
        )

    @classmethod
    def from_json(cls, raw: bytes) -> RunCheckpoint:
        data = orjson.loads(raw)
        windows = [Window.from_dict(w) for w in data["windows"]]
        return cls(
            run_id=data["run_id"],
            windows=windows,
            since=_parse(data.get("since")),
            until=_parse(data.get("until")),
            done=set(data.get("done", ())),
            started_at=_parse(data.get("started_at")) or datetime.now(UTC),
            resumed=int(data.get("resumed", 0)),
            campaign_windows=[Window.from_dict(w) for w in data.get("campaign_windows", ())],
            request=tuple(data.get("request") or (None, None)),  # type: ignore[arg-type]
        )


class SyncState:
    """The state of one data directory. Thread-safe within a process; one sync at a time
    per data directory (the flow holds the sync lock)."""

    def __init__(self, data_dir: DataDir):
        self.data_dir = data_dir
        self.watermark: datetime | None = None
        self.open_campaigns: dict[int, str] = {}
        self.last_run_id: str | None = None
        self.run: RunCheckpoint | None = None
        self._lock = threading.RLock()

    # files --------------------------------------------------------------------------------
    def _path(self, *parts: str) -> str:
        return self.data_dir.path(STATE, *parts)

    @classmethod
    def load(cls, data_dir: DataDir) -> SyncState:
        state = cls(data_dir)
        sync_path, run_path = state._path(SYNC_FILE), state._path(RUN_FILE)
        try:
            if data_dir.exists(sync_path):
                data = orjson.loads(data_dir.read_bytes(sync_path))
                state.watermark = _parse(data.get("watermark"))
                state.open_campaigns = {
                    int(k): str(v) for k, v in (data.get("open_campaigns") or {}).items()
                }
                state.last_run_id = data.get("last_run_id")
            if data_dir.exists(run_path):
                state.run = RunCheckpoint.from_json(data_dir.read_bytes(run_path))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise StateError(
                f"state files under {data_dir.uri(STATE)} are unreadable: {exc}"
            ) from None
        return state

    def _save_sync(self) -> None:
        self.data_dir.write_bytes(
            self._path(SYNC_FILE),
            orjson.dumps(
                {
                    "version": VERSION,
                    "watermark": _iso(self.watermark),
                    "open_campaigns": {str(k): v for k, v in sorted(self.open_campaigns.items())},
                    "last_run_id": self.last_run_id,
                    "updated_at": _iso(datetime.now(UTC)),
                },
                option=orjson.OPT_INDENT_2,
            ),
        )

    def _save_run(self) -> None:
        if self.run is not None:
            self.data_dir.write_bytes(self._path(RUN_FILE), self.run.to_json())

    # runs ---------------------------------------------------------------------------------
    def resume(self) -> RunCheckpoint | None:
        """The unfinished run left by a killed sync (counted as resumed), or None."""
        with self._lock:
            if self.run is None:
                return None
            self.run.resumed += 1
            self._save_run()
            return self.run

    def start_run(
        self,
        run_id_or_plan,
        windows: Iterable[Window] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> RunCheckpoint:
        """Record a plan before any window is read, and return its checkpoint.

        Either ``start_run(run_id, windows, since, until)``, or ``start_run(plan)`` with a
        `bsg_analytics.extract.Plan`: then an unfinished run asked with the same
        since/until (``plan.request``) is resumed (same run id, its own windows, done ones
        kept) and returned instead; otherwise a new run id is made. An unfinished run that is
        not resumed is replaced: the watermark did not move for it, so an incremental sync
        still covers what it missed.
        """
        from bsg_analytics.raw import new_run_id

        with self._lock:
            if isinstance(run_id_or_plan, str):
                run_id, plan = run_id_or_plan, None
            else:
                plan, run_id = run_id_or_plan, None
                if self.run is not None and tuple(self.run.request) == tuple(plan.request):
                    return self.resume()  # type: ignore[return-value]
                run_id = new_run_id()
                windows, since, until = plan.windows, plan.since, plan.until
            windows = list(windows or [])
            self.run = RunCheckpoint(
                run_id=run_id,
                windows=windows,
                since=since or (windows[0].start if windows else None),
                until=until or (windows[-1].end if windows else None),
                campaign_windows=list(getattr(plan, "campaign_windows", []) or []),
                request=tuple(getattr(plan, "request", (None, None))),  # type: ignore[arg-type]
            )
            self._save_run()
            return self.run

    def mark_window_done(self, key: str) -> None:
        """Call only after the window's tables are written."""
        with self._lock:
            if self.run is None:
                raise StateError("mark_window_done without a run in progress")
            if self.run.belongs(key) is None:
                raise StateError(f"window {key} is not in the plan of run {self.run.run_id}")
            self.run.done.add(key)
            self._save_run()

    def is_done(self, key: str) -> bool:
        """Whether exactly this key (a window key or a job key) was marked done."""
        return self.run is not None and key in self.run.done

    is_window_done = is_done

    def record_campaigns(self, statuses: Mapping[int | str, str | None]) -> None:
        """Update the open set from campaign statuses seen: non-final ones are (still)
        open, final ones (stopped, done) leave it. Saved at once."""
        with self._lock:
            for cid, status in statuses.items():
                if status in FINAL_CAMPAIGN_STATUSES:
                    self.open_campaigns.pop(int(cid), None)
                else:
                    self.open_campaigns[int(cid)] = str(status)
            self._save_sync()

    def finish_run(
        self,
        watermark: datetime | None = None,
        open_campaigns: Mapping[int, str] | Iterable[int] | None = None,
    ) -> None:
        """All windows done: move the watermark (to `watermark`, default the run's end; it
        never moves back, nor over a gap before the run's start), replace the open campaign
        set when `open_campaigns` is given (ids, or id -> status), archive the checkpoint
        and clear it."""
        with self._lock:
            run = self.run
            if run is None:
                raise StateError("finish_run without a run in progress")
            if not run.is_complete:
                raise StateError(f"run {run.run_id} still has {len(run.pending())} windows to do")
            if open_campaigns is not None:
                if isinstance(open_campaigns, Mapping):
                    self.open_campaigns = {int(k): str(v) for k, v in open_campaigns.items()}
                else:
                    self.open_campaigns = {
                        int(i): self.open_campaigns.get(int(i), "open") for i in open_campaigns
                    }
            new = watermark or run.until
            # a range that starts after the watermark leaves a gap: keep the old watermark
            contiguous = self.watermark is None or (
                run.since is not None and run.since <= self.watermark
            )
            if new is not None and contiguous and (self.watermark is None or new > self.watermark):
                self.watermark = new.astimezone(UTC)
            self.last_run_id = run.run_id
            self._save_sync()
            self.data_dir.write_bytes(self._path(RUNS_DIR, f"{run.run_id}.json"), run.to_json())
            self.data_dir.rm(self._path(RUN_FILE))
            self.run = None
