"""The `campaigns` stream: the campaign list, ``GET /api/campaigns`` (the published path; the
pages' ``/api/campaign`` is tried when it answers 404), by creation-time window and once per
listable type (``filter[type]``: `CAMPAIGN_LIST_TYPES`, sms, rcs and whatsapp; Viber and HLR
campaigns are never listed, their details are read from the campaign ids of their messages,
`campaign_detail`). Its pages wait for the campaign details of the same run: list and detail
columns meet in one transform (`CAMPAIGNS_TRANSFORM`, shared with `campaign_detail`)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import tzinfo
from functools import partial
from typing import Any

from bsg_analytics.extract import WindowResult, read_window, reread_group
from bsg_analytics.raw import RawPage, RawStore
from bsg_analytics.schemas.statuses import CAMPAIGN_LIST_TYPES
from bsg_analytics.schemas.tables import CAMPAIGN_STATISTICS, CAMPAIGNS
from bsg_analytics.settings import Settings
from bsg_analytics.streams.base import (
    Job,
    Planning,
    RunContext,
    Stream,
    Transform,
    TransformOutput,
    Written,
)
from bsg_analytics.transforms.campaigns import transform_campaigns
from bsg_analytics.transforms.common import TransformReport
from bsg_client import BSGAPIError, BSGClient, Window
from bsg_client.pagination import Page
from bsg_client.windows import MAX_GRID_DAYS

log = logging.getLogger("bsg_analytics.extract")

NAME = "campaigns"
DETAIL_STREAM = "campaign_detail"
# the published path first; the pages' spelling only when the published one answers 404
LIST_PATHS = ("/api/campaigns", "/api/campaign")
CAMPAIGN_TYPES: tuple[str, ...] = CAMPAIGN_LIST_TYPES  # `filter[type]`: one list read each
WINDOW_DAYS = MAX_GRID_DAYS  # the longest grid step within 3 calendar months


def extract_campaigns_window(
    client: BSGClient,
    raw_store: RawStore,
    window: Window,
    campaign_type: str,
    run_id: str,
    *,
    parallel: int = 1,
    attempt: int = 1,
) -> WindowResult:
    """Campaigns of one type (one of `CAMPAIGN_TYPES`; ask for each) created in `window`;
    the result carries each campaign's id and status as seen. The list path is the one
    that answered before (`client.campaign_list_path`), else `LIST_PATHS` in order: a 404 on
    the first page of one tries the next; the one that answers is remembered."""
    if campaign_type not in CAMPAIGN_TYPES:
        raise ValueError(f"campaign_type must be one of {CAMPAIGN_TYPES}")
    group = reread_group(f"{window.key}.type={campaign_type}", attempt)
    params = {**window.params(), "filter[type]": campaign_type}
    paths = [getattr(client, "campaign_list_path", None) or LIST_PATHS[0]]
    paths += [p for p in LIST_PATHS if p not in paths]
    for i, path in enumerate(paths):
        result = WindowResult(NAME, window.key, group, campaign_type)
        try:
            read_window(
                client,
                raw_store,
                NAME,
                path,
                params,
                result,
                run_id,
                parallel,
                partial(_statuses, result=result),
            )
        except BSGAPIError as exc:
            # a 404 on the very first page: the other spelling of the list path
            if exc.status_code == 404 and result.pages == 0 and i + 1 < len(paths):
                log.warning("GET %s answered 404; trying %s", path, paths[i + 1])
                continue
            raise
        client.campaign_list_path = path
        return result
    raise AssertionError("unreachable")  # pragma: no cover


def _statuses(page: Page, result: WindowResult) -> None:
    """Each listed campaign's id and status, as seen (a record without a usable id is left to
    the transform, which quarantines it)."""
    for rec in page.records:
        if isinstance(rec, Mapping) and rec.get("id") is not None:
            try:
                cid = int(rec["id"])
            except (TypeError, ValueError, OverflowError):
                continue
            result.campaign_statuses[cid] = str(rec.get("status"))


def _extract(
    client: BSGClient, raw_store: RawStore, job: Job, run_id: str, *, parallel: int, attempt: int
) -> WindowResult:
    assert job.window is not None and job.variant is not None
    return extract_campaigns_window(
        client, raw_store, job.window, job.variant, run_id, parallel=parallel, attempt=attempt
    )


def _observe(result: Any, context: RunContext) -> None:
    context.seen.update(result.campaign_statuses)


def _transform(pages: list[RawPage], zone: tzinfo, report: TransformReport) -> TransformOutput:
    lists = [p for p in pages if p.stream == NAME]
    details = [p for p in pages if p.stream == DETAIL_STREAM]
    campaigns, statistics, quarantine = transform_campaigns(lists, details, zone, report)
    return TransformOutput(
        {CAMPAIGNS.name: campaigns, CAMPAIGN_STATISTICS.name: statistics}, quarantine
    )


def _window_days(settings: Settings) -> int:
    return WINDOW_DAYS


CAMPAIGNS_TRANSFORM = Transform("campaigns", _transform, (CAMPAIGNS, CAMPAIGN_STATISTICS))

STREAM = Stream(
    name=NAME,
    endpoints=LIST_PATHS,
    planning=Planning.WINDOW,
    group="<window key>.type=<type>",
    transform=CAMPAIGNS_TRANSFORM,
    extract=_extract,
    written=Written.AT_END,
    window_days=_window_days,
    variants=CAMPAIGN_TYPES,
    observe=_observe,
    description="the campaign list, one read per type and window",
)
