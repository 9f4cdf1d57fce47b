"""The data directory: a local folder or an object-store URL (`s3://bucket/prefix`), via fsspec.

Everything that reads or writes under `D/` goes through `DataDir`, so the same code serves a
laptop and a bucket. Writes of single files are atomic: on local disk a temporary name (never
ending in `.parquet`) is renamed into place; on object stores a PUT is atomic by itself.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import fsspec

RAW = "raw"
PARQUET = "parquet"
STATE = "state"
STAGING = "staging"  # beside parquet/, never inside a dataset (STACK-NOTES.md)
WAREHOUSE_FILE = "warehouse.duckdb"


class DataDir:
    def __init__(self, url: str | os.PathLike[str]):
        url = os.fspath(url)
        self.fs, root = fsspec.core.url_to_fs(url)
        self.is_local = "file" in _protocols(self.fs)
        if self.is_local:
            root = str(Path(root).expanduser().resolve())
        self.root = root.rstrip("/")
        self.protocol = "" if self.is_local else _protocols(self.fs)[0]

    def __repr__(self) -> str:
        return f"DataDir({self.uri()!r})"

    # paths -------------------------------------------------------------------------------
    def path(self, *parts: str) -> str:
        """A path for `self.fs` (no protocol)."""
        return "/".join([self.root, *(p.strip("/") for p in parts if p)])

    def uri(self, *parts: str) -> str:
        """A path for readers outside fsspec (polars, DuckDB): absolute, with its protocol."""
        path = self.path(*parts)
        return path if self.is_local else f"{self.protocol}://{path}"

    def table_uri(self, table: str) -> str:
        return self.uri(PARQUET, table)

    @property
    def warehouse_path(self) -> Path:
        """The DuckDB file: inside the data directory when local, else in the working folder."""
        if self.is_local:
            return Path(self.path(WAREHOUSE_FILE))
        return Path.cwd() / WAREHOUSE_FILE

    # files ------------------------------------------------------------------------------
    def exists(self, path: str) -> bool:
        return self.fs.exists(path)

    def read_bytes(self, path: str) -> bytes:
        return self.fs.cat_file(path)

    def write_bytes(self, path: str, data: bytes) -> None:
        """Write a whole file atomically: a reader sees the old file or the new one."""
        if self.is_local:
            parent = Path(path).parent
            parent.mkdir(parents=True, exist_ok=True)
            tmp = parent / f".tmp-{uuid.uuid4().hex}"
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        else:
            self.fs.pipe_file(path, data)

    def makedirs(self, path: str) -> None:
        if self.is_local:
            Path(path).mkdir(parents=True, exist_ok=True)

    def glob(self, pattern: str) -> list[str]:
        return sorted(self.fs.glob(pattern))

    def walk_files(self, path: str) -> Iterator[str]:
        if not self.fs.exists(path):
            return
        for root, _dirs, files in self.fs.walk(path):
            for name in files:
                yield f"{root.rstrip('/')}/{name}"

    def rm(self, path: str, recursive: bool = False) -> None:
        if self.fs.exists(path):
            self.fs.rm(path, recursive=recursive)

    def check_writable(self) -> None:
        """Fail at once, with one clear line, when the data directory cannot be written."""
        probe = self.path(STATE, f".probe-{uuid.uuid4().hex}")
        try:
            self.write_bytes(probe, b"ok")
            self.fs.rm(probe)
        except Exception as exc:
            raise PermissionError(f"data directory {self.uri()} is not writable: {exc}") from None


def _protocols(fs) -> tuple[str, ...]:
    proto = fs.protocol
    return (proto,) if isinstance(proto, str) else tuple(proto)
