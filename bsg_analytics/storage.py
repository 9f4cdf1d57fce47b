"""The data directory: a local folder or an object-store URL (`s3://bucket/prefix`), via fsspec.

Everything that reads or writes under `D/` goes through `DataDir`, so the same code serves a
laptop and a bucket. Writes of single files are atomic: on local disk a temporary name (never
ending in `.parquet`) is renamed into place; on object stores a PUT is atomic by itself.

Object storage (S3 and S3-compatible stores such as MinIO, via s3fs): credentials come from the
standard AWS variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
`AWS_DEFAULT_REGION`, `AWS_PROFILE`, ...) through botocore's usual chain; `AWS_ENDPOINT_URL_S3`
or `AWS_ENDPOINT_URL` points at an S3-compatible store. Directory listings are not cached:
other machines write to the same bucket, and a stale listing would hide their files.

The DuckDB warehouse is always a local file (DuckDB cannot write a database file to a
bucket). For a local data directory it is `D/warehouse.duckdb`; for a remote one it is
`./warehouse.duckdb` in the working folder at the time the `DataDir` is made. Either can be
overridden with `DataDir(url, warehouse_path=...)` or the `BSG_WAREHOUSE_PATH` variable.
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


S3_PROTOCOLS = ("s3", "s3a")
WAREHOUSE_PATH_ENV = "BSG_WAREHOUSE_PATH"


def storage_options(url: str) -> dict:
    """fsspec options for `url`: for S3, no listing cache and the endpoint from the environment."""
    protocol, _ = fsspec.core.split_protocol(url)
    if protocol not in S3_PROTOCOLS:
        return {}
    options: dict = {"use_listings_cache": False}
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        options["client_kwargs"] = {"endpoint_url": endpoint}
    return options


class DataDir:
    def __init__(
        self,
        url: str | os.PathLike[str],
        warehouse_path: str | os.PathLike[str] | None = None,
    ):
        url = os.fspath(url)
        self.fs, root = fsspec.core.url_to_fs(url, **storage_options(url))
        self.is_local = "file" in _protocols(self.fs)
        if self.is_local:
            root = str(Path(root).expanduser().resolve())
        self.root = root.rstrip("/")
        self.protocol = "" if self.is_local else _protocols(self.fs)[0]
        if warehouse_path is None:
            warehouse_path = os.environ.get(WAREHOUSE_PATH_ENV) or None
        if warehouse_path is not None:
            self._warehouse_path = Path(warehouse_path).expanduser().resolve()
        elif self.is_local:
            self._warehouse_path = Path(self.path(WAREHOUSE_FILE))
        else:
            self._warehouse_path = Path.cwd() / WAREHOUSE_FILE

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
        """The DuckDB file, always on local disk: `D/warehouse.duckdb` when the data directory
        is local, else `./warehouse.duckdb` (the working folder when this `DataDir` was made);
        `warehouse_path=` or `BSG_WAREHOUSE_PATH` override both."""
        return self._warehouse_path

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
            reason = " ".join(str(exc).split()) or type(exc).__name__
            raise PermissionError(
                f"data directory {self.uri()} is not writable: {reason}"
            ) from None


def _protocols(fs) -> tuple[str, ...]:
    proto = fs.protocol
    return (proto,) if isinstance(proto, str) else tuple(proto)
