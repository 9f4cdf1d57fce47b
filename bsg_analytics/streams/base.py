"""What a stream is: one declaration per stream (`Stream`), the jobs it is read in (`Job`),
and the registry the pipeline iterates (`Registry`).

A stream is declared once, in a file of its own under `bsg_analytics/streams/`: its name
(the folder of its raw pages, `D/raw/<name>/`), the endpoints it reads, how it is planned,
its raw group key, the transform its pages go through, the tables that transform writes, and
whether the sync's writer streams it window by window or writes it at the end of the run.
Planning (`bsg_analytics.planning`), `pipeline.run_job`, the writer's routing, `batch`
(`transform_pages`), `rebuild` and the raw store iterate a `Registry` of them; the default
one is `bsg_analytics.streams.REGISTRY`.

Plannings:

- ``window``: jobs by time window, on the fixed grid (`bsg_client.windows`), checkpointed
  one by one; `window_days` gives a window's length, `variants` the reads per window.
- ``ids``: jobs by id, chosen while the run goes (campaign details: the campaigns the list
  jobs saw, and those still open); read again every run, never checkpointed.
- ``lookup``: jobs by the ids a person asks for (`bsg-analytics lookup ...`).
- ``snapshot``: one read per sync of something that has no history of its own (the
  balance), never checkpointed: each sync adds one observation.

A window stream may read each window through an asynchronous job of the API (the
statistics export: create, poll, fetch, delete); its `cleanup` runs once a sync has
finished, to let go of what a run before it left behind (export keys of windows that were
planned again).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import tzinfo
from enum import StrEnum
from typing import Any, Protocol

import polars as pl

from bsg_analytics.raw import RawPage, RawStore
from bsg_analytics.schemas.tables import QUARANTINE, Table
from bsg_analytics.settings import Settings
from bsg_analytics.state import job_key
from bsg_analytics.transforms.common import QuarantineRow, TransformReport
from bsg_client import BSGClient, Window


class Planning(StrEnum):
    WINDOW = "window"
    IDS = "ids"
    LOOKUP = "lookup"
    SNAPSHOT = "snapshot"


class Written(StrEnum):
    STREAMED = "streamed"  # each window is written (and checkpointed) as soon as it lands
    AT_END = "at end"  # the pages are kept and written once the stream's reads are done


@dataclass(frozen=True)
class Job:
    """One unit of extraction: a window of a window stream (once per variant), or a chunk of
    ids of an ids/lookup stream. `key` is what the checkpoint records."""

    stream: str
    key: str
    window: Window | None = None
    variant: str | None = None
    ids: tuple[Any, ...] = ()


class Extract(Protocol):
    def __call__(
        self,
        client: BSGClient,
        raw_store: RawStore,
        job: Job,
        run_id: str,
        *,
        parallel: int,
        attempt: int,
    ) -> Any: ...


@dataclass
class TransformOutput:
    """A transform's tables (name -> frame) and the records it quarantined."""

    tables: dict[str, pl.DataFrame]
    quarantine: list[QuarantineRow] = field(default_factory=list)


TransformFn = Callable[[list[RawPage], tzinfo, TransformReport], TransformOutput]


@dataclass(frozen=True)
class Transform:
    """A pure function from raw pages (of one or more streams, in landing order) to tables:
    streams whose pages must meet in one batch share one (campaign lists and details)."""

    name: str
    fn: TransformFn
    tables: tuple[Table, ...]

    def __call__(
        self, pages: list[RawPage], zone: tzinfo, report: TransformReport
    ) -> TransformOutput:
        return self.fn(pages, zone, report)


