import multiprocessing
import time

import pytest

from bsg_analytics.locking import SyncLocked, sync_lock
from bsg_analytics.storage import DataDir


def _hold(path: str, ready, release) -> None:
    with sync_lock(DataDir(path)):
        ready.set()
        release.wait(20)


def test_second_sync_stops_with_a_clear_message(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold, args=(str(tmp_path), ready, release))
    holder.start()
    try:
        assert ready.wait(30)
        message = r"another sync is running on .* \(held by pid \d+"
        with (
            pytest.raises(SyncLocked, match=message),
            sync_lock(DataDir(tmp_path), wait_seconds=0.2),
        ):
            pass
    finally:
        release.set()
        holder.join(20)
    # released: the next one gets it at once
    with sync_lock(DataDir(tmp_path)):
        pass


def test_second_sync_can_wait_for_the_first(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold, args=(str(tmp_path), ready, release))
    holder.start()
    assert ready.wait(30)
    started = time.monotonic()

    def later():
        time.sleep(0.5)
        release.set()

    import threading

    threading.Thread(target=later).start()
    with sync_lock(DataDir(tmp_path), wait_seconds=15):
        assert time.monotonic() - started >= 0.4
    holder.join(20)


def test_a_dead_holder_does_not_block(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold, args=(str(tmp_path), ready, release))
    holder.start()
    assert ready.wait(30)
    holder.kill()
    holder.join(10)
    with sync_lock(DataDir(tmp_path), wait_seconds=5):
        pass
