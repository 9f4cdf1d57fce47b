"""`rebuild` never loses the tables: it builds beside D/parquet/ and swaps only on success.

A real sync against the in-process simulator makes the data directory; then (a) a truncated
raw page of messages is named in quarantine and in the command's line while every table is
rebuilt; (b) a failure half-way leaves every old Parquet file byte for byte as it was, with
one line on stderr; (c) a clean rebuild gives the sync's tables. Unreadable pages of every
kind are named by `RawStore`; the swap also works on an object store (moto)."""

from __future__ import annotations

import gzip
import logging
import os
import uuid
from datetime import timedelta
from pathlib import Path

import orjson
import polars as pl
import pytest

import bsg_analytics.rebuild as tp
from bsg_analytics.raw import (
    CODEC,
    CODECS,
    META_SUFFIX,
    RawStore,
    UnreadablePage,
    decompress,
    meta_path_of,
)
from bsg_analytics.schemas.tables import TABLES
from bsg_analytics.settings import load_settings
from bsg_analytics.storage import DataDir
from bsg_analytics.transforms.writer import read_table
from bsg_simulator.testing import TEST_NOW, inprocess_transport, make_simulator
from tests.transforms.transform_helpers import message, messages_page, page

SINCE = (TEST_NOW - timedelta(days=3 * 30)).date()


def settings_for(data_dir):
    return load_settings(
        api_url="http://bsg.test",
        rest_url="http://bsg.test",
        api_token="test-token-123",
        api_key="test_key_456",
        data_dir=str(data_dir),
        window_days=31,
        concurrency=2,
        max_retries=12,
        backoff_max_seconds=0.05,
        timezone="UTC",
    )


@pytest.fixture(scope="module")
def synced(tmp_path_factory):
    """A data directory after a real sync (3 months, 2 000 messages); tests copy it."""
    from bsg_analytics.pipeline import run_sync

    root = tmp_path_factory.mktemp("synced") / "d"
    sim = make_simulator(messages=2_000, seed=5)
    transport = inprocess_transport(sim)
    try:
        run_sync(settings_for(root), SINCE, transport=transport, now=TEST_NOW)
    finally:
        transport.close()
    return root


@pytest.fixture
def d(synced, tmp_path):
    """A private copy of the synced data directory (no warehouse: not needed)."""
    import shutil

    target = tmp_path / "d"
    shutil.copytree(synced, target, ignore=shutil.ignore_patterns("warehouse.duckdb*"))
    return target


def parquet_bytes(root: Path) -> dict[str, bytes]:
    base = root / "parquet"
    return {
        str(p.relative_to(base)): p.read_bytes() for p in sorted(base.rglob("*")) if p.is_file()
    }


def leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.name.startswith("parquet"))


def message_pages(root: Path) -> list[Path]:
    dd = DataDir(root)
    metas = RawStore(dd).list_meta(["messages"])
    return [Path(m[: -len(META_SUFFIX)] + CODECS[CODEC]) for m in metas]


def ids_on(body_path: Path) -> set[int]:
    body = decompress(body_path.read_bytes(), CODEC)
    return {int(r["id"]) for r in orjson.loads(body)["data"]}