@dataclass
class RunContext:
    """What the jobs of one sync learn along the way, for the streams planned after them:
    campaigns seen (id -> status) by list and detail jobs, details that answered 404, and the
    campaigns the messages read belong to (id -> message types: a Viber or HLR campaign is
    never listed, so its detail is planned from its messages)."""

    open_campaigns: dict[int, str] = field(default_factory=dict)  # open at the plan's start
    seen: dict[int, str] = field(default_factory=dict)
    not_found: set[int] = field(default_factory=set)
    message_campaigns: dict[int, set[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Stream:
    """One stream, declared once (module doc)."""

    name: str
    endpoints: tuple[str, ...]
    planning: Planning
    group: str  # the raw group key, as a pattern: "<window key>", "<campaign id>", ...
    transform: Transform
    extract: Extract
    written: Written = Written.STREAMED
    # window streams: a window's length in days, and the reads of each window
    window_days: Callable[[Settings], int] | None = None
    variants: tuple[str, ...] = ()
    # window streams of messages: an incremental run re-reads only the spans of the open
    # index (`bsg_analytics.lookback`) besides what was created since, not the fixed look-back
    adaptive: bool = False
    # ids streams: the ids to read, from what the run learnt; ids per job
    plan_ids: Callable[[RunContext], Sequence[Any]] | None = None
    chunk: int = 25
    # lookup streams: the lookup argument (`sms_ids`, ...) -> the job variant it becomes
    lookups: Mapping[str, str] = field(default_factory=dict)
    # what a finished job tells the streams after it (campaign statuses seen, ...)
    observe: Callable[[Any, RunContext], None] | None = None
    # the job keys to start before any other of the sync (an asynchronous job an interrupted
    # run left pending: it holds one of the API's places until it is resumed)
    resume_first: Callable[[RawStore], set[str]] | None = None
    # whether a sync reads it at all (a setting may turn an optional stream off)
    enabled: Callable[[Settings], bool] | None = None
    # once a sync has finished: cleanup(client, raw_store, the job keys of its plan)
    cleanup: Callable[[BSGClient, RawStore, frozenset[str]], None] | None = None
    # its pages hold phone numbers or message texts (`BSG_PII` scrubs them as they land)
    personal: bool = False
    description: str = ""

    @property
    def tables(self) -> tuple[Table, ...]:
        return self.transform.tables

    def is_enabled(self, settings: Settings) -> bool:
        return self.enabled is None or self.enabled(settings)

    def job_keys(self, window: Window) -> list[tuple[str, str | None]]:
        """(job key, variant) of each read of `window`."""
        if not self.variants:
            return [(job_key(self.name, window.key), None)]
        return [(job_key(self.name, window.key, v), v) for v in self.variants]

    def window_jobs(self, windows: Iterable[Window]) -> list[Job]:
        return [
            Job(self.name, key, window=w, variant=v) for w in windows for key, v in self.job_keys(w)
        ]

    def id_jobs(self, ids: Sequence[Any]) -> list[Job]:
        step = max(1, self.chunk)
        return [
            Job(self.name, f"{self.name}/{i}", ids=tuple(ids[i : i + step]))
            for i in range(0, len(ids), step)
        ]

    def snapshot_jobs(self) -> list[Job]:
        """The one read of a snapshot stream in a sync."""
        return [Job(self.name, f"{self.name}/now")]

    def lookup_jobs(self, asked: Mapping[str, Sequence[Any]]) -> list[Job]:
        """One job per lookup argument of this stream that was given ids."""
        return [
            Job(self.name, f"{self.name}/{variant}", variant=variant, ids=tuple(asked[arg]))
            for arg, variant in self.lookups.items()
            if asked.get(arg)
        ]


class Registry(Mapping[str, Stream]):
    """The streams a pipeline reads, in the order they are read, by name."""

    def __init__(self, streams: Iterable[Stream]):
        self._streams: dict[str, Stream] = {}
        for stream in streams:
            if stream.name in self._streams:
                raise ValueError(f"stream {stream.name!r} is declared twice")
            self._streams[stream.name] = stream

    def __getitem__(self, name: str) -> Stream:
        return self._streams[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._streams)

    def __len__(self) -> int:
        return len(self._streams)

    def __eq__(self, other: object) -> bool:
        return self is other

    def __hash__(self) -> int:  # a registry is a value of its own: a dataclass default
        return id(self)

    def with_streams(self, *streams: Stream) -> Registry:
        """This registry and `streams` after it (a test's toy stream, say)."""
        return Registry([*self.values(), *streams])

    def personal(self) -> list[str]:
        """The streams whose pages hold phones or message texts (`Stream.personal`)."""
        return [s.name for s in self.values() if s.personal]

    def planned(self, planning: Planning, settings: Settings | None = None) -> list[Stream]:
        """The streams of `planning`, in order; with `settings`, those it enables."""
        return [
            s
            for s in self.values()
            if s.planning == planning and (settings is None or s.is_enabled(settings))
        ]

    @property
    def lookup_args(self) -> list[str]:
        """Every lookup argument the lookup streams take."""
        return [arg for s in self.planned(Planning.LOOKUP) for arg in s.lookups]

    @property
    def transforms(self) -> list[Transform]:
        """Each transform once, in the order of the first stream that uses it."""
        out: dict[str, Transform] = {}
        for stream in self.values():
            out.setdefault(stream.transform.name, stream.transform)
        return list(out.values())

    @property
    def tables(self) -> dict[str, Table]:
        """Every table the streams write, and `quarantine`, by name."""
        out = {t.name: t for tr in self.transforms for t in tr.tables}
        out[QUARANTINE.name] = QUARANTINE
        return out
