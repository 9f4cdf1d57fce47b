"""Raw landing: every API response body as received, zstd-compressed, before any parsing.

Layout, one folder per request group so a rebuild can replay history in order::

    D/raw/<stream>/<fetched_date>/<run_id>/<group>/<seq>.json.zst  the body, byte for byte
    D/raw/<stream>/<fetched_date>/<run_id>/<group>/<seq>.meta.json  endpoint, params, time

The `.meta.json` is written after the body and is the commit marker: a page without it was
cut off mid-write and is ignored. Its `codec` names the body's compression (`CODECS`): a
page landed before zstd (no `codec`) is a gzip `.json.gz`, read as ever. Neither file ever
holds a credential: params are the query string only, and headers are not kept.

Pages are written without an fsync each: the run calls `DataDir.barrier()` (one syncfs)
before it checkpoints a window, so what a checkpoint says was read is on disk. Measured on
200 message pages (46.6 MB): gzip level 5 took 0.354 CPU-s to compress and 0.097 to
decompress (x16.9); zstd level 1 0.048 and 0.040 (x20.2).

A committed page that cannot be read back (its body truncated, not zstd or gzip, missing or empty;
its `.meta.json` not JSON or not a page's) is "unreadable": `read` raises the decoding error
with the file named in a note; `iter_pages(on_error=...)` hands an `UnreadablePage` (the file
and the error) to the callback and goes on with the next page. An error reading the store
itself (permissions, the network) is not a bad page: it is raised either way.
"""

from __future__ import annotations

import gzip
import threading
import uuid
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import NamedTuple

import orjson
import zstandard

from bsg_analytics.storage import RAW, DataDir

DATE_DIR = "%Y-%m-%d"  # the fetched date folder
RUN_ID_TIME = "%Y%m%dT%H%M%S"  # the start time a run id begins with


@dataclass
class RawPage:
    stream: str
    endpoint: str
    params: dict[str, str]
    fetched_at: datetime
    status_code: int
    body: bytes
    run_id: str
    group: str
    seq: int
    path: str = field(default="", compare=False)

    def meta(self) -> dict:
        meta = asdict(self)
        meta.pop("body")
        meta.pop("path")
        meta["fetched_at"] = self.fetched_at.isoformat()
        meta["bytes"] = len(self.body)
        return meta


@dataclass
class UnreadablePage:
    """A committed page that cannot be read back: `path` is the file at fault (the body
    `.json.gz`, or the `.meta.json` when that is the broken one); `meta` is the page's meta
    when it could be read, else None."""

    path: str
    error: BaseException
    meta: dict | None = None

    @property
    def reason(self) -> str:
        """`unreadable raw page: EOFError: Compressed file ended before ...`, one line."""
        text = " ".join(str(self.error).split())
        name = type(self.error).__name__
        return f"unreadable raw page: {name}: {text}" if text else f"unreadable raw page: {name}"

    @property
    def stream(self) -> str:
        """The stream, from the meta or else from the path (`raw/<stream>/<date>/...`)."""
        if self.meta and isinstance(self.meta.get("stream"), str):
            return self.meta["stream"]
        return page_location(self.path).stream

    @property
    def fetched_at(self) -> datetime:
        """When the page was fetched: from the meta, else from the run id in the path
        (`<yyyymmddThhmmss>Z-<hex>`), else midnight UTC of the date folder."""
        if self.meta:
            try:
                return _aware(datetime.fromisoformat(self.meta["fetched_at"]))
            except (KeyError, TypeError, ValueError):
                pass
        where = page_location(self.path)
        for text, fmt in ((where.run_id.split("Z", 1)[0], RUN_ID_TIME), (where.date, DATE_DIR)):
            try:
                return datetime.strptime(text, fmt).replace(tzinfo=UTC)
            except ValueError:
                pass
        return datetime(1970, 1, 1, tzinfo=UTC)


