"""What the three legacy REST streams share: one transform (a lookup's answer is an SMS, a
task or a Viber message by its keys and stream: a task id asked of ``/rest/sms/{id}`` answers
as an SMS), so their pages go through it together in landing order; and `land_lookup`, which
lands one answer under the stream it belongs to, or says it was not found or an error."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import tzinfo
from typing import Any

from bsg_analytics.extract import LegacyResult, land
from bsg_analytics.raw import RawPage, RawStore
from bsg_analytics.schemas.tables import LEGACY_SMS, LEGACY_TASKS, LEGACY_VIBER
from bsg_analytics.streams.base import Transform, TransformOutput
from bsg_analytics.transforms.common import TransformReport
from bsg_analytics.transforms.legacy import transform_legacy
from bsg_client import ApiResponse, BSGAPIError, BSGClient
from bsg_client.client import LEGACY_NOT_FOUND, legacy_error_code


def _transform(pages: list[RawPage], zone: tzinfo, report: TransformReport) -> TransformOutput:
    sms, tasks, viber, quarantine = transform_legacy(pages, zone, report)
    tables = {LEGACY_SMS.name: sms, LEGACY_TASKS.name: tasks, LEGACY_VIBER.name: viber}
    return TransformOutput(tables, quarantine)


LEGACY_TRANSFORM = Transform("legacy", _transform, (LEGACY_SMS, LEGACY_TASKS, LEGACY_VIBER))

LANDED, NOT_FOUND, ERROR = "landed", "not_found", "error"


def id_key(value: Any) -> str:
    """An id (SMS, task, Viber) as the key it is compared and grouped by: its digits, no
    leading zeros; anything else as its text."""
    text = str(value).strip()
    return str(int(text)) if text.isascii() and text.isdigit() else text


def unique(values: Iterable[Any], key: Callable[[Any], str] = str) -> list[str]:
    """`values` as keys, each once, in the order first given."""
    return list(dict.fromkeys(key(v) for v in values))


def land_lookup(
    client: BSGClient,
    raw_store: RawStore,
    result: LegacyResult,
    run_id: str,
    kind: str,
    key: str,
    group: str,
    call: Callable[[], ApiResponse],
    stream: str | Callable[[ApiResponse], str | None],
    seq: int = 0,
) -> str:
    """One legacy lookup (`call`): its answer landed under `stream` (a name, or a function
    of the answer: None when the body is of no known kind) -> 'landed'; error codes 20/30/40
    and HTTP 404 -> 'not_found'; any other answer -> 'error', recorded in ``result.errors``
    (scrubbed). A refused key raises (the client's `BSGAuthError`): it ends the run."""
    try:
        resp = call()
    except BSGAPIError as exc:
        if exc.status_code == 404:
            return NOT_FOUND
        raise
    code = legacy_error_code(resp.data)
    into = stream(resp) if callable(stream) else stream
    if code in (None, 0) and into is not None and 200 <= resp.status_code < 300:
        result.raw_paths.append(land(raw_store, into, resp, run_id, group, seq))
        result.landed[into] = result.landed.get(into, 0) + 1
        return LANDED
    if code in LEGACY_NOT_FOUND:
        return NOT_FOUND
    record_error(client, result, kind, key, resp)
    return ERROR


def record_error(
    client: BSGClient, result: LegacyResult, kind: str, key: str, resp: ApiResponse
) -> None:
    """An answer that is neither data nor "not found": (kind, key, code, words) in
    ``result.errors``, the words scrubbed."""
    desc = ""
    if isinstance(resp.data, Mapping):
        desc = client.scrub(str(resp.data.get("errorDescription") or ""))
    code = legacy_error_code(resp.data)
    result.errors.append((kind, key, code, desc or f"HTTP {resp.status_code}"))
