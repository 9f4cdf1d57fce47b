"""The `campaign_detail` stream: ``GET /api/campaigns/{id}/detail`` for every campaign the
list jobs of the run saw, every campaign still open from earlier runs (its statistics keep
changing until it is final), and every campaign of a type no list shows (Viber, HLR: not
in `CAMPAIGN_LIST_TYPES`) whose id the run's messages carry (`RunContext.message_campaigns`,
filled by the messages stream; absent, none). Read every run, never checkpointed;
transformed with the list pages (`campaigns.CAMPAIGNS_TRANSFORM`): a campaign only known
from its detail gets its row from the detail alone.

The published body is ``{"data": {...}}``; the pages' ``{"en-US": {...}}`` and a bare object
are read too (`unwrap_detail`)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bsg_analytics.extract import DetailResult, land
from bsg_analytics.raw import RawStore
from bsg_analytics.schemas.statuses import CAMPAIGN_LIST_TYPES
from bsg_analytics.streams.base import Job, Planning, RunContext, Stream, Written
from bsg_analytics.streams.campaigns import CAMPAIGNS_TRANSFORM, DETAIL_STREAM
from bsg_analytics.transforms.campaigns import unwrap_detail
from bsg_client import ApiResponse, BSGAPIError, BSGClient

NAME = DETAIL_STREAM
PATH = "/api/campaigns/{id}/detail"
CHUNK = 25  # campaign details per job


def detail_status(data: Any) -> str | None:
    """The campaign's status in a detail body (in `data`, in a locale key, or bare)."""
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


def unlisted_campaigns(message_campaigns: Mapping[Any, Any] | None) -> set[int]:
    """The campaign ids of messages of a type no campaign list shows (Viber, HLR), from
    `message_campaigns`: campaign id -> the message type(s) seen with it (a type, or a
    collection of them). Ids that are not positive integers are left out."""
    out: set[int] = set()
    for cid, kinds in (message_campaigns or {}).items():
        if isinstance(kinds, str) or not isinstance(kinds, Iterable):
            kinds = (kinds,)
        if not any(str(k).strip().lower() not in CAMPAIGN_LIST_TYPES for k in kinds):
            continue
        try:
            n = int(cid)
        except (TypeError, ValueError, OverflowError):
            continue
        if n > 0:
            out.add(n)
    return out


def _plan_ids(context: RunContext) -> list[int]:
    """The campaigns seen by this run's list jobs, those still open before it, and those no
    list can show whose ids this run's messages carry (`unlisted_campaigns`)."""
    from_messages = unlisted_campaigns(context.message_campaigns)
    return sorted(set(context.seen) | set(context.open_campaigns) | from_messages)


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
