"""One sync at a time per data directory.

Local disk: `filelock` on `D/state/sync.lock` (released by the OS if the process dies).
Object storage: a lease object `D/state/sync.lock` created with an exclusive PUT
(`If-None-Match: *`), holding its owner and an expiry; a lease past its expiry (its holder
died) may be taken over. Either way the second sync waits up to `wait_seconds`, then stops
with a message that says who holds the lock.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import orjson

from bsg_analytics.storage import STATE, DataDir

LOCK_NAME = "sync.lock"


class SyncLocked(RuntimeError):
    """Another sync holds the data directory."""


def _owner() -> dict:
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "token": uuid.uuid4().hex,
        "since": datetime.now(UTC).isoformat(timespec="seconds"),
    }


@contextmanager
def sync_lock(data_dir: DataDir, wait_seconds: float = 0.0, lease_seconds: float = 300.0):
    if data_dir.is_local:
        with _local_lock(data_dir, wait_seconds):
            yield
    else:
        with _lease_lock(data_dir, wait_seconds, lease_seconds):
            yield


@contextmanager
def _local_lock(data_dir: DataDir, wait_seconds: float):
    from filelock import FileLock, Timeout

    data_dir.makedirs(data_dir.path(STATE))
    path = data_dir.path(STATE, LOCK_NAME)
    info_path = path + ".owner"
    lock = FileLock(path, timeout=wait_seconds)
    try:
        lock.acquire()
    except Timeout:
        holder = _read_owner(data_dir, info_path)
        raise SyncLocked(f"another sync is running on {data_dir.uri()}{holder}") from None
    try:
        data_dir.write_bytes(info_path, orjson.dumps(_owner()))
        yield
    finally:
        data_dir.rm(info_path)
        lock.release()


@contextmanager
def _lease_lock(data_dir: DataDir, wait_seconds: float, lease_seconds: float):
    path = data_dir.path(STATE, LOCK_NAME)
    owner = _owner()
    deadline = time.monotonic() + wait_seconds

    def body() -> bytes:
        expires = datetime.now(UTC) + timedelta(seconds=lease_seconds)
        return orjson.dumps({**owner, "expires": expires.isoformat(timespec="seconds")})

    while True:
        try:
            data_dir.fs.pipe_file(path, body(), mode="create")
            break
        except (FileExistsError, OSError) as exc:
            if not _is_conflict(exc):
                raise
            current = _read_json(data_dir, path)
            if current and _expired(current):
                data_dir.rm(path)  # its holder is gone; the next exclusive PUT decides
                continue
            if time.monotonic() >= deadline:
                holder = _describe(current)
                raise SyncLocked(f"another sync is running on {data_dir.uri()}{holder}") from None
            time.sleep(min(1.0, max(0.05, deadline - time.monotonic())))

    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(lease_seconds / 3):
            current = _read_json(data_dir, path)
            if current and current.get("token") == owner["token"]:
                data_dir.fs.pipe_file(path, body())

    renewer = threading.Thread(target=renew, name="sync-lock-renew", daemon=True)
    renewer.start()
    try:
        yield
    finally:
        stop.set()
        renewer.join(timeout=5)
        current = _read_json(data_dir, path)
        if current and current.get("token") == owner["token"]:
            data_dir.rm(path)


def _is_conflict(exc: BaseException) -> bool:
    if isinstance(exc, FileExistsError):
        return True
    text = str(exc)
    return "PreconditionFailed" in text or "412" in text or "ConditionalRequestConflict" in text


def _read_json(data_dir: DataDir, path: str) -> dict | None:
    try:
        return orjson.loads(data_dir.read_bytes(path))
    except (FileNotFoundError, orjson.JSONDecodeError):
        return None


def _read_owner(data_dir: DataDir, path: str) -> str:
    return _describe(_read_json(data_dir, path))


def _describe(owner: dict | None) -> str:
    if not owner:
        return ""
    return f" (held by pid {owner.get('pid')} on {owner.get('host')} since {owner.get('since')})"


def _expired(owner: dict) -> bool:
    try:
        return datetime.fromisoformat(owner["expires"]) < datetime.now(UTC)
    except (KeyError, ValueError):
        return False
