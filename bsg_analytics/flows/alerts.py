"""The alerts as a Prefect flow: `bsg-alerts` (deployment `daily-alerts`) finds the open
anomalies (`bsg_analytics.alerts.find_anomalies`), logs each, publishes them as a markdown
artifact, and fails when any is open, so that a Prefect automation on failed runs (or any
watcher of the deployment) notifies."""

from __future__ import annotations

from datetime import date
from typing import Any

from prefect import flow, get_run_logger

from bsg_analytics.alerts import find_anomalies, findings_summary, open_since, to_markdown
from bsg_analytics.flows.sync import settings_from
from bsg_analytics.storage import DataDir

ARTIFACT_KEY = "bsg-open-anomalies"


class OpenAnomalies(RuntimeError):
    """Anomalies are open: the run fails with this, its message the count and the first."""


@flow(name="bsg-alerts")
def alerts_flow(since: date | None = None, overrides: dict[str, Any] | None = None) -> dict:
    """The open anomalies (day >= `since`; default: the last BSG_ALERT_OPEN_DAYS UTC days),
    with the thresholds of the worker's settings (BSG_ALERT_*, BSG_CURRENCY_RATES). Returns
    {since, open, findings} when none is open; raises `OpenAnomalies` when any is."""
    from prefect.artifacts import create_markdown_artifact

    settings = settings_from(overrides)
    first = since or open_since(settings)
    summary = findings_summary(find_anomalies(DataDir(settings.data_dir), settings, first), first)
    logger = get_run_logger()
    for row in summary["findings"]:
        logger.warning("%s", row["detail"])
    create_markdown_artifact(
        key=ARTIFACT_KEY,
        markdown=to_markdown(summary["findings"], first),
        description=f"{summary['open']} open anomalies since {summary['since']}",
    )
    if summary["open"]:
        first_detail = summary["findings"][0]["detail"]
        raise OpenAnomalies(
            f"{summary['open']} open anomalies since {summary['since']}; the first: {first_detail}"
        )
    logger.info("no open anomalies since %s", summary["since"])
    return summary
