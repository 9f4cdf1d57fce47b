"""The README documents what users rely on: every metric view and every command."""

from pathlib import Path

from bsg_analytics.warehouse import METRIC_DOCS

README = (Path(__file__).parents[2] / "README.md").read_text()


def test_every_metric_view_is_defined_in_the_readme():
    section = README.split("## Tables and metrics", 1)[1].split("\n## ", 1)[0]
    missing = [v for v in METRIC_DOCS if v != "message_facts" and f"`{v}`" not in section]
    assert not missing


def test_quickstart_is_two_commands():
    block = README.split("## Quickstart", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    commands = [line for line in block.strip().splitlines() if line.strip()]
    assert len(commands) == 2
    assert "bsg-analytics demo" in commands[0]
    assert commands[1].endswith("pytest")


def test_ci_runs_the_readme_test_command():
    block = README.split("## Quickstart", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    test_command = [line for line in block.strip().splitlines() if line.strip()][1].strip()
    ci = (Path(__file__).parents[2] / ".ci" / "run").read_text().splitlines()
    assert test_command in [line.strip() for line in ci]
