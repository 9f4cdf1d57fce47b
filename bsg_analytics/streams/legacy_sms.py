"""The `legacy_sms` stream: single SMS looked up on the legacy REST API, for the ids and
references a person asks for (`bsg-analytics lookup --id ... --reference ...`).

Ids go in batches of up to 100 (`LEGACY_STATUS_MAX_IDS`) through ``POST /rest/sms/getStatus``
(raw group ``status-<n>``, the ids asked in the page's params); an id the answer does not
list is not found. A batch whose answer has no ``result`` list (an error body: the API does
not say which id it means) has its ids asked one by one with ``GET /rest/sms/{id}`` (group
``sms-<id>``), and so do every batch's once the server says it has no getStatus (HTTP 404,
405, 501). References: ``GET /rest/sms/reference/{ref}`` each (group ``ref-<ref>``)."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import replace
from functools import partial

from bsg_analytics.extract import NOT_SERVED_STATUSES, LegacyResult, classify_legacy, land
from bsg_analytics.raw import RawStore
from bsg_analytics.streams.base import Job, Planning, Stream, Written
from bsg_analytics.streams.legacy import (
    LEGACY_TRANSFORM,
    NOT_FOUND,
    id_key,
    land_lookup,
    unique,
)
from bsg_client import ApiResponse, BSGAPIError, BSGAuthError, BSGClient
from bsg_client.client import LEGACY_NOT_FOUND, LEGACY_STATUS_MAX_IDS, legacy_error_code

log = logging.getLogger("bsg_analytics.extract")

NAME = "legacy_sms"
# lookup argument -> the job variant it becomes
LOOKUPS = {"sms_ids": "sms", "references": "reference"}
# HTTP statuses that say the server has no getStatus at all (a 403 is a refused key there)
NOT_SERVED = NOT_SERVED_STATUSES - {403}


def _answered_as(resp: ApiResponse) -> str:
    """The stream an answer of ``/rest/sms/...`` lands under: a task body is a task; any
    other body (an SMS, or one of no known kind, for the transform to quarantine) an SMS."""
    return classify_legacy(resp.data) or NAME


def lookup_sms(
    client: BSGClient, raw_store: RawStore, job: Job, run_id: str, *, parallel: int, attempt: int
) -> LegacyResult:
    """The ids (variant ``sms``: through getStatus) or references (``reference``) of the job."""
    started = time.perf_counter()
    result = LegacyResult()
    if (job.variant or "sms") == "reference":
        for key in unique(job.ids):
            got = land_lookup(
                client, raw_store, result, run_id, "reference", key, f"ref-{key}",
                partial(client.legacy_sms_by_reference, key), _answered_as,
            )  # fmt: skip
            if got == NOT_FOUND:
                result.not_found.append(("reference", key))
    else:
        _lookup_ids(client, raw_store, result, run_id, unique(job.ids, id_key))
    result.seconds = time.perf_counter() - started
    return result


def _lookup_ids(
    client: BSGClient, raw_store: RawStore, result: LegacyResult, run_id: str, keys: list[str]
) -> None:
    served = True  # until the server says it has no getStatus
    step = LEGACY_STATUS_MAX_IDS
    for n, start in enumerate(range(0, len(keys), step)):
        batch = keys[start : start + step]
        found: set[str] | None = None
        if served:
            try:
                found = status_batch(client, raw_store, result, run_id, batch, f"status-{n:04d}")
            except BSGAPIError as exc:
                if isinstance(exc, BSGAuthError) or exc.status_code not in NOT_SERVED:
                    raise
                served = False
                log.info("%s: not served (HTTP %s); SMS are asked one by one", exc.endpoint,
                         exc.status_code)  # fmt: skip
        if found is None:
            for key in batch:
                got = land_lookup(
                    client, raw_store, result, run_id, "sms", key, f"sms-{key}",
                    partial(client.legacy_sms, key), _answered_as,
                )  # fmt: skip
                if got == NOT_FOUND:
                    result.not_found.append(("sms", key))
            continue
        result.not_found += [("sms", key) for key in batch if key not in found]


def status_batch(
    client: BSGClient,
    raw_store: RawStore,
    result: LegacyResult,
    run_id: str,
    batch: list[str],
    group: str,
) -> set[str] | None:
    """One ``POST /rest/sms/getStatus`` of up to 100 ids: its answer landed (the ids asked in
    the page's params) -> the asked ids it answered (an item with an error code other than
    "not found" is recorded in ``result.errors``); None when the answer has no ``result``
    list (an error body), so the caller asks each id on its own."""
    resp = client.legacy_sms_status([int(key) for key in batch])
    data = resp.data
    items = data.get("result") if isinstance(data, Mapping) else None
    if legacy_error_code(data) not in (None, 0) or not isinstance(items, list):
        log.info("%s for %d ids answered no result list; asked one by one", resp.label,
                 len(batch))  # fmt: skip
        return None
    asked = set(batch)
    found: set[str] = set()  # answered: with data, or with an error of their own
    failed = 0
    for item in items:
        key = id_key(item.get("id")) if isinstance(item, Mapping) else None
        if not isinstance(item, Mapping) or key not in asked or key in found:
            continue
        code = legacy_error_code(item)
        if code in LEGACY_NOT_FOUND:
            continue
        found.add(key)
        if code not in (None, 0):  # an error of this one id: said, not "not found"
            failed += 1
            words = client.scrub(str(item.get("errorDescription") or ""))
            result.errors.append(("sms", key, code, words or f"HTTP {resp.status_code}"))
    page = replace(resp, params={"ids": ",".join(batch)})
    result.raw_paths.append(land(raw_store, NAME, page, run_id, group, 0))
    result.landed[NAME] = result.landed.get(NAME, 0) + len(found) - failed
    return found


STREAM = Stream(
    name=NAME,
    personal=True,
    endpoints=(
        "/rest/sms/getStatus",
        "/rest/sms/reference/{reference}",
        "/rest/sms/{id}",
    ),
    planning=Planning.LOOKUP,
    group="status-<n> / sms-<id> / ref-<reference>",
    transform=LEGACY_TRANSFORM,
    extract=lookup_sms,
    written=Written.AT_END,
    lookups=LOOKUPS,
    description="single SMS looked up on the legacy REST API (ids batched through getStatus)",
)
