"""Legacy REST lookups (`/rest/sms/...`) and the daily reconciliation, as Prefect flows."""

from __future__ import annotations

from functools import partial
from typing import Any

from prefect import flow, get_run_logger

from bsg_analytics.flows.sync import settings_from
from bsg_analytics.pipeline import run_legacy
from bsg_analytics.storage import DataDir
from bsg_analytics.warehouse import build_warehouse, reconcile


@flow(name="bsg-legacy-lookups")
def legacy_flow(
    sms_ids: list[int] | None = None,
    references: list[str] | None = None,
    task_ids: list[int] | None = None,
    viber_ids: list[int] | None = None,
    viber_references: list[str] | None = None,
    overrides: dict[str, Any] | None = None,
) -> dict:
    """Look up single SMS by id (through getStatus, 100 a call) or reference, bulk tasks by
    id, and Viber messages by id or reference on the legacy REST API; write `legacy_sms`,
    `legacy_tasks`, `legacy_viber` and rebuild the warehouse. The `legacy-lookups`
    deployment runs it (`prefect deployment run bsg-legacy-lookups/legacy-lookups
    --param sms_ids='[1, 2]'`); the key comes from the worker's BSG_API_KEY."""
    if not (sms_ids or references or task_ids or viber_ids or viber_references):
        raise ValueError(
            "nothing to look up: give sms_ids, references, task_ids, viber_ids or viber_references"
        )
    settings = settings_from(overrides)
    report = run_legacy(
        settings,
        sms_ids=sms_ids or [],
        references=references or [],
        task_ids=task_ids or [],
        viber_ids=viber_ids or [],
        viber_references=viber_references or [],
        finish=partial(build_warehouse, settings=settings),
    )
    logger = get_run_logger()
    logger.info("%s", report.summary_line())
    for line in report.notices:
        logger.info("%s", line)
    return report.as_dict()


@flow(name="bsg-reconcile")
def reconcile_flow(overrides: dict[str, Any] | None = None) -> dict:
    """Campaign statistics against messages: publish the campaigns whose own delivery rate
    disagrees with their messages' as a Prefect table artifact."""
    from prefect.artifacts import create_table_artifact

    settings = settings_from(overrides)
    result = reconcile(DataDir(settings.data_dir))
    create_table_artifact(
        key="bsg-campaign-disagreements",
        table=result["disagreements"][:200],
        description=f"{result['campaigns']} campaigns checked, "
        f"{len(result['disagreements'])} disagree",
    )
    get_run_logger().info(
        "%d campaigns checked, %d disagree", result["campaigns"], len(result["disagreements"])
    )
    return {"campaigns": result["campaigns"], "disagreements": len(result["disagreements"])}
