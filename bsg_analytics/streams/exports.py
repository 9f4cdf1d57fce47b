"""The `exports` stream: the statistics export (``/api/stat/jobs``) of each window, into
`message_costs`: per message its country, operator (`brand`, `mcc`, `mnc`), exact price and
currency, the platform's own times and status, and short-link clicks.

Planned as `messages` is (the same windows and look-back: `Planning.WINDOW`), and written
window by window as it lands. One window is one export job (`bsg_client.exports`):

1. a key this data directory saved for the window's job (`state.ExportKeys`, from a run
   killed while it was pending) is polled first; otherwise the export is made with
   ``{"type": "params", "time_in_from": <window start>, "time_in_to": <window end, less a
   second>}`` (the account's wall clock, both ends inclusive, as ``filter[from]/[to]``) and
   its key saved before the first poll;
2. polled with backoff until ready (at most two exports at once per client; the account's
   "Maximum count of exports reached" handled by `ExportJobs`);
3. the ready answer is landed raw (group ``<window key>``), then the job is deleted (a failed
   delete is logged: the API lets the job expire) and its key dropped.

`BSG_EXPORT_COSTS=false` (`Settings.export_costs`) leaves the stream out of every sync.

An account the export is not served to (HTTP 403, 404, 405 or 501 to the ``POST``) gets one
warning, and its windows are read as empty: `message_costs` stays as it is.

The windows whose key is saved start before any other job of the sync (`resume_first`): their
jobs hold the account's places, and resuming one takes no slot of the client.

A saved key whose job is not in the sync's plan (its window was planned again, longer, by a
run that took the killed one over) is deleted at the API and dropped (`cleanup`, before the
sync reads and after it): it would hold one of the account's two places. While the places
are full, a saved key of this plan that no thread has resumed yet is let go too (its window
makes the export anew): two such keys would otherwise hold both places while the threads
that would resume them wait for one.
"""

from __future__ import annotations

import logging
import time
from datetime import tzinfo
from functools import partial
from typing import Any

from bsg_analytics.extract import NOT_SERVED_STATUSES, WindowResult, land, reread_group
from bsg_analytics.raw import RawPage, RawStore
from bsg_analytics.schemas.tables import MESSAGE_COSTS
from bsg_analytics.settings import Settings
from bsg_analytics.state import ExportKeys
from bsg_analytics.streams.base import Job, Planning, Stream, Transform, TransformOutput, Written
from bsg_analytics.transforms.common import TransformReport
from bsg_analytics.transforms.exports import transform_exports
from bsg_client import ApiResponse, BSGAPIError, BSGClient, Window
from bsg_client.exports import PATH

log = logging.getLogger("bsg_analytics.extract")

NAME = "exports"
# what the client learns: the account is not served the export (HTTP 403/404/405/501 to its
# POST); its windows are then read as empty, and the warning says so once
NOT_SERVED_FACT = "exports_not_served"


def export_request(window: Window) -> dict[str, Any]:
    """The export of every message created in `window` (both ends inclusive, to the second)."""
    return {"type": "params", "time_in_from": window.api_from, "time_in_to": window.api_to}


def _not_served(status: int | None) -> bool:
    """Say once per client that the export is not served (`client.learn` asks this once)."""
    log.warning(
        "the statistics export (%s) is not served to this account (HTTP %s): message_costs "
        "is left as it is; ask BSG to enable the export",
        PATH, status,
    )  # fmt: skip
    return True


def extract_export_window(
    client: BSGClient, raw_store: RawStore, job: Job, run_id: str, attempt: int = 1
) -> WindowResult:
    """Make (or resume), poll, land and delete the export of `job`'s window (module doc)."""
    assert job.window is not None
    window = job.window
    started = time.perf_counter()
    keys = ExportKeys(raw_store.data_dir)
    request = export_request(window)
    result = WindowResult(NAME, window.key, reread_group(window.key, attempt))
    if client.learned.get(NOT_SERVED_FACT):
        result.complete = True
        return result

    def landed(key: str, resp: ApiResponse) -> None:
        result.raw_paths.append(land(raw_store, NAME, resp, run_id, result.group, 0))

    try:
        _, resp = client.exports.run(
            request,
            key=keys.get(job.key),
            on_key=lambda new: keys.put(job.key, new, request),
            on_ready=landed,
            known=lambda: {str(e.get("key")) for e in keys.pending().values()},
        )
    except BSGAPIError as exc:
        if exc.status_code not in NOT_SERVED_STATUSES or keys.get(job.key):
            raise
        client.learn(NOT_SERVED_FACT, partial(_not_served, exc.status_code))
        result.complete = True
        return result
    rows = resp.data.get("result")
    result.pages = 1
    result.records = result.distinct_ids = result.total = len(rows) if isinstance(rows, list) else 0
    result.complete = True
    keys.drop(job.key)
    result.seconds = time.perf_counter() - started
    return result


def forget_stale_keys(client: BSGClient, raw_store: RawStore, planned: frozenset[str]) -> None:
    """Drop the saved export keys of jobs outside `planned`, deleting their jobs (module doc)."""
    keys = ExportKeys(raw_store.data_dir)
    for job_key, entry in keys.pending().items():
        if job_key in planned:
            continue
        try:
            client.exports.delete(str(entry.get("key")))
        except BSGAPIError as exc:
            log.info("export %s of %s: not deleted (%s)", entry.get("key"), job_key, exc)
        keys.drop(job_key)


def _extract(
    client: BSGClient, raw_store: RawStore, job: Job, run_id: str, *, parallel: int, attempt: int
) -> WindowResult:
    return extract_export_window(client, raw_store, job, run_id, attempt)


def _transform(pages: list[RawPage], zone: tzinfo, report: TransformReport) -> TransformOutput:
    costs, quarantine = transform_exports(pages, zone, report)
    return TransformOutput({MESSAGE_COSTS.name: costs}, quarantine)


def _window_days(settings: Settings) -> int:
    return settings.window_days


def _pending(raw_store: RawStore) -> set[str]:
    """The jobs whose export an interrupted run left pending: resumed before any other."""
    return set(ExportKeys(raw_store.data_dir).pending())


def _enabled(settings: Settings) -> bool:
    return settings.export_costs


STREAM = Stream(
    name=NAME,
    personal=True,
    endpoints=(PATH, f"{PATH}/{{key}}"),
    planning=Planning.WINDOW,
    group="<window key>",
    transform=Transform("exports", _transform, (MESSAGE_COSTS,)),
    extract=_extract,
    written=Written.STREAMED,
    window_days=_window_days,
    adaptive=True,
    cleanup=forget_stale_keys,
    resume_first=_pending,
    enabled=_enabled,
    description="each message's country, operator, exact price and the platform's own status",
)
