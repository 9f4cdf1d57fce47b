"""Deployments: `bsg-analytics serve` (Prefect's `serve`, one box) and `prefect.yaml` (a work
pool and workers), the same four in both: `hourly-sync`, `daily-reconcile`, `daily-alerts`
(fails its run when an anomaly is open) and `legacy-lookups` (no schedule: run it with the
ids as parameters). Both need a Prefect API
(`prefect server start`, or Prefect Cloud): Prefect refuses to schedule on the temporary
server that local runs use."""

from __future__ import annotations

import os
import sys

from bsg_analytics.flows.alerts import alerts_flow
from bsg_analytics.flows.legacy import legacy_flow, reconcile_flow
from bsg_analytics.flows.sync import sync_flow
from bsg_analytics.settings import ALERTS_CRON, RECONCILE_CRON, SYNC_CRON, Settings


def build_deployments(
    cron: str = SYNC_CRON, reconcile_cron: str = RECONCILE_CRON, alerts_cron: str = ALERTS_CRON
):
    return [
        sync_flow.to_deployment(name="hourly-sync", cron=cron, tags=["bsg"]),
        reconcile_flow.to_deployment(name="daily-reconcile", cron=reconcile_cron, tags=["bsg"]),
        alerts_flow.to_deployment(name="daily-alerts", cron=alerts_cron, tags=["bsg"]),
        legacy_flow.to_deployment(name="legacy-lookups", tags=["bsg"]),
    ]


def serve_flows(settings: Settings, cron: str = SYNC_CRON) -> None:
    if not os.environ.get("PREFECT_API_URL"):
        print(
            "bsg-analytics: `serve` needs a Prefect API: start one with `prefect server start` "
            "and set PREFECT_API_URL (see README, Scaling out)",
            file=sys.stderr,
        )
        raise SystemExit(2)
    os.environ.setdefault("BSG_DATA_DIR", settings.data_dir)
    from prefect import serve

    serve(*build_deployments(cron), pause_on_shutdown=False)
