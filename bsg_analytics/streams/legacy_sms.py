"""The `legacy_sms` stream: single SMS looked up on the legacy REST API by id
(``GET /rest/sms/{id}``) or by reference (``GET /rest/sms/reference/{ref}``), for the ids a
person asks for (`bsg-analytics legacy --sms-id ... --reference ...`)."""

from __future__ import annotations

import time
from functools import partial

from bsg_analytics.extract import LegacyResult, lookup
from bsg_analytics.raw import RawStore
from bsg_analytics.streams.base import Job, Planning, Stream, Written
from bsg_analytics.streams.legacy import LEGACY_TRANSFORM
from bsg_client import BSGClient

NAME = "legacy_sms"
# lookup argument -> the job variant it becomes
LOOKUPS = {"sms_ids": "sms", "references": "reference"}


def lookup_sms(
    client: BSGClient, raw_store: RawStore, job: Job, run_id: str, *, parallel: int, attempt: int
) -> LegacyResult:
    """Each id (variant ``sms``) or reference (``reference``) of the job, one call each."""
    result = LegacyResult()
    started = time.perf_counter()
    for value in job.ids:
        key = str(value)
        if job.variant == "reference":
            got = lookup(
                client, raw_store, result, run_id, "reference", key, f"ref-{key}", 0,
                partial(client.legacy_sms_by_reference, key),
            )  # fmt: skip
        else:
            got = lookup(
                client, raw_store, result, run_id, "sms", key, f"sms-{key}", 0,
                partial(client.legacy_sms, key),
            )  # fmt: skip
        if got == "not_found":
            result.not_found.append((job.variant or "sms", key))
    result.seconds = time.perf_counter() - started
    return result


STREAM = Stream(
    name=NAME,
    endpoints=("/rest/sms/{id}", "/rest/sms/reference/{reference}"),
    planning=Planning.LOOKUP,
    group="sms-<id> / ref-<reference>",
    transform=LEGACY_TRANSFORM,
    extract=lookup_sms,
    written=Written.AT_END,
    lookups=LOOKUPS,
    description="single SMS looked up on the legacy REST API",
)