def test_a_truncated_page_is_named_in_quarantine_and_the_rest_is_rebuilt(d, capsys):
    before = {t: read_table(DataDir(d), t) for t in TABLES}
    pages = message_pages(d)
    assert len(pages) > 3
    cut = next(p for p in pages[len(pages) // 2 :] if ids_on(p))  # a page with messages
    lost = ids_on(cut) - set().union(*(ids_on(p) for p in pages if p != cut))
    data = cut.read_bytes()
    cut.write_bytes(data[: len(data) // 2])

    # by default the tables are left exactly as they were, the page named in one line
    old = parquet_bytes(d)
    assert tp.run_rebuild_command(settings_for(d)) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(cut) in err[0] and "--skip-unreadable" in err[0], err
    assert err[0].endswith("were left as they were")
    assert parquet_bytes(d) == old and leftovers(d) == ["parquet"]

    code = tp.run_rebuild_command(settings_for(d), skip_unreadable=True)
    captured = capsys.readouterr()
    out = captured.out.strip().splitlines()
    assert code == 0, captured.err
    assert captured.err == ""
    assert len(out) == 1, out
    assert out[0].startswith("rebuild: ")
    assert "1 raw page was unreadable" in out[0] and "recorded in quarantine" in out[0]
    assert str(cut) in out[0] and "ZstdError" in out[0]

    dd = DataDir(d)
    for name, frame in before.items():  # every table the sync had is still there
        if not frame.is_empty() and name != "quarantine":
            assert not read_table(dd, name).is_empty(), name
    got = read_table(dd, "messages")
    assert lost, "the page's messages are all on other pages too: pick another page"
    assert set(got["message_id"]) == set(before["messages"]["message_id"]) - lost
    assert got.height == before["messages"].height - len(lost)
    q = read_table(dd, "quarantine").filter(pl.col("raw_file") == str(cut))
    assert q.height == 1
    assert q["reason"][0] == (
        "unreadable raw page: ZstdError: decompression error: did not decompress full frame"
    )
    assert q["endpoint"][0] == "/api/messages" and q["record_index"][0] is None
    assert leftovers(d) == ["parquet"]
    assert not any((d / "staging").iterdir())


def test_a_failure_half_way_leaves_the_old_tables_byte_for_byte(d, capsys, monkeypatch):
    old = parquet_bytes(d)
    assert len(old) > 5
    monkeypatch.setattr(tp, "REBUILD_CHUNK_PAGES", 3)
    real = tp.transform_pages
    calls = []

    def failing(pages, zone="UTC", *rest):
        calls.append(len(pages))
        if len(calls) == 3:  # two chunks are in the sibling by now
            built = [p for p in d.glob("parquet.rebuild-*/**/*.parquet")]
            assert built, "nothing was written beside D/parquet before the failure"
            raise RuntimeError("boom in the middle\nof the rebuild")
        return real(pages, zone, *rest)

    monkeypatch.setattr(tp, "transform_pages", failing)
    code = tp.run_rebuild_command(settings_for(d))
    captured = capsys.readouterr()
    assert code == 1
    assert captured.out == ""
    err = captured.err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("bsg-analytics: rebuild failed: RuntimeError: boom in the middle of")
    assert err[0].endswith(f"the tables in {d / 'parquet'} were left as they were")
    assert parquet_bytes(d) == old
    assert leftovers(d) == ["parquet"]


def test_a_failed_rename_leaves_the_old_tables(d, capsys, monkeypatch):
    old = parquet_bytes(d)
    real_rename = os.rename

    def rename(src, dst, *a, **kw):
        if os.path.basename(src).startswith("parquet.rebuild-"):
            raise OSError(28, "No space left on device")
        return real_rename(src, dst, *a, **kw)

    monkeypatch.setattr(os, "rename", rename)
    assert tp.run_rebuild_command(settings_for(d)) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "OSError" in err[0] and "left as they were" in err[0]
    monkeypatch.undo()
    assert parquet_bytes(d) == old
    assert leftovers(d) == ["parquet"]


def test_a_clean_rebuild_gives_the_tables_of_the_sync(d):
    dd = DataDir(d)
    before = {t: read_table(dd, t) for t in TABLES}
    report = tp.rebuild(dd, "UTC")
    assert report.pages_unreadable == 0 and report.totals.quarantined == 0
    assert report.pages == len(RawStore(dd).list_meta())
    for name, frame in before.items():
        after = read_table(dd, name)
        key = list(TABLES[name].key) or frame.columns
        assert after.sort(key).equals(frame.sort(key)), name
    assert leftovers(d) == ["parquet"]


def test_a_rebuild_takes_the_sync_lock(d, capsys):
    from bsg_analytics.locking import sync_lock

    old = parquet_bytes(d)
    with sync_lock(DataDir(d)):
        assert tp.run_rebuild_command(settings_for(d)) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "SyncLocked" in err[0] and "another sync is running" in err[0]
    assert parquet_bytes(d) == old


def test_a_rebuild_clears_leftovers_of_a_killed_rebuild_first(d):
    stale = d / "parquet.rebuild-deadbeef" / "messages" / "data.parquet"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"half")
    (d / "staging").mkdir(exist_ok=True)
    (d / "staging" / "abc.partial").write_bytes(b"x")
    tp.rebuild(DataDir(d), "UTC")
    assert leftovers(d) == ["parquet"]
    assert not any((d / "staging").iterdir())


# --- unreadable pages, one kind at a time ---------------------------------------------------


def _truncate(body: Path, meta: Path) -> str:
    body.write_bytes(body.read_bytes()[:20])
    return "ZstdError"


def _truncate_old_gzip(body: Path, meta: Path) -> str:
    """The page as an older version landed it (gzip, no `codec`), then cut short."""
    text = orjson.loads(meta.read_bytes())
    text.pop("codec")
    meta.write_bytes(orjson.dumps(text))
    old = body.with_name(body.name.replace(".json.zst", ".json.gz"))
    old.write_bytes(gzip.compress(decompress(body.read_bytes(), "zstd"))[:20])
    body.unlink()
    return "EOFError"


def _empty(body: Path, meta: Path) -> str:
    body.write_bytes(b"")
    return "EOFError: empty file (0 bytes)"


def _not_zstd(body: Path, meta: Path) -> str:
    body.write_bytes(b'{"data": []}')
    return "ZstdError"


def _missing(body: Path, meta: Path) -> str:
    body.unlink()
    return "FileNotFoundError"


def _bad_meta(body: Path, meta: Path) -> str:
    meta.write_bytes(b'{"stream": "messages", "endp')
    return "JSONDecodeError"


def _wrong_meta(body: Path, meta: Path) -> str:
    meta.write_bytes(b'{"stream": "messages"}')
    return "KeyError"


@pytest.mark.parametrize(
    "damage",
    [_truncate, _truncate_old_gzip, _empty, _not_zstd, _missing, _bad_meta, _wrong_meta],
    ids=lambda f: f.__name__,
)
def test_every_kind_of_unreadable_page_is_named_and_skipped(data_dir, damage):
    store = RawStore(data_dir)
    good = [message(id=i, created_at="2024-03-01 10:00:00") for i in (1, 2)]
    paths = [
        store.write(messages_page(good, seq=0, run_id="20240401T120000Z-aaaaaa")),
        store.write(
            messages_page(
                [message(id=3, created_at="2024-03-02 10:00:00")],
                seq=1,
                run_id="20240401T120000Z-aaaaaa",
            )
        ),
    ]
    body = Path(paths[1])
    meta = Path(meta_path_of(paths[1]))
    expected = damage(body, meta)
    broken = str(meta) if damage in (_bad_meta, _wrong_meta) else str(body)
    if damage is _truncate_old_gzip:
        broken = broken.replace(".json.zst", ".json.gz")

    seen: list[UnreadablePage] = []
    pages = list(store.iter_pages(on_error=seen.append))
    assert [p.path for p in pages] == [paths[0]]
    assert [u.path for u in seen] == [broken]
    assert seen[0].reason.startswith(f"unreadable raw page: {expected}")
    assert "\n" not in seen[0].reason
    with pytest.raises(Exception) as info:  # without a callback: raised, the file named
        list(store.iter_pages())
    assert f"raw page: {broken}" in getattr(info.value, "__notes__", [])

    with pytest.raises(tp.UnreadableRawPages, match="1 raw pages cannot be read"):
        tp.rebuild(data_dir, "UTC")
    report = tp.rebuild(data_dir, "UTC", skip_unreadable=True)
    assert report.pages == 1 and report.pages_unreadable == 1
    assert sorted(read_table(data_dir, "messages")["message_id"]) == [1, 2]
    q = read_table(data_dir, "quarantine")
    assert q["raw_file"].to_list() == [broken]
    assert q["reason"][0].startswith(f"unreadable raw page: {expected}")
    # the meta's time when it could be read, else the run id's
    assert q["extracted_date"][0].isoformat() == "2024-04-01"


def test_a_rebuild_of_nothing_but_unreadable_pages_still_succeeds(data_dir, capsys):
    from bsg_analytics.settings import Settings

    store = RawStore(data_dir)
    for seq in range(3):
        path = store.write(messages_page([message(id=seq + 1)], seq=seq))
        Path(path).write_bytes(b"\x1f\x8b")
    code = tp.run_rebuild_command(
        Settings(data_dir=data_dir.root, timezone="UTC"), skip_unreadable=True
    )
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 0 and len(out) == 1
    assert out[0].startswith("rebuild: 0 pages") and "3 raw pages were unreadable" in out[0]
    assert read_table(data_dir, "quarantine").height == 3
    assert read_table(data_dir, "messages").is_empty()


# --- object storage ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def s3_root():
    """moto's S3 server on loopback with a bucket; the AWS variables set while it lives."""
    pytest.importorskip("moto")
    import s3fs
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    with pytest.MonkeyPatch.context() as mp:
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
                     "AWS_ENDPOINT_URL_S3", "BSG_WAREHOUSE_PATH"):  # fmt: skip
            mp.delenv(name, raising=False)
        for name, value in (
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ENDPOINT_URL", endpoint),
            ("AWS_CONFIG_FILE", os.devnull),
            ("AWS_SHARED_CREDENTIALS_FILE", os.devnull),
        ):
            mp.setenv(name, value)
        fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": endpoint}, skip_instance_cache=True)
        fs.mkdir("rebuild-safety")
        try:
            yield "s3://rebuild-safety"
        finally:
            s3fs.S3FileSystem.clear_instance_cache()
            server.stop()


def _s3_dir(s3_root) -> DataDir:
    return DataDir(f"{s3_root}/run-{uuid.uuid4().hex[:10]}")


def _objects(dd: DataDir, under: str = "parquet") -> dict[str, bytes]:
    base = dd.path(under)
    return {p[len(base) + 1 :]: dd.read_bytes(p) for p in sorted(dd.walk_files(base))}


def _s3_pages(dd: DataDir) -> list[str]:
    store = RawStore(dd)
    run = "20240401T120000Z-aaaaaa"
    return [
        store.write(
            messages_page(
                [message(id=i, created_at=f"2024-03-0{1 + i % 3} 10:00:00") for i in ids],
                seq=seq,
                run_id=run,
            )
        )
        for seq, ids in enumerate(([1, 2, 3], [4, 5], [6]))
    ] + [store.write(page("campaigns", "campaigns_seed003.json", seq=9, run_id=run))]


@pytest.mark.slow  # in the slow pass: the default run stays under 3 minutes
def test_rebuild_on_an_object_store(s3_root):
    dd = _s3_dir(s3_root)
    paths = _s3_pages(dd)
    tp.rebuild(dd, "UTC")
    clean = {t: read_table(dd, t) for t in TABLES}
    assert sorted(clean["messages"]["message_id"]) == [1, 2, 3, 4, 5, 6]
    # a stale partition the new tables do not have is dropped by the swap
    dd.write_bytes(dd.path("parquet", "messages", "created_date=1999-01-01", "data.parquet"), b"x")
    tp.rebuild(dd, "UTC")
    for name, frame in clean.items():
        assert read_table(dd, name).equals(frame), name
    assert not dd.exists(dd.path("parquet", "messages", "created_date=1999-01-01"))
    top = [p.rsplit("/", 1)[-1] for p in dd.fs.ls(dd.root)]
    assert not [n for n in top if n.startswith("parquet.")], top

    # a truncated page: named in quarantine, the rest rebuilt
    dd.write_bytes(paths[1], dd.read_bytes(paths[1])[:15])
    report = tp.rebuild(dd, "UTC", skip_unreadable=True)
    assert [u.path for u in report.unreadable] == [paths[1]]
    assert sorted(read_table(dd, "messages")["message_id"]) == [1, 2, 3, 6]
    assert read_table(dd, "quarantine")["raw_file"].to_list() == [paths[1]]

    # a failure half-way: every old object as it was, the sibling gone
    old = _objects(dd)
    real = tp.write_batch

    def failing(data_dir, batch, root="parquet"):
        real(data_dir, batch, root=root)
        raise RuntimeError("boom")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tp, "write_batch", failing)
        with pytest.raises(RuntimeError):
            tp.rebuild(dd, "UTC")
    assert _objects(dd) == old
    top = [p.rsplit("/", 1)[-1] for p in dd.fs.ls(dd.root)]
    assert not [n for n in top if n.startswith("parquet.")], top


def test_an_interrupted_swap_on_an_object_store_is_finished_by_clean_temporary(s3_root):
    from bsg_analytics.storage import SwapIncomplete

    dd = _s3_dir(s3_root)
    _s3_pages(dd)
    tp.rebuild(dd, "UTC")
    want = _objects(dd)
    dd.write_bytes(dd.path("parquet", "messages", "created_date=1999-01-01", "data.parquet"), b"x")
    real_copy = dd.fs.copy
    copies = []

    def copy(src, dst, **kw):
        copies.append(dst)
        if len(copies) == 2:
            raise ConnectionError("the network went away")
        return real_copy(src, dst, **kw)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(dd.fs, "copy", copy)
        with pytest.raises(SwapIncomplete, match="finishes it"):
            tp.rebuild(dd, "UTC")
    top = [p.rsplit("/", 1)[-1] for p in dd.fs.ls(dd.root)]
    assert any(n.endswith(".ready") for n in top), top  # the build stays, complete
    assert dd.clean_temporary() == 0  # no file removed: the swap is finished instead
    assert _objects(dd) == want
    top = [p.rsplit("/", 1)[-1] for p in dd.fs.ls(dd.root)]
    assert not [n for n in top if n.startswith("parquet.")], top
    assert dd.clean_temporary() == 0  # nothing left to do
