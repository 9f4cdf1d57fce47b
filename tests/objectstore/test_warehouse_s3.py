"""The warehouse over a bucket: a local DuckDB file whose views read `s3://...` through the
data directory's fsspec filesystem (registered with DuckDB; no httpfs extension)."""

from __future__ import annotations

import datetime as dt
import io
import json
from decimal import Decimal

import duckdb
import pytest

from bsg_analytics.schemas.tables import TABLES
from bsg_analytics.storage import DataDir
from bsg_analytics.warehouse import (
    BASE_VIEWS,
    METRIC_VIEWS,
    WarehouseError,
    attach_filesystem,
    build_warehouse,
    connect,
    query,
    run_sql_command,
)
from tests.warehouse import wh_fixtures

D1, D2 = dt.date(2026, 3, 1), dt.date(2026, 3, 2)


def put_table(data_dir: DataDir, table_name: str, rows: list[dict]) -> int:
    """Write rows as hive-partitioned Parquet under D/parquet/<table>/ through `DataDir`."""
    table = TABLES[table_name]
    frame = wh_fixtures.make_frame(table_name, rows)
    parts = (
        [((None,), frame)]
        if table.partition is None
        else frame.group_by([table.partition], maintain_order=True)
    )
    files = 0
    for (value,), part in parts:
        folder = [table.partition + "=" + str(value)] if table.partition else []
        buf = io.BytesIO()
        part.write_parquet(buf)
        data_dir.write_bytes(
            data_dir.path("parquet", table_name, *folder, "part-0.parquet"), buf.getvalue()
        )
        files += 1
    return files


@pytest.fixture(scope="module")
def s3_fixture(s3_bucket, tmp_path_factory):
    """The warehouse tests' hand-computed fixture, in the bucket; the warehouse file local."""
    import uuid

    local = tmp_path_factory.mktemp("wh-s3")
    d = DataDir(f"s3://{s3_bucket}/wh-{uuid.uuid4().hex[:8]}", warehouse_path=local / "w.duckdb")
    assert put_table(d, "messages", wh_fixtures.MESSAGES) == 3  # 02-28, 03-01, 03-02
    put_table(d, "campaigns", wh_fixtures.CAMPAIGNS)
    put_table(d, "campaign_statistics", wh_fixtures.CAMPAIGN_STATISTICS)
    path = build_warehouse(d)
    assert path == local / "w.duckdb"
    return d


def rows(data_dir, sql):
    return [tuple(r.values()) for r in query(data_dir, sql).to_pylist()]


def test_the_warehouse_file_is_local_and_not_in_the_bucket(s3_fixture):
    assert s3_fixture.warehouse_path.is_file()
    in_bucket = list(s3_fixture.walk_files(s3_fixture.path()))
    assert in_bucket and all(p.endswith(".parquet") for p in in_bucket)
    assert not s3_fixture.fs.exists(s3_fixture.path("warehouse.duckdb"))


def test_views_point_at_the_bucket(s3_fixture):
    con = duckdb.connect(str(s3_fixture.warehouse_path), read_only=True)
    try:
        [(sql,)] = con.execute(
            "SELECT sql FROM duckdb_views() WHERE view_name = 'messages'"
        ).fetchall()
        meta = dict(con.execute("SELECT key, value FROM _bsg_warehouse").fetchall())
    finally:
        con.close()
    assert f"'{s3_fixture.table_uri('messages')}/**/*.parquet'" in sql
    assert meta["data_dir"] == s3_fixture.uri()
    assert meta["empty_tables"].split(",") == [
        t for t in TABLES if t not in ("messages", "campaigns", "campaign_statistics")
    ]


def test_base_view_reads_the_bucket(s3_fixture):
    got = rows(
        s3_fixture,
        "SELECT message_id, created_date, status, amount_value FROM messages "
        "WHERE message_id IN (1, 6, 14) ORDER BY message_id",
    )
    assert got == [
        (1, D1, "delivered", Decimal("0.0350000")),
        (6, dt.date(2026, 2, 28), "delivered", Decimal("0.0400000")),
        (14, D2, "scheduled", None),
    ]
    assert rows(s3_fixture, "SELECT count(*) FROM messages") == [(17,)]
    assert rows(s3_fixture, "SELECT count(*) FROM campaigns") == [(3,)]
    assert rows(s3_fixture, "SELECT count(*) FROM rcs_cards") == [(0,)]  # typed, empty


