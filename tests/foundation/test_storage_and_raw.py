import gzip
from datetime import UTC, datetime

import orjson
import pytest

from bsg_analytics.raw import RawPage, RawStore, decompress, meta_path_of, new_run_id
from bsg_analytics.storage import DataDir


def page(run_id: str, group: str, seq: int, body: bytes, stream: str = "messages") -> RawPage:
    return RawPage(
        stream=stream,
        endpoint="/api/messages",
        params={"page[offset]": str(seq * 500), "page[limit]": "500"},
        fetched_at=datetime(2026, 11, 20, 10, 0, seq, tzinfo=UTC),
        status_code=200,
        body=body,
        run_id=run_id,
        group=group,
        seq=seq,
    )


def test_write_bytes_is_atomic_and_leaves_no_temp_files(data_dir):
    target = data_dir.path("state", "x.json")
    data_dir.write_bytes(target, b"one")
    data_dir.write_bytes(target, b"two")
    assert data_dir.read_bytes(target) == b"two"
    assert [p.rsplit("/", 1)[1] for p in data_dir.walk_files(data_dir.path("state"))] == ["x.json"]


def test_uris_are_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    d = DataDir("./rel")
    assert d.uri("parquet", "messages") == str(tmp_path / "rel" / "parquet" / "messages")
    assert d.warehouse_path == tmp_path / "rel" / "warehouse.duckdb"


def test_raw_pages_round_trip_in_landing_order(data_dir):
    store = RawStore(data_dir)
    run = new_run_id(datetime(2026, 11, 20, 10, 0, tzinfo=UTC))
    bodies = [b'{"data": [], "n": %d}' % i for i in range(3)]
    for seq in (2, 0, 1):
        store.write(page(run, "w1", seq, bodies[seq]))
    got = list(store.iter_pages(["messages"]))
    assert [p.body for p in got] == bodies
    assert got[0].params == {"page[offset]": "0", "page[limit]": "500"}
    assert got[0].fetched_at == datetime(2026, 11, 20, 10, 0, 0, tzinfo=UTC)
    # the body is stored byte for byte, zstd-compressed; the meta names the codec
    assert got[1].path.endswith("/000001.json.zst")
    assert decompress(data_dir.read_bytes(got[1].path), "zstd") == bodies[1]
    assert orjson.loads(data_dir.read_bytes(meta_path_of(got[1].path)))["codec"] == "zstd"


def test_a_page_an_older_version_landed_is_read_beside_new_ones(data_dir):
    """Before zstd, a body was a gzip `.json.gz` and its meta had no `codec`: such pages
    (a data directory the previous main wrote) are read as they are, in landing order."""
    store = RawStore(data_dir)
    run = new_run_id(datetime(2026, 11, 20, 10, 0, tzinfo=UTC))
    new = store.write(page(run, "w1", 1, b'{"data": [], "n": 1}'))
    stem = new[: -len(".json.zst")].replace("000001", "000000")
    old_meta = {**page(run, "w1", 0, b"").meta(), "bytes": 20}
    data_dir.write_bytes(stem + ".json.gz", gzip.compress(b'{"data": [], "n": 0}', 5, mtime=0))
    data_dir.write_bytes(stem + ".meta.json", orjson.dumps(old_meta))
    got = list(store.iter_pages(["messages"]))
    assert [p.body for p in got] == [b'{"data": [], "n": 0}', b'{"data": [], "n": 1}']
    assert [p.path for p in got] == [stem + ".json.gz", new]
    assert meta_path_of(got[0].path) == stem + ".meta.json"


def test_a_page_without_its_meta_file_is_ignored(data_dir):
    store = RawStore(data_dir)
    run = new_run_id()
    path = store.write(page(run, "w1", 0, b"{}"))
    data_dir.rm(meta_path_of(path))
    assert list(store.iter_pages()) == []


def test_check_writable_fails_clearly(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(PermissionError, match="not writable"):
        DataDir(blocker / "data").check_writable()
