"""Deployments: `bsg-analytics serve` (Prefect's `serve`, one box) and `prefect.yaml` (a work
pool and workers), the same four flows in both: `hourly-sync`, `daily-reconcile`,
`daily-alerts` (fails its run when an anomaly is open) and `legacy-lookups` (no schedule: run
it with the ids as parameters). `serve` registers them under names of its own
(`serve-hourly-sync`, ...: `SERVE_PREFIX`), with the data directory it was given as a
parameter, so it never takes over a `prefect.yaml` deployment (and its work pool, whose
worker would run it in its own data directory). Both need a Prefect API
(`prefect server start`, or Prefect Cloud): Prefect refuses to schedule on the temporary
server that local runs use."""

from __future__ import annotations

import os
import sys

from bsg_analytics.flows.alerts import alerts_flow
from bsg_analytics.flows.legacy import legacy_flow, reconcile_flow
from bsg_analytics.flows.sync import sync_flow
from bsg_analytics.settings import ALERTS_CRON, RECONCILE_CRON, SYNC_CRON, Settings

SERVE_PREFIX = "serve-"  # the deployments `serve` registers: prefect.yaml's names, prefixed


def build_deployments(
    cron: str = SYNC_CRON,
    reconcile_cron: str = RECONCILE_CRON,
    alerts_cron: str = ALERTS_CRON,
    data_dir: str | None = None,
):
    """What `serve` registers: each flow of `prefect.yaml` under `SERVE_PREFIX` + its name,
    its runs told `data_dir` (a flow parameter: the served process's own setting)."""
    params = {"overrides": {"data_dir": data_dir}} if data_dir else {}
    name = (SERVE_PREFIX + "{}").format
    return [
        sync_flow.to_deployment(name=name("hourly-sync"), cron=cron, tags=["bsg"],
                                parameters=params),
        reconcile_flow.to_deployment(name=name("daily-reconcile"), cron=reconcile_cron,
                                     tags=["bsg"], parameters=params),
        alerts_flow.to_deployment(name=name("daily-alerts"), cron=alerts_cron, tags=["bsg"],
                                  parameters=params),
        legacy_flow.to_deployment(name=name("legacy-lookups"), tags=["bsg"], parameters=params),
    ]  # fmt: skip


def serve_flows(settings: Settings, cron: str = SYNC_CRON) -> None:
    if not os.environ.get("PREFECT_API_URL"):
        print(
            "bsg-analytics: `serve` needs a Prefect API: start one with `prefect server start` "
            "and set PREFECT_API_URL (see README, Scaling out)",
            file=sys.stderr,
        )
        raise SystemExit(2)
    os.environ["BSG_DATA_DIR"] = settings.data_dir  # -d, else the environment's
    from prefect import serve

    deployments = build_deployments(cron, data_dir=settings.data_dir)
    names = ", ".join(f"{d.flow_name}/{d.name}" for d in deployments)
    print(f"serving {names} on data directory {settings.data_dir} (Ctrl-C stops)", flush=True)
    serve(*deployments, pause_on_shutdown=False, print_starting_message=False)
