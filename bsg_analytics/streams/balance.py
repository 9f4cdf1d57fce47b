"""The `balance` stream: ``GET /api/accounts/balance`` once per sync, into `balance_history`
(one row per sync: `balance`, `credit`, `currency`, `observed_at` the moment it was read).

A snapshot (`Planning.SNAPSHOT`): the balance has no history the API could serve again, so
each sync adds one observation; never checkpointed, written with the other at-end streams.
An account the balance is not served to (HTTP 403, 404, 405 or 501) gets one warning and no
row.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import tzinfo

from bsg_analytics.extract import NOT_SERVED_STATUSES, land
from bsg_analytics.raw import RawPage, RawStore
from bsg_analytics.schemas.tables import BALANCE_HISTORY
from bsg_analytics.streams.base import Job, Planning, Stream, Transform, TransformOutput, Written
from bsg_analytics.transforms.balance import transform_balance
from bsg_analytics.transforms.common import TransformReport
from bsg_client import BSGAPIError, BSGClient
from bsg_client.client import BALANCE_PATH

log = logging.getLogger("bsg_analytics.extract")

NAME = "balance"


@dataclass
class SnapshotResult:
    stream: str = NAME
    pages: int = 0
    seconds: float = 0.0
    raw_paths: list[str] = field(default_factory=list)


def _extract(
    client: BSGClient, raw_store: RawStore, job: Job, run_id: str, *, parallel: int, attempt: int
) -> SnapshotResult:
    started = time.perf_counter()
    try:
        resp = client.get_balance()
    except BSGAPIError as exc:
        if exc.status_code not in NOT_SERVED_STATUSES:
            raise
        log.warning(
            "the balance (%s) is not served to this account (HTTP %s): balance_history gets "
            "no row", BALANCE_PATH, exc.status_code,
        )  # fmt: skip
        return SnapshotResult(seconds=time.perf_counter() - started)
    result = SnapshotResult(pages=1, raw_paths=[land(raw_store, NAME, resp, run_id, "now", 0)])
    result.seconds = time.perf_counter() - started
    return result


def _transform(pages: list[RawPage], zone: tzinfo, report: TransformReport) -> TransformOutput:
    balance, quarantine = transform_balance(pages, zone, report)
    return TransformOutput({BALANCE_HISTORY.name: balance}, quarantine)


STREAM = Stream(
    name=NAME,
    endpoints=(BALANCE_PATH,),
    planning=Planning.SNAPSHOT,
    group="now",
    transform=Transform("balance", _transform, (BALANCE_HISTORY,)),
    extract=_extract,
    written=Written.AT_END,
    description="the account's balance and credit, once per sync",
)
