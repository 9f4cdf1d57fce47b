"""The `messages` stream: ``GET /api/messages`` by creation-time window, every channel,
written window by window as it lands.

The provider's description lists no ``filter[type]`` for /api/messages; the older pages imply
one, and a server that honours it answers a listing without it with SMS only. Which one the
server is, is learnt once per client (cached in `BSGClient.learned` under
`TYPE_FILTER_FACT`), and each window is then read once:

- filter ignored: one untyped listing (raw group ``<window key>``), every channel in it;
- filter honoured: one listing per channel of `CHANNELS`, with ``filter[type]`` (raw groups
  ``<window key>.type=<channel>``): disjoint listings, nothing read twice.

The probe (`probe_type_filter`) is one request before the first window is read:
``filter[type]=hlr`` (a rare channel), the smallest page the endpoint serves (15), offset 0,
over that window. Its answer is not landed (the listings read its records again).

- a record of another type in it: the filter is ignored (cached);
- only hlr records: the filter is honoured (cached);
- nothing: the window has no hlr message, or none at all; which, it cannot tell. The window
  is read per channel (that misses nothing either way), and its listings decide: one that
  brings records of its channel only says the filter is honoured (a server ignoring it
  would have answered the probe with them), one that brings another type says it is
  ignored. A window where every listing is empty decides nothing, and the next window is
  probed again.

Whatever was decided, a typed listing that brings a record of another type shows that the
filter is ignored: that listing held the whole window, the remaining channels are not read,
and the client remembers the filter as ignored (a window read per channel stops as well once
another window has shown that). Each decision is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Mapping
from datetime import tzinfo
from functools import partial
from typing import Any

from bsg_analytics.extract import WindowResult, combine_reads, read_window, reread_group
from bsg_analytics.raw import RawPage, RawStore
from bsg_analytics.schemas.statuses import CHANNELS, UNREAD_CAMPAIGN_STATUS
from bsg_analytics.schemas.tables import MESSAGES, RCS_CARDS, RCS_SUGGESTIONS
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
from bsg_analytics.streams.campaign_detail import unlisted_campaigns
from bsg_analytics.transforms.common import TransformReport
from bsg_analytics.transforms.messages import transform_messages
from bsg_client import BSGClient, Window
from bsg_client.pagination import Page
from bsg_client.servers import PAGE_LIMITS

log = logging.getLogger("bsg_analytics.extract")

NAME = "messages"
PATH = "/api/messages"
# what the client learns: whether PATH honours filter[type] (True) or ignores it (False)
TYPE_FILTER_FACT = "messages_type_filter"
PROBE_TYPE = "hlr"  # a rare channel: a server that ignores the filter answers other types
PROBE_LIMIT = PAGE_LIMITS[PATH][0]  # the smallest page the endpoint serves


def _types(records: Any) -> set[str]:
    """The `type` of each record that has one (lower case)."""
    out: set[str] = set()
    for rec in records if isinstance(records, list) else ():
        value = rec.get("type") if isinstance(rec, Mapping) else None
        if isinstance(value, str) and value.strip():
            out.add(value.strip().lower())
    return out


def probe_type_filter(client: BSGClient, window: Window) -> bool | None:
    """Whether /api/messages honours ``filter[type]``, from one small typed request over
    `window` (module doc): True, False, or None when the answer was empty (undecided)."""
    params = {
        **window.params(),
        "filter[type]": PROBE_TYPE,
        "sort": "id",
        "way": "asc",
        "page[limit]": str(PROBE_LIMIT),
        "page[offset]": "0",
    }
    resp = client.get_list_page(PATH, params)
    types = _types(resp.data.get("data"))
    others = sorted(types - {PROBE_TYPE})
    if others:
        log.info(
            "GET %s ignores filter[type] (asked for %s, it served %s): each window is read "
            "once, every channel in one listing",
            PATH, PROBE_TYPE, ", ".join(others),
        )  # fmt: skip
        return False
    if types:
        log.info(
            "GET %s honours filter[type] (asked for %s, it served only %s): each window is "
            "read once per channel (%s)",
            PATH, PROBE_TYPE, PROBE_TYPE, ", ".join(CHANNELS),
        )  # fmt: skip
        return True
    log.debug(
        "GET %s: filter[type]=%s over %s served nothing; the window's listings will tell "
        "whether the filter is honoured",
        PATH, PROBE_TYPE, window,
    )  # fmt: skip
    return None


def type_filter_honoured(client: BSGClient, window: Window) -> bool | None:
    """The client's answer (`TYPE_FILTER_FACT`), probed over `window` while it is unknown."""
    answer = client.learn(TYPE_FILTER_FACT, lambda: probe_type_filter(client, window))
    return None if answer is None else bool(answer)


def extract_messages_window(
    client: BSGClient,
    raw_store: RawStore,
    window: Window,
    run_id: str,
    *,
    parallel: int = 1,
    attempt: int = 1,
) -> WindowResult:
    """Every message of `window`, all channels: one untyped listing, or one per channel when
    the server honours ``filter[type]`` or it is not known yet (module doc)."""
    result = WindowResult(NAME, window.key, reread_group(window.key, attempt))
    honoured = type_filter_honoured(client, window)
    if honoured is False:
        return read_window(
            client, raw_store, NAME, PATH, window.params(), result, run_id, parallel,
            partial(note_campaigns, result=result), skim=SKIMMED,
        )  # fmt: skip
    return _read_by_channel(
        client, raw_store, window, run_id, result, parallel, attempt, decide=honoured is None
    )