# What a page that cannot be decoded raises: truncated gzip (EOFError), not gzip
# (gzip.BadGzipFile), corrupt deflate (zlib.error), a zstd frame cut short or not zstd
# (zstandard.ZstdError), bad or non-page JSON (orjson's JSONDecodeError is a ValueError;
# missing or extra keys: TypeError, KeyError).
DECODE_ERRORS = (
    EOFError, gzip.BadGzipFile, zlib.error, zstandard.ZstdError, ValueError, TypeError, KeyError,
)  # fmt: skip

ZSTD_LEVEL = 1  # measured faster and smaller than level 3 on these pages (module doc)
CODEC = "zstd"  # what this version writes
META_SUFFIX = ".meta.json"
# codec -> the body's suffix; a meta without `codec` is gzip (pages landed before zstd)
CODECS = {"zstd": ".json.zst", "gzip": ".json.gz"}
_local = threading.local()  # a zstd (de)compressor per thread: one is not thread-safe


def _zstd() -> tuple[zstandard.ZstdCompressor, zstandard.ZstdDecompressor]:
    if not hasattr(_local, "zstd"):
        _local.zstd = (zstandard.ZstdCompressor(level=ZSTD_LEVEL), zstandard.ZstdDecompressor())
    return _local.zstd


def compress(body: bytes) -> bytes:
    return _zstd()[0].compress(body)


def decompress(data: bytes, codec: str) -> bytes:
    """A body as landed with `codec` (`CODECS`), decompressed."""
    if codec == "gzip":
        return gzip.decompress(data)
    if codec != "zstd":
        raise ValueError(f"unknown raw codec {codec!r}")
    return _zstd()[1].decompress(data)


def codec_of(body_path: str) -> str | None:
    """The codec a body file's suffix names (`CODECS`), or None for another file."""
    for codec, suffix in CODECS.items():
        if body_path.endswith(suffix):
            return codec
    return None


def meta_path_of(body_path: str) -> str:
    """A page body's `.meta.json` (the body `.json.zst`, or `.json.gz` of older pages)."""
    codec = codec_of(body_path)
    if codec is None:
        raise ValueError(f"not a raw page body: {body_path}")
    return body_path[: -len(CODECS[codec])] + META_SUFFIX


def _aware(ts: datetime) -> datetime:
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)


def new_run_id(now: datetime | None = None) -> str:
    """`<yyyymmddThhmmss>Z-<hex>`: sorts by start time, unique."""
    now = now or datetime.now(UTC)
    return f"{now:{RUN_ID_TIME}}Z-{uuid.uuid4().hex[:6]}"


class PageLocation(NamedTuple):
    """Where a page lies: ``D/raw/<stream>/<fetched date>/<run id>/<group>/<seq>.<ext>``."""

    stream: str
    date: str
    run_id: str
    group: str
    seq: str


def page_location(path: str) -> PageLocation:
    """The parts of a page's path (empty strings where the path is too short)."""
    parts = ["", "", "", "", "", *path.split("/")][-5:]
    return PageLocation(*parts)


