"""The `legacy_sms` stream: single SMS looked up on the legacy REST API by id
(``GET /rest/sms/{id}``) or by reference (``GET /rest/sms/reference/{ref}``), for the ids a
person asks for (`bsg-analytics legacy --sms-id ... --reference ...`)."""

from __future__ import annotations

from functools import partial

from bsg_analytics.extract import LegacyResult, lookup, lookup_each
from bsg_analytics.raw import RawStore
from bsg_analytics.streams.base import Job, Planning, Stream, Written
from bsg_analytics.streams.legacy import LEGACY_TRANSFORM
from bsg_client import BSGClient

NAME = "legacy_sms"
# lookup argument -> the job variant it becomes
LOOKUPS = {"sms_ids": "sms", "references": "reference"}


# job variant -> raw group prefix, and the client's call that looks a key up
_PATHS = {"sms": ("sms", "legacy_sms"), "reference": ("ref", "legacy_sms_by_reference")}


def lookup_sms(
    client: BSGClient, raw_store: RawStore, job: Job, run_id: str, *, parallel: int, attempt: int
) -> LegacyResult:
    """Each id (variant ``sms``) or reference (``reference``) of the job, one call each."""
    kind = job.variant or "sms"
    prefix, method = _PATHS[kind]
    call = getattr(client, method)

    def answer(result: LegacyResult, key: str) -> str:
        return lookup(
            client, raw_store, result, run_id, kind, key, f"{prefix}-{key}", 0,
            partial(call, key),
        )  # fmt: skip

    return lookup_each(job.ids, kind, answer)


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
