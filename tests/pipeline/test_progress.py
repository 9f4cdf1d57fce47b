"""What a sync shows while it runs: its stages in order (reading the API, writing the last
windows, building the warehouse), jobs done of total, rows and their rate, and the retries
with their waits; the terminal's bar says each."""

from __future__ import annotations

import io

from bsg_analytics.flows.run import RichProgress
from bsg_analytics.pipeline import STAGES, Progress, run_sync
from bsg_analytics.warehouse import build_warehouse
from bsg_simulator.testing import TEST_NOW, make_simulator
from tests.pipeline.e2e import SINCE, settings_for


class Recording(Progress):
    def __init__(self):
        self.events: list[tuple] = []

    def start(self, total, resumed):
        self.events.append(("start", total, resumed))

    def advance(self, outcome, rows):
        self.events.append(("advance", rows))

    def stage(self, name):
        self.events.append(("stage", name))

    def retries(self, count, waited):
        self.events.append(("retries", count, waited))


def test_a_sync_reports_its_stages_in_order_and_its_retries(tmp_path, transport_for):
    sim = make_simulator(messages=2_000, seed=3, fault_rate=0.25)
    progress = Recording()
    settings = settings_for(tmp_path / "d", backoff_max_seconds=0.01)
    report = run_sync(
        settings, SINCE, transport=transport_for(sim), now=TEST_NOW, progress=progress,
        finish=build_warehouse,
    )  # fmt: skip
    stages = [e[1] for e in progress.events if e[0] == "stage"]
    assert stages == list(STAGES)
    first_write = progress.events.index(("stage", "write"))
    advances = [i for i, e in enumerate(progress.events) if e[0] == "advance"]
    assert len(advances) == report.windows_done
    assert sum(e[1] for e in progress.events if e[0] == "advance") == report.rows["messages"]
    assert advances[0] < first_write
    retried = [e for e in progress.events if e[0] == "retries"]
    assert retried and retried[-1][1] > 0  # the faults were retried, and said so
    counts = [e[1] for e in retried]
    assert counts == sorted(counts)


def test_the_bar_names_the_stage_the_jobs_the_rate_and_the_retries():
    from rich.console import Console

    out = io.StringIO()
    console = Console(file=out, width=200, force_terminal=True, color_system=None)
    with RichProgress(console=console) as bar:
        bar.start(10, 2)
        bar.stage("extract")
        bar.advance(None, 1_500)
        bar.retries(3, 4.2)
        bar.stage("warehouse")
    text = out.getvalue()
    last = [line for line in text.splitlines() if "sync" in line][-1]
    assert "sync building the warehouse" in last
    assert "3/10 jobs · 1,500 rows (" in last and "/s) · 3 retried, 4 s waited" in last
    assert "· left" in last and "· elapsed" in last


def test_the_summary_gives_the_commands_time_and_the_syncs_when_they_differ():
    """Under Prefect the command took 22 s for a 3.1 s sync (a temporary server's start):
    the summary said 3.1 s."""
    from benchmarks.e2e import parse_sync_output
    from bsg_analytics.flows.run import summary_line

    report = {"seconds": 3.1, "command_seconds": 22.04, "rows": {"messages": 10},
              "rows_new": {"messages": 10}}  # fmt: skip
    line = summary_line(report)
    assert line.startswith("synced in 22.0s (the sync itself 3.1s): messages 10 (all new); ")
    assert parse_sync_output(line)["messages"] == 10
    assert summary_line({**report, "command_seconds": 3.5}).startswith("synced in 3.1s: ")
