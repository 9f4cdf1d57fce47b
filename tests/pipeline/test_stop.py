"""A run asked to stop (the command line's Ctrl-C sets the flag, `stop_on_ctrl_c`) ends at
its next check as interrupted, keeps what it wrote checkpointed, and the next run takes it
over and ends equal to the truth. The flag is the only way the first Ctrl-C reaches a sync:
Python's own KeyboardInterrupt, raised wherever the main thread is, was lost or doubled."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from bsg_analytics.flows import run as run_module
from bsg_analytics.flows.run import stop_on_ctrl_c
from bsg_analytics.pipeline import Progress, run_sync
from bsg_analytics.state import SyncState
from bsg_analytics.storage import DataDir
from bsg_simulator.testing import TEST_NOW
from tests.pipeline.e2e import SINCE, assert_campaigns_match, assert_messages_match, settings_for


class StopAfter(Progress):
    """Sets `stop` once `n` windows are written, as a Ctrl-C would."""

    def __init__(self, stop: threading.Event, n: int):
        self.stop, self.n, self.seen = stop, n, 0

    def advance(self, outcome, rows: int) -> None:
        self.seen += 1
        if self.seen >= self.n:
            self.stop.set()


@pytest.mark.parametrize("after", [1, 5])
def test_a_run_asked_to_stop_ends_interrupted_and_the_next_one_takes_it_over(
    after, tmp_path, sim, transport_for
):
    settings = settings_for(tmp_path / "d")
    stop = threading.Event()
    progress = StopAfter(stop, after)
    with pytest.raises(KeyboardInterrupt):
        run_sync(
            settings, SINCE, transport=transport_for(sim), now=TEST_NOW, progress=progress,
            stop=stop,
        )  # fmt: skip
    state = SyncState.load(DataDir(settings.data_dir))
    assert state.run is not None, "the interrupted run is remembered"
    done = len(state.run.done)
    assert done >= 1
    report = run_sync(settings, SINCE, transport=transport_for(sim), now=TEST_NOW)
    assert report.took_over == state.run.run_id
    assert report.windows_skipped == done
    assert done < report.windows_total  # it stopped soon, not at the end
    assert_messages_match(tmp_path / "d", sim, TEST_NOW)
    assert_campaigns_match(tmp_path / "d", sim, TEST_NOW)


def test_a_stop_asked_before_the_run_reads_nothing(tmp_path, sim, transport_for):
    settings = settings_for(tmp_path / "d")
    stop = threading.Event()
    stop.set()
    with pytest.raises(KeyboardInterrupt):
        run_sync(settings, SINCE, transport=transport_for(sim), now=TEST_NOW, stop=stop)
    state = SyncState.load(DataDir(settings.data_dir))
    assert state.watermark is None and state.run is not None and not state.run.done


def test_the_first_ctrl_c_sets_the_flag_and_the_second_interrupts():
    before = signal.getsignal(signal.SIGINT)
    with stop_on_ctrl_c() as stop:
        assert not stop.is_set()
        os.kill(os.getpid(), signal.SIGINT)  # handled before the next bytecode
        assert stop.is_set()
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is before


def test_off_the_main_thread_the_flag_is_never_set_and_no_handler_is_installed():
    got = {}

    def body():
        with stop_on_ctrl_c() as stop:
            got["handler"] = signal.getsignal(signal.SIGINT)
            got["stop"] = stop.is_set()

    before = signal.getsignal(signal.SIGINT)
    t = threading.Thread(target=body)
    t.start()
    t.join()
    assert got == {"handler": before, "stop": False}


def test_a_ctrl_c_once_the_run_has_finished_ends_the_command_with_its_summary(
    tmp_path, monkeypatch, capsys
):
    """Pressed as the summary is being printed (the run done): exit 0 and the summary, not a
    KeyboardInterrupt with a traceback (exit -2, seen in the real-clock test)."""
    report = {"rows": {"messages": 3}, "since": "2026-11-01T00:00:00+00:00",
              "until": "2026-11-02T00:00:00+00:00"}  # fmt: skip

    def finished_then_ctrl_c(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)
        return report

    monkeypatch.setattr(run_module, "run_with_display", finished_then_ctrl_c)
    monkeypatch.setattr(run_module, "uses_prefect", lambda settings: False)
    before = signal.getsignal(signal.SIGINT)
    code = run_module.run_sync_command(settings_for(tmp_path / "d"), progress=False)
    out = capsys.readouterr().out
    assert code == 0 and out.startswith("synced 2026-11-01 00:00 .. 2026-11-02 00:00 UTC"), out
    assert signal.getsignal(signal.SIGINT) is before