def _read_by_channel(
    client: BSGClient,
    raw_store: RawStore,
    window: Window,
    run_id: str,
    result: WindowResult,
    parallel: int,
    attempt: int,
    *,
    decide: bool,
) -> WindowResult:
    """One listing of `window` per channel, each landed under its own raw group; `decide`:
    the probe over this window served nothing, so these listings say whether the server
    honours the filter."""
    ids: set[Hashable] = set()
    parts: list[WindowResult] = []
    for channel in CHANNELS:
        group = reread_group(f"{window.key}.type={channel}", attempt)
        part = WindowResult(NAME, window.key, group, channel)
        served: set[str] = set()

        def on_page(page: Page, served: set[str] = served, part: WindowResult = part) -> None:
            ids.update(i for i in page.ids if i is not None)
            served.update(_types(page.records))
            note_campaigns(page, part)

        params = {**window.params(), "filter[type]": channel}
        read_window(client, raw_store, NAME, PATH, params, part, run_id, parallel, on_page, SKIMMED)
        parts.append(part)
        strays = sorted(served - {channel})
        if strays:
            # the server served other channels: this listing held the whole window
            log.info(
                "GET %s ignores filter[type] (asked for %s over %s, it served %s): that "
                "listing holds the whole window; each window is read once from now on, every "
                "channel in one listing",
                PATH, channel, window, ", ".join(strays),
            )  # fmt: skip
            client.remember(TYPE_FILTER_FACT, False)
            break
        if decide and served:
            log.info(
                "GET %s honours filter[type] (asked for %s over %s, it served only %s, and "
                "nothing for %s): each window is read once per channel (%s)",
                PATH, channel, window, channel, PROBE_TYPE, ", ".join(CHANNELS),
            )  # fmt: skip
            client.remember(TYPE_FILTER_FACT, True)
            decide = False
        elif client.learned.get(TYPE_FILTER_FACT) is False:
            # another window showed meanwhile that the filter is ignored: the listing just
            # read held this whole window too
            log.debug("%s: filter[type] is ignored; the %s listing held it all", window, channel)
            break
    return combine_reads(result, parts, len(ids))


# what the extraction reads of each listed message (`note_campaigns`, `_types`; the paginator
# the id): the client decodes no more of a page, the writer decodes the landed body whole
SKIMMED = ("id", "campaign_id", "type")


def note_campaigns(page: Page, result: WindowResult) -> None:
    """The campaign of each record and its type, as seen (`RunContext.message_campaigns`);
    a record without a usable campaign id or type is left to the transform."""
    for rec in page.records:
        # an exact dict first: the abstract-class check costs more than the rest of the loop
        if not (type(rec) is dict or isinstance(rec, Mapping)) or not isinstance(
            rec.get("type"), str
        ):
            continue
        try:
            cid = int(rec["campaign_id"])
        except (KeyError, TypeError, ValueError, OverflowError):
            continue
        result.message_campaigns.setdefault(cid, set()).add(rec["type"].strip().lower())


def _checkpointed(result: WindowResult) -> WindowResult:
    """The campaigns no list shows, recorded with the window (`campaign_statuses`, status
    `UNREAD_CAMPAIGN_STATUS`): a run that takes this one over plans their details although
    it does not read this window again."""
    for cid in unlisted_campaigns(result.message_campaigns):
        result.campaign_statuses.setdefault(cid, UNREAD_CAMPAIGN_STATUS)
    return result


def _observe(result: WindowResult, context: RunContext) -> None:
    for cid, types in result.message_campaigns.items():
        context.message_campaigns.setdefault(cid, set()).update(types)


def _extract(
    client: BSGClient, raw_store: RawStore, job: Job, run_id: str, *, parallel: int, attempt: int
) -> WindowResult:
    assert job.window is not None
    return _checkpointed(
        extract_messages_window(
            client, raw_store, job.window, run_id, parallel=parallel, attempt=attempt
        )
    )


def _transform(pages: list[RawPage], zone: tzinfo, report: TransformReport) -> TransformOutput:
    messages, cards, suggestions, quarantine = transform_messages(pages, zone, report)
    return TransformOutput(
        {MESSAGES.name: messages, RCS_CARDS.name: cards, RCS_SUGGESTIONS.name: suggestions},
        quarantine,
    )


def _window_days(settings: Settings) -> int:
    return settings.window_days


STREAM = Stream(
    name=NAME,
    personal=True,
    endpoints=(PATH,),
    planning=Planning.WINDOW,
    group="<window key>, or <window key>.type=<channel> when filter[type] is honoured",
    transform=Transform("messages", _transform, (MESSAGES, RCS_CARDS, RCS_SUGGESTIONS)),
    extract=_extract,
    written=Written.STREAMED,
    window_days=_window_days,
    adaptive=True,
    observe=_observe,
    description="every message of every channel (sms, viber, rcs, whatsapp, hlr)",
)
