"""The `messages` stream: ``GET /api/messages`` by creation-time window, every channel in
one listing (the endpoint has no type filter), written window by window as it lands."""

from __future__ import annotations

from datetime import tzinfo

from bsg_analytics.extract import WindowResult, read_window, reread_group
from bsg_analytics.raw import RawPage, RawStore
from bsg_analytics.schemas.tables import MESSAGES, RCS_CARDS, RCS_SUGGESTIONS
from bsg_analytics.settings import Settings
from bsg_analytics.streams.base import Job, Planning, Stream, Transform, TransformOutput, Written
from bsg_analytics.transforms.common import TransformReport
from bsg_analytics.transforms.messages import transform_messages
from bsg_client import BSGClient, Window

NAME = "messages"
PATH = "/api/messages"


def extract_messages_window(
    client: BSGClient,
    raw_store: RawStore,
    window: Window,
    run_id: str,
    *,
    parallel: int = 1,
    attempt: int = 1,
) -> WindowResult:
    """Every message of `window` (all channels: /api/messages has no type filter)."""
    result = WindowResult(NAME, window.key, reread_group(window.key, attempt))
    return read_window(client, raw_store, NAME, PATH, window.params(), result, run_id, parallel)


def _extract(
    client: BSGClient, raw_store: RawStore, job: Job, run_id: str, *, parallel: int, attempt: int
) -> WindowResult:
    assert job.window is not None
    return extract_messages_window(
        client, raw_store, job.window, run_id, parallel=parallel, attempt=attempt
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
    endpoints=(PATH,),
    planning=Planning.WINDOW,
    group="<window key>",
    transform=Transform("messages", _transform, (MESSAGES, RCS_CARDS, RCS_SUGGESTIONS)),
    extract=_extract,
    written=Written.STREAMED,
    window_days=_window_days,
    description="every message, SMS and RCS, in its latest state",
)
