"""The `legacy_task` stream: bulk tasks looked up on the legacy REST API by task id
(`bsg-analytics lookup --task ...`), ``GET /rest/sms/task/{id}`` (the published path: the
task with its counters `total`, `queued`, `accepted`, `enroute`, ...) and, when that is not
found, ``GET /rest/sms/{id}`` (the older page's shape; an SMS body answered there lands as
`legacy_sms`)."""

from __future__ import annotations

from functools import partial

from bsg_analytics.extract import LegacyResult, lookup, lookup_each
from bsg_analytics.raw import RawStore
from bsg_analytics.streams.base import Job, Planning, Stream, Written
from bsg_analytics.streams.legacy import LEGACY_TRANSFORM, id_key, unique
from bsg_client import BSGClient

NAME = "legacy_task"
LOOKUPS = {"task_ids": "task"}


def lookup_tasks(
    client: BSGClient, raw_store: RawStore, job: Job, run_id: str, *, parallel: int, attempt: int
) -> LegacyResult:
    """Each task id of the job: the task path first, then the plain SMS path."""

    def answer(result: LegacyResult, key: str) -> str:
        got = "not_found"
        for seq, shape in enumerate(("task", "plain")):
            got = lookup(
                client, raw_store, result, run_id, "task", key, f"task-{key}", seq,
                partial(client.legacy_task, key, shape),
            )  # fmt: skip
            if got != "not_found":
                break
        return got

    return lookup_each(unique(job.ids, id_key), "task", answer)


STREAM = Stream(
    name=NAME,
    personal=True,
    endpoints=("/rest/sms/task/{id}", "/rest/sms/{id}"),
    planning=Planning.LOOKUP,
    group="task-<id>",
    transform=LEGACY_TRANSFORM,
    extract=lookup_tasks,
    written=Written.AT_END,
    lookups=LOOKUPS,
    description="bulk tasks looked up on the legacy REST API",
)
