"""`DataDir` and `RawStore` on S3 (moto)."""

from __future__ import annotations

from datetime import UTC, datetime

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


def test_data_dir_is_remote_with_s3_uris(s3_data_dir, s3_bucket):
    d, bucket = s3_data_dir, s3_bucket
    assert not d.is_local and d.protocol == "s3"
    prefix = d.root.split("/", 1)[1]
    assert d.root == f"{bucket}/{prefix}"
    assert d.uri("parquet", "messages") == f"s3://{bucket}/{prefix}/parquet/messages"
    assert d.table_uri("campaigns") == f"s3://{bucket}/{prefix}/parquet/campaigns"
    assert d.path("state", "x.json") == f"{bucket}/{prefix}/state/x.json"


def test_the_endpoint_comes_from_aws_endpoint_url(s3_server, s3_data_dir):
    assert s3_data_dir.fs.client_kwargs["endpoint_url"] == s3_server
    assert s3_server.startswith("http://127.0.0.1:")


def test_files_write_read_exist_glob_walk_rm(s3_data_dir):
    d = s3_data_dir
    a = d.path("state", "a.json")
    b = d.path("state", "sub", "b.json")
    assert not d.exists(a)
    d.write_bytes(a, b"one")
    d.write_bytes(a, b"two")  # overwrite
    d.write_bytes(b, b"bee")
    d.makedirs(d.path("state", "nothing"))  # a no-op on object storage, but allowed
    assert d.exists(a) and d.read_bytes(a) == b"two" and d.read_bytes(b) == b"bee"
    assert d.glob(d.path("state", "*.json")) == [a]
    assert list(d.walk_files(d.path("state"))) == [a, b]
    assert list(d.walk_files(d.path("nowhere"))) == []
    with pytest.raises(FileNotFoundError):
        d.read_bytes(d.path("state", "missing.json"))
    d.rm(a)
    d.rm(a)  # absent: no error
    assert not d.exists(a) and d.exists(b)
    d.rm(d.path("state"), recursive=True)
    assert list(d.walk_files(d.path("state"))) == []


def test_another_writer_is_seen_at_once(s3_data_dir):
    """No listing cache: files written by another machine show up in the next listing."""
    d = s3_data_dir
    assert list(d.walk_files(d.path("raw"))) == []
    other = DataDir(d.uri())  # another process, as far as the bucket knows
    other.fs.pipe_file(d.path("raw", "x.meta.json"), b"{}")
    assert list(d.walk_files(d.path("raw"))) == [d.path("raw", "x.meta.json")]


def test_check_writable_passes_and_leaves_nothing(s3_data_dir):
    s3_data_dir.check_writable()
    assert list(s3_data_dir.walk_files(s3_data_dir.path("state"))) == []


def test_check_writable_on_a_missing_bucket_fails_with_one_line(s3_server):
    d = DataDir("s3://no-such-bucket-bsg/prefix")
    with pytest.raises(PermissionError) as info:
        d.check_writable()
    message = str(info.value)
    assert message == (
        "data directory s3://no-such-bucket-bsg/prefix is not writable: "
        "The specified bucket does not exist"
    )
    assert "\n" not in message


def test_warehouse_path_is_local_for_a_bucket(s3_bucket, tmp_path, monkeypatch):
    bucket = s3_bucket
    monkeypatch.chdir(tmp_path)
    d = DataDir(f"s3://{bucket}/p")
    assert d.warehouse_path == tmp_path / "warehouse.duckdb"
    monkeypatch.chdir("/")
    assert d.warehouse_path == tmp_path / "warehouse.duckdb"  # fixed when the DataDir is made
    assert DataDir(f"s3://{bucket}/p", warehouse_path=tmp_path / "w.duckdb").warehouse_path == (
        tmp_path / "w.duckdb"
    )
    monkeypatch.setenv("BSG_WAREHOUSE_PATH", str(tmp_path / "env.duckdb"))
    assert DataDir(f"s3://{bucket}/p").warehouse_path == tmp_path / "env.duckdb"


def test_raw_pages_round_trip_in_landing_order(s3_data_dir, s3_bucket):
    bucket = s3_bucket
    store = RawStore(s3_data_dir)
    run = new_run_id(datetime(2026, 11, 20, 10, 0, tzinfo=UTC))
    bodies = [b'{"data": [], "n": %d}' % i for i in range(3)]
    for seq in (2, 0, 1):
        store.write(page(run, "w1", seq, bodies[seq]))
    store.write(page(run, "w1", 0, b'{"legacy": 1}', stream="legacy_sms"))
    got = list(store.iter_pages(["messages"]))
    assert [p.body for p in got] == bodies
    assert [p.seq for p in got] == [0, 1, 2]
    assert got[0].params == {"page[offset]": "0", "page[limit]": "500"}
    assert got[0].fetched_at == datetime(2026, 11, 20, 10, 0, 0, tzinfo=UTC)
    assert got[1].path.startswith(f"{bucket}/") and got[1].path.endswith("/000001.json.zst")
    assert decompress(s3_data_dir.read_bytes(got[1].path), "zstd") == bodies[1]
    # landing order is (date, run, stream, group, seq): the same run's streams by name
    assert [p.stream for p in store.iter_pages()] == ["legacy_sms"] + ["messages"] * 3
    assert next(p.body for p in store.iter_pages(run_id=run)) == b'{"legacy": 1}'
    assert list(store.iter_pages(run_id="20990101T000000Z-none")) == []


def test_a_page_without_its_meta_is_ignored(s3_data_dir):
    store = RawStore(s3_data_dir)
    run = new_run_id()
    kept = store.write(page(run, "w1", 0, b'{"kept": true}'))
    cut = store.write(page(run, "w1", 1, b'{"cut": true}'))
    s3_data_dir.rm(meta_path_of(cut))
    assert s3_data_dir.exists(cut)  # the body is there, but uncommitted
    assert [p.path for p in store.iter_pages()] == [kept]
