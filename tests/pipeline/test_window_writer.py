"""The sync's one writer: batches bounded by raw bytes (small windows merged, large ones split),
a window checkpointed only once all its pages are written, errors handed back to the extraction
loop; and a sync with tiny batches writes the same tables as one with a window per batch."""

from __future__ import annotations

import threading
from collections import Counter

import polars as pl
import pytest

import bsg_analytics.pipeline as pipeline
from bsg_analytics.pipeline import (
    Job,
    JobOutcome,
    WindowWriter,
    interleave,
    page_parallel,
    run_sync,
)
from bsg_analytics.raw import RawPage, RawStore
from bsg_analytics.schemas.tables import TABLES
from bsg_analytics.state import SyncState
from bsg_analytics.storage import DataDir
from bsg_simulator.testing import TEST_NOW
from tests.pipeline.e2e import (
    SINCE,
    assert_campaigns_match,
    assert_messages_match,
    read_table,
    settings_for,
)


def outcome(name: str, pages: int) -> JobOutcome:
    return JobOutcome(Job("messages", name), None, [f"{name}/{i}" for i in range(pages)], 0.0)


class Recorder:
    """read/write/done for a WindowWriter: every page is 10 bytes, a batch writes a row a page."""

    def __init__(self, fail_on: int | None = None, gate: threading.Event | None = None):
        self.batches: list[list[str]] = []
        self.done: list[tuple[str, int, int]] = []  # (window, rows, batches written by then)
        self.fail_on = fail_on
        self.gate = gate
        self.entered = threading.Event()  # a write has begun

    def read(self, path: str) -> RawPage:
        return RawPage("messages", "/api/messages", {}, TEST_NOW, 200, b"x" * 10, "r", "g", 0, path)

    def write(self, pages: list[RawPage]) -> int:
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(5)
        if self.fail_on is not None and len(self.batches) == self.fail_on:
            raise OSError("disk full")
        self.batches.append([p.path for p in pages])
        return len(pages)

    def window_done(self, outcome: JobOutcome, rows: int) -> None:
        self.done.append((outcome.job.key, rows, len(self.batches)))


def test_windows_that_arrive_together_share_a_batch_and_large_ones_are_split():
    rec = Recorder(gate=threading.Event())
    writer = WindowWriter(rec.read, rec.write, rec.window_done, batch_bytes=45)  # 5 pages
    writer.put(outcome("a", 2))  # taken at once; its batch waits at the gate
    assert rec.entered.wait(5)
    for name, n in (("b", 1), ("c", 0), ("d", 12), ("e", 1)):
        writer.put(outcome(name, n))
    rec.gate.set()
    writer.close()
    assert rec.batches[0] == ["a/0", "a/1"]
    # b, the empty c and the head of d in one batch; d over three; e with d's tail
    assert rec.batches[1:] == [
        ["b/0", "d/0", "d/1", "d/2", "d/3"],
        ["d/4", "d/5", "d/6", "d/7", "d/8"],
        ["d/9", "d/10", "d/11", "e/0"],
    ]
    # each window reported once, after the batch with its last page; rows add up
    assert [(k, b) for k, _, b in rec.done] == [("a", 1), ("b", 2), ("c", 2), ("d", 4), ("e", 4)]
    rows = {k: r for k, r, _ in rec.done}
    assert rows["a"] == 2 and rows["c"] == 0 and rows["e"] == 1
    assert sum(rows.values()) == sum(len(b) for b in rec.batches) == 16


def test_a_failed_write_checkpoints_nothing_after_it_and_is_raised_to_the_caller():
    rec = Recorder(fail_on=1)
    writer = WindowWriter(rec.read, rec.write, rec.window_done, batch_bytes=25)  # 3 pages
    writer.put(outcome("a", 3))
    writer.put(outcome("b", 5))
    writer.put(outcome("c", 1))
    with pytest.raises(OSError, match="disk full"):
        writer.close()
    assert [k for k, _, _ in rec.done] == ["a"]
    with pytest.raises(OSError):
        writer.put(outcome("d", 1))


def test_close_without_draining_stops_after_the_batch_being_written():
    rec = Recorder(gate=threading.Event())
    writer = WindowWriter(rec.read, rec.write, rec.window_done, batch_bytes=15)  # 2 pages
    writer.put(outcome("a", 2))
    assert rec.entered.wait(5)
    writer.put(outcome("b", 4))
    threading.Timer(0.2, rec.gate.set).start()
    writer.close(drain=False)
    assert [k for k, _, _ in rec.done] == ["a"]


def test_page_parallel_shares_the_requests_in_flight():
    assert page_parallel(8, 27) == 1  # a backfill: a page per window, eight windows at once
    assert page_parallel(8, 8) == 1
    assert page_parallel(8, 3) == 3
    assert page_parallel(8, 1) == 8  # an incremental sync's one window
    assert page_parallel(8, 0) == 8
    assert page_parallel(1, 5) == 1


