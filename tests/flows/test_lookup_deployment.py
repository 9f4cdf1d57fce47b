"""The legacy lookups as a deployment: `prefect.yaml`'s `legacy-lookups` runs the lookup flow
with the flow's own parameters, and `bsg-analytics serve` deploys it too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).parents[2]


def flow_parameters(path: Path, name: str) -> list[str]:
    """The parameters of function `name` in `path`, read without importing Prefect."""
    tree = ast.parse(path.read_text())
    (fn,) = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name]
    return [a.arg for a in fn.args.args]


def test_prefect_yaml_deploys_the_lookup_flow_with_its_parameters():
    doc = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    by_name = {d["name"]: d for d in doc["deployments"]}
    assert list(by_name) == ["hourly-sync", "daily-reconcile", "daily-alerts", "legacy-lookups"]
    lookups = by_name["legacy-lookups"]
    assert lookups["entrypoint"] == "flows/legacy.py:legacy_flow"
    path, _, fn = lookups["entrypoint"].partition(":")
    names = flow_parameters(ROOT / path, fn)
    # every lookup a person can ask for, each empty; settings stay in the worker's environment
    assert names == [
        "sms_ids", "references", "task_ids", "viber_ids", "viber_references", "overrides",
    ]  # fmt: skip
    assert lookups["parameters"] == {name: [] for name in names[:-1]}
    assert "schedules" not in lookups  # run when asked, not on a clock
    assert lookups["work_pool"] == by_name["hourly-sync"]["work_pool"]
    assert lookups["tags"] == ["bsg"]


@pytest.mark.slow
def test_serve_deploys_the_lookups_beside_the_sync_and_the_reconciliation():
    from bsg_analytics.flows.deploy import build_deployments
    from bsg_analytics.flows.legacy import legacy_flow

    deployments = {d.name: d for d in build_deployments(data_dir="/srv/bsg")}
    # prefect.yaml's four, under names of their own: serve never takes one of those over
    assert list(deployments) == [
        "serve-hourly-sync", "serve-daily-reconcile", "serve-daily-alerts",
        "serve-legacy-lookups",
    ]  # fmt: skip
    for d in deployments.values():
        assert d.parameters == {"overrides": {"data_dir": "/srv/bsg"}}, d.name
    lookups = deployments["serve-legacy-lookups"]
    assert lookups.flow_name == "bsg-legacy-lookups" and not lookups.schedules
    assert lookups.entrypoint == "bsg_analytics/flows/legacy.py:legacy_flow"
    with pytest.raises(ValueError, match="nothing to look up: give sms_ids, references"):
        legacy_flow.fn()
