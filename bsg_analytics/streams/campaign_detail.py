"""The `campaign_detail` stream: ``GET /api/campaigns/{id}/detail`` for every campaign the
list jobs of the run saw and every campaign still open from earlier runs (its statistics
keep changing until it is final). Read every run, never checkpointed; transformed with the
list pages (`campaigns.CAMPAIGNS_TRANSFORM`)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bsg_analytics.extract import DetailResult, land
from bsg_analytics.raw import RawStore
from bsg_analytics.streams.base import Job, Planning, RunContext, Stream, Written
from bsg_analytics.streams.campaigns import CAMPAIGNS_TRANSFORM, DETAIL_STREAM
from bsg_analytics.transforms.campaigns import unwrap_detail
from bsg_client import ApiResponse, BSGAPIError, BSGClient

NAME = DETAIL_STREAM
PATH = "/api/campaigns/{id}/detail"
CHUNK = 25  # campaign details per job


def detail_status(data: Any) -> str | None:
    """The campaign's status in a detail body (wrapped in a locale key or bare)."""
    obj = unwrap_detail(data)
    if isinstance(obj, Mapping) and obj.get("status") is not None:
        return str(obj["status"])
    return None


def extract_campaign_details(
    client: BSGClient,
    raw_store: RawStore,
    campaign_ids: Iterable[int | str],
    run_id: str,
    *,
    parallel: int = 4,
) -> DetailResult:
    """GET /api/campaigns/{id}/detail for each id (group = the id); a 404 is recorded in
    ``not_found``, any other failure raises."""
    result = DetailResult()
    ids = sorted({int(i) for i in campaign_ids})
    started = time.perf_counter()

    def one(cid: int) -> tuple[int, ApiResponse | None]:
        try:
            return cid, client.get_campaign_detail(cid)
        except BSGAPIError as exc:
            if exc.status_code == 404:
                return cid, None
            raise

    with ThreadPoolExecutor(max_workers=max(1, parallel), thread_name_prefix="bsg-detail") as ex:
        for cid, resp in ex.map(one, ids):
            if resp is None:
                result.not_found.append(cid)
                continue
            result.raw_paths.append(land(raw_store, NAME, resp, run_id, str(cid), 0))
            result.pages += 1
            status = detail_status(resp.data)
            if status is not None:
                result.statuses[cid] = status
    result.seconds = time.perf_counter() - started
    return result


def _extract(
    client: BSGClient, raw_store: RawStore, job: Job, run_id: str, *, parallel: int, attempt: int
) -> DetailResult:
    return extract_campaign_details(client, raw_store, job.ids, run_id, parallel=parallel)


def _plan_ids(context: RunContext) -> list[int]:
    """The campaigns seen by this run's list jobs, and those still open before it."""
    return sorted(set(context.seen) | set(context.open_campaigns))


def _observe(result: Any, context: RunContext) -> None:
    context.seen.update(result.statuses)
    context.not_found.update(result.not_found)


STREAM = Stream(
    name=NAME,
    endpoints=(PATH,),
    planning=Planning.IDS,
    group="<campaign id>",
    transform=CAMPAIGNS_TRANSFORM,
    extract=_extract,
    written=Written.AT_END,
    plan_ids=_plan_ids,
    chunk=CHUNK,
    observe=_observe,
    description="each campaign's detail and statistics",
)