def test_fixed_mmap_threshold_is_harmless():
    assert pipeline.fixed_mmap_threshold() in (True, False)


def test_tiny_batches_write_the_tables_a_window_per_batch_writes(
    tmp_path, sim, transport_for, monkeypatch
):
    # 7 windows of ~9 pages of 100 messages; 250 KB batches of ~3 pages split every window
    # (and take the next window's head when it has landed); 1 GB batches take whatever
    # windows have landed whole
    real = pipeline._write_raw_pages
    batches: list[list[str]] = []

    def spy(data_dir, pages, settings, report, **kw):
        batches.append([p.group for p in pages])
        return real(data_dir, pages, settings, report, **kw)

    monkeypatch.setattr(pipeline, "_write_raw_pages", spy)
    tables = {}
    for name, size in (("small", 250_000), ("large", 2**30)):
        monkeypatch.setattr(pipeline, "BATCH_BYTES", size)
        batches.clear()
        settings = settings_for(tmp_path / name, page_limit=100)
        report = run_sync(settings, SINCE, transport=transport_for(sim), now=TEST_NOW)
        assert report.windows_done == report.windows_total
        assert_messages_match(tmp_path / name, sim, TEST_NOW)
        assert_campaigns_match(tmp_path / name, sim, TEST_NOW)
        tables[name] = {t: read_table(tmp_path / name, t) for t in TABLES if t != "quarantine"}
        assert report.rows["messages"] == tables[name]["messages"].height
        if name == "small":
            split = Counter(g for b in batches for g in set(b))
            assert max(split.values()) >= 3, "no window was written over several batches"
    for table, frame in tables["large"].items():
        if frame.is_empty():
            assert tables["small"][table].is_empty(), table
            continue
        # everything but the moments of reading (extracted_at, the balance's observed_at)
        got = tables["small"][table].select(pl.exclude("^.*extracted_at$", "observed_at"))
        want = frame.select(pl.exclude("^.*extracted_at$", "observed_at"))
        key = [k for k in TABLES[table].key if k in got.columns] or got.columns
        assert got.sort(key).equals(want.sort(key)), table


def test_a_writer_failure_fails_the_sync_with_the_state_behind_the_data(
    tmp_path, sim, transport_for, monkeypatch
):
    monkeypatch.setattr(pipeline, "BATCH_BYTES", 200_000)
    real = pipeline._write_raw_pages
    calls = {"n": 0}
    written: list[str] = []

    def flaky(data_dir, pages, settings, report, **kw):
        calls["n"] += 1
        if calls["n"] == 4:
            raise OSError("disk full")
        rows = real(data_dir, pages, settings, report, **kw)
        written.extend(p.group for p in pages if p.stream == "messages")
        return rows

    monkeypatch.setattr(pipeline, "_write_raw_pages", flaky)
    settings = settings_for(tmp_path / "d")
    with pytest.raises(OSError, match="disk full"):
        run_sync(settings, SINCE, transport=transport_for(sim), now=TEST_NOW)
    # every window checkpointed had all its landed pages written, and some were not
    done = SyncState.load(DataDir(settings.data_dir)).run.done

    # a window read per channel (a server that honours filter[type], or an empty first window
    # the type probe could not decide on) lands its pages in groups `<window>.type=<channel>`
    def window_of(group: str) -> str:
        return group.split(".type=")[0].split(".reread-")[0]

    store = RawStore(DataDir(settings.data_dir))
    landed = Counter(window_of(p.group) for p in store.iter_pages(["messages"]))
    done_windows = {k.split("/", 1)[1] for k in done if k.startswith("messages/")}
    assert done_windows and done_windows < set(landed)
    assert all(Counter(map(window_of, written))[w] == landed[w] for w in done_windows)
    monkeypatch.setattr(pipeline, "_write_raw_pages", real)
    report = run_sync(settings, SINCE, transport=transport_for(sim), now=TEST_NOW)
    assert report.windows_done + report.windows_skipped == report.windows_total
    assert_messages_match(tmp_path / "d", sim, TEST_NOW)
    assert_campaigns_match(tmp_path / "d", sim, TEST_NOW)


def test_interleave_spreads_each_streams_jobs_through_the_call():
    messages = [Job("messages", f"m{i}") for i in range(6)]
    exports = [Job("exports", f"x{i}") for i in range(2)]
    assert [j.key for j in interleave([messages, exports])] == [
        "m0", "m1", "x0", "m2", "m3", "m4", "x1", "m5",
    ]  # fmt: skip
    assert interleave([messages, []]) == messages and interleave([]) == []
