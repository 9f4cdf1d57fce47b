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

Replacing every table at once (`transforms.pipeline.rebuild`): the new tables are written to a
sibling `D/parquet.rebuild-<id>/` (outside `D/parquet/`, so no reader ever globs it), then
`swap_in` puts them in place: it first writes the marker `D/parquet.rebuild-<id>.ready` (the
build is complete), then

- local disk: renames `D/parquet` to `D/parquet.old-<id>`, renames the build to `D/parquet`,
  removes the marker, deletes the old tables. Between the two renames (two metadata
  operations, microseconds) `D/parquet` does not exist: a reader globbing then sees no tables;
  a reader that already opened a file keeps reading it.
- object stores (no rename): copies the build over `D/parquet/` table by table (server-side
  copies, one atomic PUT per object), deletes the objects the build does not have, removes
  the marker, then the build. While it runs a reader may see some tables or partitions new
  and some old, each file whole.

A crash at any point is repaired by `clean_temporary` at the start of the next sync or
rebuild: a build with its marker is complete and is installed (the swap is finished), a build
without one is deleted, and leftover old tables are deleted (or put back when `D/parquet` is
missing and no complete build exists).
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import fsspec

from bsg_analytics.settings import MissingExtra

RAW = "raw"
PARQUET = "parquet"
STATE = "state"
STAGING = "staging"  # beside parquet/, never inside a dataset that readers glob
WAREHOUSE_FILE = "warehouse.duckdb"
PARQUET_SUFFIX = ".parquet"
TMP_PREFIX = ".tmp-"  # `write_bytes`' temporary files, beside their target
_TMP_SEQ = itertools.count()  # their numbers in this process (`next` is atomic under the GIL)
PROBE_PREFIX = ".probe-"  # `check_writable`'s probe, under state/
REBUILD_PREFIX = PARQUET + ".rebuild-"  # D/parquet.rebuild-<id>/: tables being rebuilt
READY_SUFFIX = ".ready"  # D/parquet.rebuild-<id>.ready: that build is complete
OLD_PREFIX = PARQUET + ".old-"  # D/parquet.old-<id>/: the tables a build replaced (local)
# object stores fsspec reaches only with a package of an extra: protocol -> (extra, module)
PROTOCOL_EXTRAS = {"s3": ("s3", "s3fs"), "s3a": ("s3", "s3fs")}


S3_PROTOCOLS = ("s3", "s3a")
WAREHOUSE_PATH_ENV = "BSG_WAREHOUSE_PATH"


