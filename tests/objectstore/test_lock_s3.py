"""The lease lock on S3 (moto): exclusive create, a clear refusal, waiting, dead holders."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from bsg_analytics import locking
from bsg_analytics.locking import LOCK_NAME, SyncLocked, sync_lock
from bsg_analytics.storage import STATE


def lease(d) -> dict:
    return orjson.loads(d.read_bytes(d.path(STATE, LOCK_NAME)))


def test_the_store_refuses_a_second_exclusive_create(s3_data_dir):
    """What the lock stands on: `If-None-Match: *` is honoured, and the error is recognised."""
    d = s3_data_dir
    path = d.path(STATE, "x")
    d.fs.pipe_file(path, b"first", mode="create")
    with pytest.raises(OSError) as info:
        d.fs.pipe_file(path, b"second", mode="create")
    assert isinstance(info.value, FileExistsError)
    assert locking._is_conflict(info.value)
    assert d.read_bytes(path) == b"first"


def test_a_stale_if_match_is_refused_and_recognised(s3_data_dir):
    """The takeover's compare-and-swap: a PUT with an old ETag fails as a conflict."""
    d = s3_data_dir
    path = d.path(STATE, "y")
    old = d.fs.pipe_file(path, b"v1", mode="create")["ETag"]
    d.fs.pipe_file(path, b"v2", IfMatch=old)
    with pytest.raises(OSError) as info:
        d.fs.pipe_file(path, b"v3", IfMatch=old)
    assert not isinstance(info.value, FileExistsError)  # a plain OSError: the cause decides
    assert locking._is_conflict(info.value)
    assert d.read_bytes(path) == b"v2"


def test_other_errors_are_not_conflicts(s3_server):
    from bsg_analytics.storage import DataDir

    d = DataDir("s3://no-such-bucket-bsg/p")
    with pytest.raises(OSError) as info:
        d.fs.pipe_file(d.path("x"), b"1", mode="create")
    assert not locking._is_conflict(info.value)


def test_second_sync_stops_with_a_clear_message(s3_data_dir):
    d = s3_data_dir
    with sync_lock(d):
        held = lease(d)
        assert held["pid"] and held["host"] and held["expires"]
        started = time.monotonic()
        with pytest.raises(SyncLocked) as info, sync_lock(d, wait_seconds=0.3):
            pass
        assert time.monotonic() - started >= 0.3
        message = str(info.value)
        assert message.startswith(f"another sync is running on {d.uri()} (held by pid ")
        assert f"pid {held['pid']} on {held['host']} since {held['since']}" in message
        assert lease(d)["token"] == held["token"]  # the refused one took nothing
    assert not d.exists(d.path(STATE, LOCK_NAME))  # released
    with sync_lock(d):  # and the next one gets it at once
        pass


def test_second_sync_can_wait_for_the_first(s3_data_dir):
    d = s3_data_dir
    holding, release = threading.Event(), threading.Event()

    def hold():
        with sync_lock(d):
            holding.set()
            release.wait(20)

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(20)
    first = lease(d)["token"]
    threading.Timer(0.5, release.set).start()
    started = time.monotonic()
    with sync_lock(d, wait_seconds=15):
        assert time.monotonic() - started >= 0.4
        assert lease(d)["token"] != first
    holder.join(20)


def test_an_expired_lease_is_taken_over(s3_data_dir):
    d = s3_data_dir
    dead = {
        "host": "gone-host",
        "pid": 4242,
        "token": "dead",
        "since": "2026-11-20T10:00:00+00:00",
        "expires": (datetime.now(UTC) - timedelta(seconds=1)).isoformat(timespec="seconds"),
    }
    d.write_bytes(d.path(STATE, LOCK_NAME), orjson.dumps(dead))
    with sync_lock(d, wait_seconds=0):
        assert lease(d)["token"] != "dead"
    assert not d.exists(d.path(STATE, LOCK_NAME))


def test_a_live_lease_of_another_host_is_respected(s3_data_dir):
    d = s3_data_dir
    alive = {
        "host": "other-host",
        "pid": 7,
        "token": "alive",
        "since": "2026-11-20T10:00:00+00:00",
        "expires": (datetime.now(UTC) + timedelta(minutes=5)).isoformat(timespec="seconds"),
    }
    d.write_bytes(d.path(STATE, LOCK_NAME), orjson.dumps(alive))
    refused = pytest.raises(SyncLocked, match=r"held by pid 7 on other-host since 2026-11-20")
    with refused, sync_lock(d):
        pass
    assert lease(d)["token"] == "alive"


@pytest.mark.slow  # in the slow pass: the default run stays under 3 minutes
def test_the_holder_renews_its_lease(s3_data_dir):
    d = s3_data_dir
    with sync_lock(d, lease_seconds=3):
        first = lease(d)
        time.sleep(2.2)  # renewal every lease_seconds / 3 = 1 s, expiry to the second
        renewed = lease(d)
        assert renewed["token"] == first["token"]
        assert renewed["expires"] > first["expires"]
        # so a competitor still sees it alive after the first lease would have run out
        time.sleep(1.2)
        with pytest.raises(SyncLocked), sync_lock(d):
            pass


def test_a_late_taker_of_a_dead_lease_does_not_steal_it(s3_data_dir, monkeypatch):
    """Two waiters saw the same dead lease; the first took it over. The second acts on what
    it saw: its takeover is a compare-and-swap on the dead lease's ETag, so it must fail and
    leave the first one holding the lock (a delete-then-create would steal it)."""
    d = s3_data_dir
    path = d.path(STATE, LOCK_NAME)
    expired = (datetime.now(UTC) - timedelta(seconds=1)).isoformat(timespec="seconds")
    dead = {"host": "gone", "pid": 1, "token": "dead", "since": expired, "expires": expired}
    d.write_bytes(path, orjson.dumps(dead))
    seen_then = locking._read_lease(d, path)
    assert seen_then[0] == dead and seen_then[1]
    real = locking._read_lease
    stale = [seen_then]

    def late_read(data_dir, p):
        return stale.pop() if stale else real(data_dir, p)

    with sync_lock(d):  # the first waiter took it over
        winner = lease(d)["token"]
        monkeypatch.setattr(locking, "_read_lease", late_read)
        with pytest.raises(SyncLocked, match=r"held by pid \d+"), sync_lock(d, wait_seconds=0.3):
            pass
        assert stale == []  # the late waiter did act on the dead lease it had seen
        assert lease(d)["token"] == winner
