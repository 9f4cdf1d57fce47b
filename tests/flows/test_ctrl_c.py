"""Ctrl-C on `bsg-analytics sync`, as a user presses it: a real process, SIGINT at moments
spread over the sync, against a simulator on loopback. Every press ends the sync within
seconds with exit 130 and the one line that says what is kept and what to do (never lost:
the sync running on to exit 0; never a failure or a traceback: exit 1, -2), and the next
sync ends the job. Before the flag (`stop_on_ctrl_c`), some presses were lost in a loop
like this one (the sync ran on to exit 0)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bsg_analytics.state import SyncState
from bsg_analytics.storage import DataDir
from bsg_simulator.testing import running_simulator

CLI = Path(sys.executable).with_name("bsg-analytics")
LINE = (
    "bsg-analytics: interrupted; every window written so far is kept and checkpointed: "
    "run the same command again to continue"
)


def test_ctrl_c_ends_a_sync_with_its_line_and_the_next_sync_continues(tmp_path):
    data = tmp_path / "d"
    with running_simulator(messages=20_000, seed=3) as (url, _sim):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BSG_", "PREFECT_"))}
        env |= {"BSG_API_URL": url, "BSG_REST_URL": url, "BSG_API_TOKEN": "tok-ctrl-c",
                "BSG_DATA_DIR": str(data), "BSG_ORCHESTRATOR": "plain", "BSG_PAGE_LIMIT": "100",
                "BSG_WINDOW_DAYS": "7", "BSG_CONCURRENCY": "2"}  # fmt: skip
        since = (datetime.now(UTC) - timedelta(days=150)).date().isoformat()
        args = [str(CLI), "sync", "--since", since, "--no-progress"]
        seen = []
        for delay in (2.5, 3.5, 4.5):
            proc = subprocess.Popen(args, env=env, cwd=tmp_path, text=True,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
            time.sleep(delay)
            proc.send_signal(signal.SIGINT)
            sent = time.monotonic()
            out, err = proc.communicate(timeout=60)
            took = time.monotonic() - sent
            finished = SyncState.load(DataDir(str(data))).run is None
            seen.append((delay, proc.returncode, round(took, 2), finished))
            if proc.returncode == 0:  # came as the warehouse was being built: all is written
                assert finished and out.startswith("synced "), (seen, out, err)
                continue
            assert proc.returncode == 130, (seen, out, err)
            assert err.strip().splitlines()[-1] == LINE, (seen, err)
            assert "Traceback" not in err, err
            assert took < 10, seen
        done = subprocess.run(args, env=env, cwd=tmp_path, text=True, capture_output=True,
                              timeout=120)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert SyncState.load(DataDir(str(data))).run is None
        assert any(rc == 130 for _d, rc, _t, _f in seen), seen


def test_ctrl_c_while_the_command_starts_is_said_in_the_same_line(tmp_path):
    """A press while the modules load, or while Typer reads the arguments, ended the command
    with exit 130 and nothing said; now it is the same one line, said once, whenever it
    comes (no API is reached: the URL goes nowhere)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BSG_", "PREFECT_"))}
    env |= {"BSG_API_URL": "http://127.0.0.1:9", "BSG_API_TOKEN": "tok-early",
            "BSG_DATA_DIR": str(tmp_path / "d"), "BSG_ORCHESTRATOR": "plain"}  # fmt: skip
    for delay in (0.05, 0.1, 0.2, 0.3, 0.6, 1.5, 3.0):
        proc = subprocess.Popen(
            [str(CLI), "sync", "--no-progress"], env=env, cwd=tmp_path, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        pressed = time.monotonic()
        _out, err = proc.communicate(timeout=60)
        # later presses land while a request retries against the dead URL: the client is
        # cancelled, so it gives up at its next try (a backoff sleep at most), not minutes on
        assert time.monotonic() - pressed < 35, delay
        assert proc.returncode == 130, (delay, proc.returncode, err[-500:])
        assert err.strip().splitlines() == [LINE], (delay, err[-500:])


def test_ctrl_c_once_the_summary_is_out_keeps_the_exit_code(tmp_path):
    """A press as the process shuts down (threads joined, files closed), after the sync said
    how it ended: exit 0 and the summary (it was death by SIGINT, -2, in the real-clock
    test)."""
    with running_simulator(messages=2_000, seed=3) as (url, _sim):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BSG_", "PREFECT_"))}
        env |= {"BSG_API_URL": url, "BSG_REST_URL": url, "BSG_API_TOKEN": "tok-late",
                "BSG_DATA_DIR": str(tmp_path / "d"), "BSG_ORCHESTRATOR": "plain",
                "PYTHONUNBUFFERED": "1"}  # fmt: skip
        for _ in range(3):
            proc = subprocess.Popen(
                [str(CLI), "sync", "--no-progress"], env=env, cwd=tmp_path, text=True,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            )  # fmt: skip
            assert proc.stdout is not None
            line = proc.stdout.readline()  # the summary: the command has said how it ended
            proc.send_signal(signal.SIGINT)
            _rest, err = proc.communicate(timeout=60)
            assert line.startswith("synced "), (line, err[-500:])
            assert proc.returncode == 0, (proc.returncode, err[-500:])