class SwapIncomplete(RuntimeError):
    """Replacing D/parquet/ on an object store stopped after it began: some tables are new,
    some old; the next `clean_temporary` (start of a sync or rebuild) finishes it."""


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
        try:
            self.fs, root = fsspec.core.url_to_fs(url, **storage_options(url))
        except ImportError as exc:
            protocol = fsspec.core.split_protocol(url)[0] or "file"
            if protocol in PROTOCOL_EXTRAS:
                extra, module = PROTOCOL_EXTRAS[protocol]
                raise MissingExtra(f"BSG_DATA_DIR={protocol}://...", extra, module) from exc
            raise
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

    def table_files(self, table: str, root: str = PARQUET) -> list[str]:
        """The Parquet files of a table (`D/<root>/<table>/**/*.parquet`), sorted: the one
        rule every reader of the tables uses (the writer's layout: `transforms.writer`)."""
        base = self.path(root, table)
        return sorted(p for p in self.walk_files(base) if p.endswith(PARQUET_SUFFIX))

    @property
    def warehouse_path(self) -> Path:
        """The DuckDB file, always on local disk: `D/warehouse.duckdb` when the data directory
        is local, else `./warehouse.duckdb` (the working folder when this `DataDir` was made);
        `warehouse_path=` or `BSG_WAREHOUSE_PATH` override both."""
        return self._warehouse_path

    def nothing_synced(self) -> str | None:
        """Why there is nothing here to query, in one line (no such directory, or one that
        holds neither a sync's state nor a table); None when there is. The commands that
        read (`sql`, `report`) say it rather than make an empty warehouse."""
        if not self.fs.exists(self.path()):
            return (
                f"no data directory at {self.uri()}: `bsg-analytics sync -d {self.uri()}` (or "
                "`demo`) makes one; -d or BSG_DATA_DIR names another"
            )
        if not (self.fs.exists(self.path(STATE)) or self.fs.exists(self.path(PARQUET))):
            return (
                f"{self.uri()} holds no sync yet (no state/ and no parquet/): run "
                f"`bsg-analytics sync -d {self.uri()}` first, or give -d the data directory"
            )
        return None

    # files ------------------------------------------------------------------------------
    def exists(self, path: str) -> bool:
        return self.fs.exists(path)

    def read_bytes(self, path: str) -> bytes:
        return self.fs.cat_file(path)

    def write_bytes(self, path: str, data: bytes, *, durable: bool = True) -> None:
        """Write a whole file atomically: a reader sees the old file or the new one.
        `durable=False` skips its own fsync: a `barrier()` before whatever relies on it
        being on disk makes it durable (raw pages: one barrier per window, not one fsync
        per file, `RawStore.write`)."""
        if self.is_local:
            # a name unique to this process and write, without a system call for randomness;
            # the folder is made when the first open finds it missing (one call per file
            # saved: a raw page lands two files, a thousand pages a run)
            parent = os.path.dirname(path) or "."
            tmp = f"{parent}/{TMP_PREFIX}{os.getpid()}-{next(_TMP_SEQ)}"
            try:
                fh = open(tmp, "wb")  # noqa: SIM115 (closed below, after the retry)
            except FileNotFoundError:
                os.makedirs(parent, exist_ok=True)
                fh = open(tmp, "wb")  # noqa: SIM115
            with fh:
                fh.write(data)
                if durable:
                    fh.flush()
                    os.fsync(fh.fileno())
            os.replace(tmp, path)
        else:
            self.fs.pipe_file(path, data)

    def barrier(self) -> None:
        """Everything written under the data directory so far is on disk when this returns:
        one ``syncfs(2)`` of its file system (Linux), else ``sync(2)``. An object store
        has nothing to flush (a written object is there)."""
        if not self.is_local:
            return
        fd = os.open(self.root, os.O_RDONLY)
        try:
            if _SYNCFS is None or _SYNCFS(fd) != 0:
                os.sync()
        finally:
            os.close(fd)

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

    # replacing every table; leftovers of killed runs --------------------------------------
    def new_rebuild_root(self) -> str:
        """A fresh name `parquet.rebuild-<id>` (relative to the data directory) to build a
        full set of tables under; `swap_in` puts it in place of `parquet/`."""
        return f"{REBUILD_PREFIX}{uuid.uuid4().hex[:12]}"

    def swap_in(self, build: str) -> None:
        """Replace `D/parquet/` by the complete tree `D/<build>/` (see the module doc).

        Call it only with the sync lock held (`bsg_analytics.locking.sync_lock`), once every
        file of the build is written. Local disk: it either installs the build or raises with
        the old tables in place (the build is left to the caller to delete). Object stores: a
        failure after the first copy raises `SwapIncomplete`, the build and its marker stay,
        and `clean_temporary` finishes the swap."""
        if not build.startswith(REBUILD_PREFIX) or "/" in build or build.endswith(READY_SUFFIX):
            raise ValueError(f"not a rebuild root: {build!r}")
        marker = self.path(build + READY_SUFFIX)
        self.write_bytes(marker, b"")
        try:
            self._finish_swap(build)
        except Exception as exc:
            if self.is_local:  # the renames failed: nothing installed, the old tables in place
                with contextlib.suppress(OSError):
                    os.unlink(marker)
                raise
            reason = " ".join(str(exc).split())
            raise SwapIncomplete(
                f"replacing {self.uri(PARQUET)} stopped half-way ({type(exc).__name__}: "
                f"{reason}); the next sync or rebuild finishes it from {self.uri(build)}"
            ) from exc

    def _finish_swap(self, build: str) -> None:
        """Install the build whose marker exists; idempotent, so a crash can be repaired by
        calling it again. The marker exists only once the build is complete, and is removed
        before the build is: a marker without its build means an empty build (object store)
        or one already renamed into place (local disk)."""
        src, dst, marker = self.path(build), self.path(PARQUET), self.path(build + READY_SUFFIX)
        if self.is_local:
            old = self.path(OLD_PREFIX + build[len(REBUILD_PREFIX) :])
            if os.path.isdir(src):
                if os.path.lexists(dst):
                    os.rename(dst, old)
                try:
                    os.rename(src, dst)
                except BaseException:
                    if os.path.lexists(old) and not os.path.lexists(dst):
                        os.rename(old, dst)  # put the old tables back
                    raise
            # installed: the rest is tidying up, which `clean_temporary` redoes if it fails
            with contextlib.suppress(OSError):
                _fsync_dir(self.root)
                os.unlink(marker)
            shutil.rmtree(old, ignore_errors=True)
            return
        new = {p[len(src) + 1 :]: p for p in self.walk_files(src)}
        old_files = {p[len(dst) + 1 :]: p for p in self.walk_files(dst)}
        for table in sorted({_top(r) for r in new} | {_top(r) for r in old_files}):
            # one table at a time: copy its files over, then drop the ones it no longer has
            for rel in sorted(r for r in new if _top(r) == table):
                self.fs.copy(new[rel], f"{dst}/{rel}")
            stale = [old_files[r] for r in sorted(old_files) if _top(r) == table and r not in new]
            if stale:
                self.fs.rm(stale)
        # the marker goes first: a build without its marker is garbage, never installed half
        self.rm(marker)
        self.rm(src, recursive=True)

    def clean_temporary(self) -> int:
        """Remove what killed runs left behind; returns the number of files removed.

        Call it only with the sync lock held (`bsg_analytics.locking.sync_lock`): another
        writer's temporary files are not leftovers. First the rebuilds (module doc): a
        complete build (with its `.ready` marker) is installed, an incomplete
        `parquet.rebuild-*` and an old `parquet.old-*` are deleted, except that an old one is
        put back when `D/parquet` is missing. Then, on local disk, `write_bytes`' `.tmp-*`
        files under `raw/` and `state/` (and in `D/` itself), `check_writable`'s `.probe-*`
        under `state/`, and everything under `staging/`. Object stores have no temporary
        files (a PUT is atomic): there it costs one listing of the top of the data directory,
        for leftover rebuilds only."""
        removed = self._finish_rebuilds()
        if not self.is_local:
            return removed
        root = Path(self.root)
        for sub, prefixes in ((RAW, (TMP_PREFIX,)), (STATE, (TMP_PREFIX, PROBE_PREFIX))):
            for dirpath, _dirs, files in os.walk(root / sub):
                for name in files:
                    if name.startswith(prefixes):
                        removed += _unlink(Path(dirpath, name))
        if root.is_dir():
            for entry in root.iterdir():
                if entry.name.startswith(TMP_PREFIX) and not entry.is_dir():
                    removed += _unlink(entry)
        staging = root / STAGING
        if staging.is_dir():
            for entry in staging.iterdir():
                removed += _remove_tree(entry)
        return removed

    def _finish_rebuilds(self) -> int:
        try:
            names = sorted(
                p.rstrip("/").rsplit("/", 1)[-1] for p in self.fs.ls(self.root, detail=False)
            )
        except FileNotFoundError:
            return 0
        ours = [n for n in names if n.startswith(REBUILD_PREFIX)]
        markers = {n[: -len(READY_SUFFIX)] for n in ours if n.endswith(READY_SUFFIX)}
        builds = {n for n in ours if not n.endswith(READY_SUFFIX)}
        for build in sorted(markers):  # complete: finish installing it (or drop its marker)
            self._finish_swap(build)
        removed = 0
        for build in sorted(builds - markers):  # half-built: garbage
            removed += self._remove(self.path(build))
        if self.is_local:
            olds = [n for n in names if n.startswith(OLD_PREFIX) and os.path.isdir(self.path(n))]
            if olds and not os.path.lexists(self.path(PARQUET)):
                os.rename(self.path(olds.pop()), self.path(PARQUET))  # never left without
            for name in olds:
                removed += self._remove(self.path(name))
        return removed

    def _remove(self, path: str) -> int:
        if self.is_local:
            return _remove_tree(Path(path))
        files = list(self.walk_files(path))
        self.rm(path, recursive=True)
        return len(files)

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


def _top(rel: str) -> str:
    return rel.split("/", 1)[0]


def _unlink(path: Path) -> int:
    try:
        path.unlink()
        return 1
    except FileNotFoundError:
        return 0


def _remove_tree(path: Path) -> int:
    """Remove a file or a directory tree; returns the number of files removed."""
    if path.is_symlink() or not path.is_dir():
        return _unlink(path)
    n = sum(len(files) for _root, _dirs, files in os.walk(path))
    shutil.rmtree(path, ignore_errors=True)
    return n


def _libc_syncfs() -> Callable[[int], int] | None:
    try:
        fn = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None
    fn.argtypes = (ctypes.c_int,)
    fn.restype = ctypes.c_int
    return fn


_SYNCFS = _libc_syncfs()


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _protocols(fs) -> tuple[str, ...]:
    proto = fs.protocol
    return (proto,) if isinstance(proto, str) else tuple(proto)