class RawStore:
    """`scrub(stream, body)`, when given, is what a page's body becomes before it lands
    (`bsg_analytics.pii`: phones and texts a team does not keep); the meta says it was."""

    def __init__(self, data_dir: DataDir, scrub: Callable[[str, bytes], bytes] | None = None):
        self.data_dir = data_dir
        self.scrub = scrub

    def _stem(self, page: RawPage) -> str:
        return self.data_dir.path(
            RAW,
            page.stream,
            f"{page.fetched_at:{DATE_DIR}}",
            page.run_id,
            _safe(page.group),
            f"{page.seq:06d}",
        )

    def write(self, page: RawPage) -> str:
        """Land `page`: its body, then its meta (the commit marker); neither is fsynced here
        (`DataDir.barrier` before a checkpoint, module doc)."""
        stem = self._stem(page)
        body_path = stem + CODECS[CODEC]
        body = page.body if self.scrub is None else self.scrub(page.stream, page.body)
        self.data_dir.write_bytes(body_path, compress(body), durable=False)
        meta = {**page.meta(), "codec": CODEC}
        if body is not page.body:
            meta["scrubbed"] = True  # BSG_PII: not the body as the API sent it
        self.data_dir.write_bytes(stem + META_SUFFIX, orjson.dumps(meta), durable=False)
        page.path = body_path
        return page.path

    def list_meta(self, streams: Iterable[str] | None = None) -> list[str]:
        """Paths of committed pages' `.meta.json`, in landing order (date, run, group, seq):
        of `streams`, or of every stream folder under `D/raw/` (the store keeps no list of
        streams: whatever was landed is found, declared or not)."""
        bases = [RAW] if streams is None else [f"{RAW}/{s}" for s in streams]
        out: list[str] = []
        for base in bases:
            walked = self.data_dir.walk_files(self.data_dir.path(base))
            out.extend(p for p in walked if p.endswith(META_SUFFIX))
        return sorted(out, key=_landing_order)

    def read(self, meta_path: str) -> RawPage:
        """The page whose `.meta.json` is `meta_path`; an unreadable page raises its decoding
        error (EOFError, BadGzipFile, FileNotFoundError, JSONDecodeError...) with a note
        naming the file."""
        page = self.try_read(meta_path)
        if isinstance(page, UnreadablePage):
            page.error.add_note(f"raw page: {page.path}")
            raise page.error
        return page

    def try_read(self, meta_path: str) -> RawPage | UnreadablePage:
        """The page, or an `UnreadablePage` naming the file at fault. Errors of the store
        itself (other than a missing file) are raised."""
        stem = meta_path[: -len(META_SUFFIX)]
        meta = None
        try:
            meta = orjson.loads(self.data_dir.read_bytes(meta_path))
            if not isinstance(meta, dict):
                raise ValueError(f"not a page's meta: {type(meta).__name__}")
        except (FileNotFoundError, *DECODE_ERRORS) as exc:
            return UnreadablePage(meta_path, exc)
        # no `codec`: a page landed before zstd (gzip), or a meta that lost it (its zstd body)
        codec = meta.get("codec", "gzip")
        body_path = stem + CODECS.get(codec, CODECS[CODEC])
        try:
            try:
                data = self.data_dir.read_bytes(body_path)
            except FileNotFoundError:
                if "codec" in meta or not self.data_dir.exists(stem + CODECS[CODEC]):
                    raise
                codec, body_path = CODEC, stem + CODECS[CODEC]
                data = self.data_dir.read_bytes(body_path)
            if not data:
                raise EOFError("empty file (0 bytes)")
            body = decompress(data, codec)
        except (FileNotFoundError, *DECODE_ERRORS) as exc:
            return UnreadablePage(body_path, exc, dict(meta))
        try:
            fields = dict(meta)
            fields.pop("bytes", None)
            fields.pop("codec", None)
            fields.pop("scrubbed", None)
            fields["fetched_at"] = datetime.fromisoformat(fields["fetched_at"])
            return RawPage(**fields, body=body, path=body_path)
        except DECODE_ERRORS as exc:
            return UnreadablePage(meta_path, exc, dict(meta))

    def iter_pages(
        self,
        streams: Iterable[str] | None = None,
        run_id: str | None = None,
        on_error: Callable[[UnreadablePage], None] | None = None,
    ) -> Iterator[RawPage]:
        """Committed pages in landing order. An unreadable page raises (see `read`), or,
        with `on_error`, is handed to it and skipped."""
        for meta_path in self.list_meta(streams):
            if run_id and f"/{run_id}/" not in meta_path:
                continue
            if on_error is None:
                yield self.read(meta_path)
                continue
            page = self.try_read(meta_path)
            if isinstance(page, UnreadablePage):
                on_error(page)
            else:
                yield page


def _landing_order(meta_path: str) -> tuple[str, ...]:
    """Landing order: fetched date, run, stream, group, seq."""
    at = page_location(meta_path)
    return (at.date, at.run_id, at.stream, at.group, at.seq)


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_=." else "_" for c in text)[:120]
