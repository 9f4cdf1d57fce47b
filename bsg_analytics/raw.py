"""Raw landing: every API response body as received, gzip-compressed, before any parsing.

Layout, one folder per request group so a rebuild can replay history in order::

    D/raw/<stream>/<fetched_date>/<run_id>/<group>/<seq>.json.gz   the body, byte for byte
    D/raw/<stream>/<fetched_date>/<run_id>/<group>/<seq>.meta.json  endpoint, params, time

The `.meta.json` is written after the body and is the commit marker: a page without it was
cut off mid-write and is ignored. Neither file ever holds a credential: params are the
query string only, and headers are not kept.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import orjson

from bsg_analytics.storage import RAW, DataDir

# The streams the extractor lands; transforms pick their parser by stream.
STREAMS = ("messages", "campaigns", "campaign_detail", "legacy_sms", "legacy_task")


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


def new_run_id(now: datetime | None = None) -> str:
    import uuid

    now = now or datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%S}Z-{uuid.uuid4().hex[:6]}"


class RawStore:
    def __init__(self, data_dir: DataDir):
        self.data_dir = data_dir

    def _stem(self, page: RawPage) -> str:
        return self.data_dir.path(
            RAW,
            page.stream,
            f"{page.fetched_at:%Y-%m-%d}",
            page.run_id,
            _safe(page.group),
            f"{page.seq:06d}",
        )

    def write(self, page: RawPage) -> str:
        stem = self._stem(page)
        self.data_dir.write_bytes(stem + ".json.gz", gzip.compress(page.body, 5, mtime=0))
        self.data_dir.write_bytes(stem + ".meta.json", orjson.dumps(page.meta()))
        page.path = stem + ".json.gz"
        return page.path

    def list_meta(self, streams: Iterable[str] | None = None) -> list[str]:
        """Paths of committed pages' `.meta.json`, in landing order (date, run, group, seq)."""
        out: list[str] = []
        for stream in streams or STREAMS:
            base = self.data_dir.path(RAW, stream)
            out.extend(p for p in self.data_dir.walk_files(base) if p.endswith(".meta.json"))
        return sorted(out, key=_landing_order)

    def read(self, meta_path: str) -> RawPage:
        meta = orjson.loads(self.data_dir.read_bytes(meta_path))
        body_path = meta_path[: -len(".meta.json")] + ".json.gz"
        body = gzip.decompress(self.data_dir.read_bytes(body_path))
        meta.pop("bytes", None)
        meta["fetched_at"] = datetime.fromisoformat(meta["fetched_at"])
        return RawPage(**meta, body=body, path=body_path)

    def iter_pages(
        self, streams: Iterable[str] | None = None, run_id: str | None = None
    ) -> Iterator[RawPage]:
        for meta_path in self.list_meta(streams):
            if run_id and f"/{run_id}/" not in meta_path:
                continue
            yield self.read(meta_path)


def _landing_order(meta_path: str) -> tuple:
    # .../raw/<stream>/<date>/<run_id>/<group>/<seq>.meta.json : order by date, run, stream
    parts = meta_path.split("/")
    return (parts[-4], parts[-3], parts[-5], parts[-2], parts[-1])


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_=." else "_" for c in text)[:120]
