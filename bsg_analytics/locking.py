"""One sync at a time per data directory.

Local disk: `filelock` on `D/state/sync.lock` (released by the OS if the process dies).
Object storage: a lease object `D/state/sync.lock` created with an exclusive PUT
(`If-None-Match: *`), holding its owner and an expiry; a lease past its expiry (its holder
died) may be taken over. Either way the second sync waits up to `wait_seconds`, then stops
with a message that says who holds the lock.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import orjson

from bsg_analytics.storage import S3_PROTOCOLS, STATE, DataDir

LOCK_NAME = "sync.lock"
log = logging.getLogger(__name__)


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
            etag = _etag(data_dir.fs.pipe_file(path, body(), mode="create"))
            break
        except OSError as exc:
            if not _is_conflict(exc):
                raise
        # someone holds it (the exclusive PUT refused): look at the lease
        current, current_etag = _read_lease(data_dir, path)
        if current is None:
            continue  # released in between: try again at once
        if _expired(current):
            # its holder is gone: take it over with a compare-and-swap on the lease's ETag, so
            # of two waiters that both saw it expire only one wins
            try:
                etag = _etag(_replace(data_dir, path, body(), current_etag))
                break
            except OSError as exc:
                if not _is_conflict(exc):
                    raise
                continue
        if time.monotonic() >= deadline:
            raise SyncLocked(
                f"another sync is running on {data_dir.uri()}{_describe(current)}"
            ) from None
        time.sleep(min(1.0, max(0.05, deadline - time.monotonic())))

    stop = threading.Event()

    def renew() -> None:
        nonlocal etag
        while not stop.wait(lease_seconds / 3):
            try:
                if etag and data_dir.protocol in S3_PROTOCOLS:
                    etag = _etag(data_dir.fs.pipe_file(path, body(), IfMatch=etag))
                    continue
                current, _ = _read_lease(data_dir, path)
                if not current or current.get("token") != owner["token"]:
                    raise SyncLocked("the lease was taken over")
                etag = _etag(data_dir.fs.pipe_file(path, body()))
            except Exception as exc:  # lost the lease or the store: say so, stop renewing
                log.warning("sync lock %s: renewing the lease failed: %s", path, exc)
                return

    renewer = threading.Thread(target=renew, name="sync-lock-renew", daemon=True)
    renewer.start()
    try:
        yield
    finally:
        stop.set()
        renewer.join(timeout=5)
        current, _ = _read_lease(data_dir, path)
        if current and current.get("token") == owner["token"]:
            data_dir.rm(path)


def _replace(data_dir: DataDir, path: str, data: bytes, etag: str | None):
    """Overwrite `path` only if it is still the version `etag` names (S3 `If-Match`)."""
    if etag and data_dir.protocol in S3_PROTOCOLS:
        return data_dir.fs.pipe_file(path, data, IfMatch=etag)
    # no compare-and-swap known for this store: delete, then the exclusive create decides
    data_dir.rm(path)
    return data_dir.fs.pipe_file(path, data, mode="create")


def _etag(response) -> str | None:
    return response.get("ETag") if isinstance(response, dict) else None


def _read_lease(data_dir: DataDir, path: str) -> tuple[dict | None, str | None]:
    """The lease and its ETag (taken first, so the body read is at least that new)."""
    try:
        etag = data_dir.fs.info(path).get("ETag")
    except FileNotFoundError:
        return None, None
    try:
        current = orjson.loads(data_dir.read_bytes(path))
    except FileNotFoundError:
        return None, None
    except orjson.JSONDecodeError:
        current = {}
    return (current if isinstance(current, dict) else {}), etag


_CONFLICT_CODES = {"PreconditionFailed", "ConditionalRequestConflict", "412", "409"}


def _is_conflict(exc: BaseException) -> bool:
    """True when a conditional PUT was refused because the object exists or has changed.

    s3fs raises `FileExistsError` for a refused `If-None-Match: *`; a refused `If-Match`, a
    `409 ConditionalRequestConflict` (two conditional writes at once) or a store that does
    not name the condition come as a plain `OSError` whose cause is the botocore error, so
    the S3 error code and HTTP status of the cause decide.
    """
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, FileExistsError):
            return True
        response = getattr(exc, "response", None)
        if isinstance(response, dict):
            code = str(response.get("Error", {}).get("Code", ""))
            status = str(response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
            if code in _CONFLICT_CODES or status in ("409", "412"):
                return True
        cause = exc.__cause__ or exc.__context__
        if cause is None:
            return False
        exc = cause
    return False


def _read_json(data_dir: DataDir, path: str) -> dict | None:
    try:
        return orjson.loads(data_dir.read_bytes(path))
    except (FileNotFoundError, orjson.JSONDecodeError):
        return None


def _read_owner(data_dir: DataDir, path: str) -> str:
    return _describe(_read_json(data_dir, path))


def _describe(owner: dict | None) -> str:
    if owner is None:
        return ""
    if not owner.get("pid") and not owner.get("host"):
        return " (its lease object is unreadable: delete it if no sync is running)"
    return f" (held by pid {owner.get('pid')} on {owner.get('host')} since {owner.get('since')})"


def _expired(owner: dict) -> bool:
    try:
        return datetime.fromisoformat(owner["expires"]) < datetime.now(UTC)
    except (KeyError, ValueError):
        return False
