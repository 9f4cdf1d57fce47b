"""The alerts as a deployment and a flow: `prefect.yaml`'s `daily-alerts` runs `bsg-alerts`
on the alerts schedule, `bsg-analytics serve` deploys it too, and a run publishes the open
anomalies as a markdown artifact and fails when any is open."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from bsg_analytics.settings import ALERTS_CRON
from tests.flows.test_lookup_deployment import flow_parameters
from tests.warehouse import cost_fixtures
from tests.warehouse.cost_fixtures import TODAY

ROOT = Path(__file__).parents[2]


def test_prefect_yaml_deploys_the_alerts_daily():
    doc = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    by_name = {d["name"]: d for d in doc["deployments"]}
    alerts = by_name["daily-alerts"]
    assert alerts["entrypoint"] == "flows/alerts.py:alerts_flow"
    path, _, fn = alerts["entrypoint"].partition(":")
    assert flow_parameters(ROOT / path, fn) == ["since", "overrides"]
    # the default: the last BSG_ALERT_OPEN_DAYS days; thresholds from the worker's settings
    assert alerts["parameters"] == {}
    assert alerts["schedules"] == [{"cron": ALERTS_CRON, "timezone": "UTC"}]
    assert alerts["work_pool"] == by_name["hourly-sync"]["work_pool"]
    assert alerts["tags"] == ["bsg"]


@pytest.mark.slow
def test_serve_deploys_the_alerts_on_their_schedule():
    from bsg_analytics.flows.deploy import build_deployments

    alerts = {d.name: d for d in build_deployments()}["serve-daily-alerts"]
    assert alerts.flow_name == "bsg-alerts"
    assert alerts.entrypoint == "bsg_analytics/flows/alerts.py:alerts_flow"
    assert [s.schedule.cron for s in alerts.schedules] == [ALERTS_CRON]


@pytest.fixture
def alerts_env(monkeypatch, tmp_path):
    root = tmp_path / "data"
    cost_fixtures.write_anomaly_fixture(root)
    monkeypatch.setenv("BSG_DATA_DIR", str(root))
    return root


def markdown_artifact(key: str) -> str:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    async def latest():
        async with get_client() as client:
            found = await client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])),
                sort=ArtifactSort.CREATED_DESC,  # the default sorts by id, not by time
                limit=1,
            )
            return found[0].data

    return asyncio.run(latest())


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_server")
def test_a_run_fails_when_any_is_open_and_publishes_them(alerts_env):
    from bsg_analytics.flows.alerts import ARTIFACT_KEY, OpenAnomalies, alerts_flow

    with pytest.raises(OpenAnomalies, match=r"^5 open anomalies since 2026-03-15; the first: "):
        alerts_flow(since=TODAY)
    text = markdown_artifact(ARTIFACT_KEY)
    assert text.startswith("# 5 open anomalies since 2026-03-15\n")
    assert "| 2026-03-15 | delivery_drop | operator | Kyivstar (Ukraine) | sms |" in text

    summary = alerts_flow(since=TODAY + timedelta(days=1))
    assert summary == {"since": "2026-03-16", "open": 0, "findings": []}
    assert markdown_artifact(ARTIFACT_KEY).startswith("# No open anomalies")