def test_metric_view_reads_the_bucket(s3_fixture):
    got = rows(s3_fixture, "SELECT * FROM delivery_rate_daily ORDER BY day, channel, sender")
    assert got == [
        (D1, "rcs", "AcmeBot", 5, 2, 0.4),
        (D1, "sms", "Acme", 8, 5, 0.625),
        (D2, "sms", "Acme", 1, 1, 1.0),
        (D2, "sms", "Solo", 0, 0, None),
    ]


@pytest.mark.slow  # in the slow pass: the default run stays under 3 minutes
def test_every_view_agrees_with_the_same_data_on_local_disk(s3_fixture, tmp_path):
    local = DataDir(tmp_path / "data")
    wh_fixtures.write_fixture(local.root)
    build_warehouse(local)
    remote_con, local_con = connect(s3_fixture), connect(local)
    try:
        for view in [*BASE_VIEWS, *METRIC_VIEWS]:
            sql = f"SELECT * FROM {view} ORDER BY ALL"
            remote = remote_con.sql(sql).to_arrow_table()
            assert remote == local_con.sql(sql).to_arrow_table(), view
    finally:
        remote_con.close()
        local_con.close()


def test_every_connection_can_read_the_bucket(s3_fixture):
    # two connections at once to the same file share DuckDB's instance: registered once
    first, second = connect(s3_fixture), connect(s3_fixture)
    try:
        assert "s3" in first.list_filesystems()
        assert first.sql("SELECT count(*) FROM campaign_statistics").fetchall() == [(12,)]
        assert second.sql("SELECT count(*) FROM campaign_statistics").fetchall() == [(12,)]
        attach_filesystem(second, s3_fixture)  # again: a no-op, not an error
    finally:
        first.close()
        second.close()


def test_a_plain_connection_needs_the_registration(s3_fixture):
    """What a user opening the file by hand sees, and the fix (docs/SCALING.md)."""
    con = duckdb.connect(str(s3_fixture.warehouse_path), read_only=True)
    try:
        con.execute("SET autoinstall_known_extensions = false")  # no download attempt
        with pytest.raises(duckdb.Error, match="httpfs"):
            con.sql("SELECT count(*) FROM messages").fetchall()
        con.register_filesystem(s3_fixture.fs)
        assert con.sql("SELECT count(*) FROM messages").fetchall() == [(17,)]
    finally:
        con.close()


@pytest.mark.slow  # (the default pass keeps a quicker sibling)
def test_query_builds_a_missing_warehouse_in_the_working_folder(s3_fixture, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    d = DataDir(s3_fixture.uri())
    assert d.warehouse_path == tmp_path / "warehouse.duckdb"
    assert rows(d, "SELECT count(*) FROM delivery_rate_daily") == [(4,)]
    assert (tmp_path / "warehouse.duckdb").is_file()
    with pytest.raises(WarehouseError, match="does_not_exist"):
        query(d, "SELECT * FROM does_not_exist")


@pytest.mark.slow  # the default pass keeps test_base_view_reads_the_bucket
def test_sql_command_on_a_bucket(s3_fixture, tmp_path, monkeypatch, capsys):
    from bsg_analytics.settings import Settings

    monkeypatch.chdir(tmp_path)
    settings = Settings(data_dir=s3_fixture.uri())
    sql = "SELECT count(*)::INTEGER AS days, sum(delivered)::INTEGER AS delivered"
    sql += " FROM delivery_rate_daily"
    assert run_sql_command(settings, sql, "json") == 0
    assert json.loads(capsys.readouterr().out) == [{"days": 4, "delivered": 8}]
    assert (tmp_path / "warehouse.duckdb").is_file()


@pytest.mark.slow  # in the slow pass: the default run stays under 3 minutes
def test_new_files_in_the_bucket_show_up_after_a_rebuild(s3_fixture, tmp_path):
    d = DataDir(s3_fixture.uri(), warehouse_path=tmp_path / "w.duckdb")
    build_warehouse(d)
    assert rows(d, "SELECT count(*) FROM legacy_tasks") == [(0,)]
    put_table(d, "legacy_tasks", [{"task_id": 71, "originator": "Acme", "sent": 3}])
    try:
        # the table was empty at the last build: query() sees the new file and rebuilds
        assert rows(d, "SELECT task_id, sent FROM legacy_tasks") == [(71, 3)]
    finally:
        d.rm(d.path("parquet", "legacy_tasks"), recursive=True)
