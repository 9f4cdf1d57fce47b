"""The one paginator of every One API list endpoint (``/api/messages``, ``/api/campaigns``).

Offset pages over a window whose end is pinned in the past, sorted by ``id`` ascending, of
the configured page size clamped into the endpoint's range (`BSGClient.page_limit_for`):

- each page is yielded as it comes (its raw bytes and parsed body, or with `skim` only the
  fields of each record that the caller names, beside the id), for the caller to land;
- a read stops when the offset reaches ``meta.page.total``, on an empty page, on a page
  shorter than the limit when no total is given, and on a page that brings no id unseen in
  this read (a server that ignores ``page[offset]`` would otherwise loop for ever);
- a total that moves while paging means the window changed under us: the whole window is
  read again from offset 0, at most `max_rereads` times, then `BSGPaginationError`;
- ids are counted: ``duplicates`` is the number of rows whose id was already served in the
  same read (offset pages over changing data repeat rows); re-reads do not count as such;
- with ``parallel > 1``, once the first page has given the total, the other offsets are
  fetched with up to `parallel` requests in flight (the client's shared limiter still
  bounds the total), and pages are still yielded in offset order.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Generator, Hashable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from bsg_client.client import ApiResponse, BSGClient
from bsg_client.errors import BSGPaginationError


@dataclass
class Page:
    response: ApiResponse
    offset: int
    seq: int  # 0-based position among every page of this pagination (re-reads included)
    read: int  # 0 for the first read of the window, then 1, 2... for re-reads
    total: int | None
    ids: list[Any]

    @property
    def body(self) -> bytes:
        return self.response.body

    @property
    def data(self) -> Any:
        return self.response.data

    @property
    def records(self) -> list[Any]:
        return self.response.data.get("data") or []

    @property
    def params(self) -> dict[str, str]:
        return self.response.params


@dataclass
class PageStats:
    pages: int = 0
    records: int = 0
    ids: set[Hashable] = field(default_factory=set)
    duplicates: int = 0
    rereads: int = 0
    total: int | None = None
    stalled: bool = False  # a page brought no new id before the total was reached
    complete: bool = False  # the last read reached its total (or the end, without a total)
    seconds: float = 0.0

    @property
    def distinct_ids(self) -> int:
        return len(self.ids)


def page_total(data: Any) -> int | None:
    """``meta.page.total`` (also tolerates ``meta.total`` and numeric strings)."""
    if not isinstance(data, Mapping):
        return None
    meta = data.get("meta")
    if not isinstance(meta, Mapping):
        return None
    page = meta.get("page")
    value = page.get("total") if isinstance(page, Mapping) else meta.get("total")
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _id_of(record: Any, key: str) -> Any:
    # exact types first: the abstract-class checks cost more than the rest of a page's ids
    value = record.get(key) if type(record) is dict or isinstance(record, Mapping) else None
    if type(value) is int or type(value) is str:
        return value
    return value if isinstance(value, Hashable) else None


class _Moved(Exception):
    pass


class Pagination:
    """Iterate to get `Page`s; `stats` is filled as you go."""

    def __init__(
        self,
        client: BSGClient,
        path: str,
        params: Mapping[str, Any],
        *,
        limit: int | None = None,
        parallel: int = 1,
        max_rereads: int = 3,
        id_key: str = "id",
        sort: str = "id",
        way: str = "asc",
        skim: tuple[str, ...] | None = None,
    ):
        self.client = client
        self.path = path
        self.limit = client.page_limit_for(path, limit)
        self.base_params = {**{k: str(v) for k, v in params.items()}}
        self.base_params.setdefault("sort", sort)
        self.base_params.setdefault("way", way)
        self.base_params["page[limit]"] = str(self.limit)
        self.parallel = max(1, parallel)
        self.max_rereads = max_rereads
        self.id_key = id_key
        # the fields of each record the pages keep decoded (`BSGClient.get_list_page`)
        self.skim = None if skim is None else tuple(dict.fromkeys((id_key, *skim)))
        self.stats = PageStats()
        self._seq = 0

    def _fetch(self, offset: int) -> ApiResponse:
        params = {**self.base_params, "page[offset]": str(offset)}
        return self.client.get_list_page(self.path, params, skim=self.skim)

    def _page(
        self, resp: ApiResponse, offset: int, read: int, seen: set[Hashable]
    ) -> tuple[Page, int]:
        records = resp.data.get("data") or []
        # an id that is a JSON list or object cannot be an id (nor a set member): None
        ids = [_id_of(r, self.id_key) for r in records]
        new = 0
        for i in ids:
            if i is None:
                continue
            if i in seen:
                self.stats.duplicates += 1
            else:
                seen.add(i)
                new += 1
        self.stats.ids.update(i for i in ids if i is not None)
        self.stats.pages += 1
        self.stats.records += len(records)
        page = Page(resp, offset, self._seq, read, page_total(resp.data), ids)
        self._seq += 1
        return page, new

    def __iter__(self) -> Iterator[Page]:
        started = time.perf_counter()
        read = 0
        try:
            while True:
                try:
                    yield from self._read(read)
                    return
                except _Moved:
                    read += 1
                    self.stats.rereads += 1
                    if read > self.max_rereads:
                        raise BSGPaginationError(
                            f"GET {self.path} {self._window_text()}: the total kept changing "
                            f"while paging ({read} reads); the window is not stable"
                        ) from None
        finally:
            self.stats.seconds = time.perf_counter() - started

    def _window_text(self) -> str:
        f, t = self.base_params.get("filter[from]"), self.base_params.get("filter[to]")
        return f"[{f} .. {t}]" if f or t else ""

    def _done(self, offset: int, total: int | None, n: int) -> bool:
        if total is None:
            return n < self.limit
        return offset >= total

    def _read(self, read: int) -> Iterator[Page]:
        seen: set[Hashable] = set()
        self.stats.complete = False
        self.stats.stalled = False
        page, _new = self._page(self._fetch(0), 0, read, seen)
        total0 = self.stats.total = page.total
        yield page
        n = len(page.ids)
        offset = n
        if n == 0 or self._done(offset, total0, n):
            self.stats.complete = True
            return
        if self.parallel > 1 and total0 is not None:
            resumed = yield from self._read_parallel(read, seen, total0, step=n)
            if resumed is None:
                return
            offset = resumed
        while True:
            page, new = self._page(self._fetch(offset), offset, read, seen)
            yield page
            if total0 is not None and page.total is not None and page.total != total0:
                raise _Moved
            n = len(page.ids)
            if n == 0:
                self.stats.complete = total0 is None or len(seen) >= total0
                return
            if new == 0:
                self.stats.stalled = True
                return
            offset += n
            if self._done(offset, total0, n):
                self.stats.complete = True
                return

    def _read_parallel(
        self, read: int, seen: set[Hashable], total: int, step: int
    ) -> Generator[Page, None, int | None]:
        """Fetch offsets step, 2*step, ... < total with `parallel` in flight, yield in order.
        Returns the offset to go on from sequentially, or None when the read is over."""
        offsets = deque(range(step, total, step))
        pending: deque[tuple[int, Future[ApiResponse]]] = deque()
        ex = ThreadPoolExecutor(max_workers=self.parallel, thread_name_prefix="bsg-page")
        try:
            ahead = self.parallel * 2
            next_offset = step
            while offsets or pending:
                while offsets and len(pending) < ahead:
                    off = offsets.popleft()
                    pending.append((off, ex.submit(self._fetch, off)))
                off, fut = pending.popleft()
                page, new = self._page(fut.result(), off, read, seen)
                yield page
                if page.total is not None and page.total != total:
                    raise _Moved
                n = len(page.ids)
                last = not offsets and not pending
                if n == 0:
                    self.stats.complete = len(seen) >= total
                    return None
                if new == 0:
                    self.stats.stalled = True
                    return None
                if n != step and not last:
                    # a short page in the middle: rows vanished under us
                    raise _Moved
                next_offset = off + n
            if next_offset >= total:
                self.stats.complete = True
                return None
            return next_offset
        finally:
            for _off, fut in pending:
                fut.cancel()
            ex.shutdown(wait=False, cancel_futures=True)


def paginate(client: BSGClient, path: str, params: Mapping[str, Any], **kwargs: Any) -> Pagination:
    """A `Pagination` over `path` with `params` (window filters etc.); see the module doc."""
    return Pagination(client, path, params, **kwargs)
