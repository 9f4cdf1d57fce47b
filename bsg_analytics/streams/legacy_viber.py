"""The `legacy_viber` stream: Viber messages looked up on the legacy REST API by id
(``GET /rest/viber/{id}``, raw group ``viber-<id>``) or by reference
(``GET /rest/viber/reference/{ref}``, group ``vref-<ref>``), for the ids a person asks for
(`bsg-analytics lookup --viber-id ... --viber-reference ...`); each answer carries the SMS
the message fell back to (`alt_route`), into the same `legacy_viber` row."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import Any

from bsg_analytics.extract import LegacyResult
from bsg_analytics.raw import RawStore
from bsg_analytics.streams.base import Job, Planning, Stream, Written
from bsg_analytics.streams.legacy import LEGACY_TRANSFORM, NOT_FOUND, id_key, land_lookup, unique
from bsg_client import BSGClient

NAME = "legacy_viber"
LOOKUPS = {"viber_ids": "viber", "viber_references": "viber_reference"}

# job variant -> raw group prefix, the client's call that looks a key up, the key's form
_PATHS: dict[str, tuple[str, str, Callable[[Any], str]]] = {
    "viber": ("viber", "legacy_viber", id_key),
    "viber_reference": ("vref", "legacy_viber_by_reference", str),
}


def lookup_viber(
    client: BSGClient, raw_store: RawStore, job: Job, run_id: str, *, parallel: int, attempt: int
) -> LegacyResult:
    """Each id (variant ``viber``) or reference (``viber_reference``) of the job, one call
    each; error 40 (message not found) and HTTP 404 are not found."""
    started = time.perf_counter()
    kind = job.variant or "viber"
    prefix, method, key_of = _PATHS[kind]
    call = getattr(client, method)
    result = LegacyResult()
    for key in unique(job.ids, key_of):
        got = land_lookup(
            client, raw_store, result, run_id, kind, key, f"{prefix}-{key}",
            partial(call, key), NAME,
        )  # fmt: skip
        if got == NOT_FOUND:
            result.not_found.append((kind, key))
    result.seconds = time.perf_counter() - started
    return result


STREAM = Stream(
    name=NAME,
    personal=True,
    endpoints=("/rest/viber/{id}", "/rest/viber/reference/{reference}"),
    planning=Planning.LOOKUP,
    group="viber-<id> / vref-<reference>",
    transform=LEGACY_TRANSFORM,
    extract=lookup_viber,
    written=Written.AT_END,
    lookups=LOOKUPS,
    description="Viber messages (and their SMS fallback) looked up on the legacy REST API",
)
