"""The warehouse file: base views, empty tables, partitions, and where it can be opened from."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
import pytest

from bsg_analytics.schemas.tables import TABLES
from bsg_analytics.storage import DataDir
from bsg_analytics.warehouse import (
    METRIC_DOCS,
    METRIC_VIEWS,
    build_warehouse,
    duckdb_type,
    metric_sql,
    query,
)
from tests.warehouse import wh_fixtures

ALL_VIEWS = {*TABLES, *METRIC_VIEWS, "message_facts"}


def view_types(path: Path, view: str) -> dict[str, str]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {r[0]: r[1] for r in con.execute(f"DESCRIBE {view}").fetchall()}
    finally:
        con.close()


def declared(table_name: str) -> dict[str, str]:
    return {c: duckdb_type(t) for c, t in TABLES[table_name].schema.items()}


def test_every_view_exists_and_is_empty_before_any_data(data_dir):
    path = build_warehouse(data_dir)
    assert path == data_dir.warehouse_path and path.exists()
    con = duckdb.connect(str(path), read_only=True)
    try:
        views = {
            r[0]
            for r in con.execute(
                "SELECT view_name FROM duckdb_views() WHERE NOT internal"
            ).fetchall()
        }
        assert views == ALL_VIEWS
        for view in ALL_VIEWS:
            assert con.execute(f"SELECT count(*) FROM {view}").fetchone() == (0,)
    finally:
        con.close()
    for name in TABLES:
        assert view_types(path, name) == declared(name)
    # the metric views have their real types over nothing
    assert view_types(path, "spend_daily")["cost_per_delivered"] == "DECIMAL(18,7)"
    assert view_types(path, "delivery_rate_daily") == {
        "day": "DATE", "channel": "VARCHAR", "sender": "VARCHAR", "sent": "BIGINT",
        "delivered": "BIGINT", "delivery_rate": "DOUBLE",
    }  # fmt: skip


def test_base_views_have_the_declared_types_over_files(fixture_data):
    for name in ("messages", "campaigns", "campaign_statistics"):
        assert view_types(fixture_data.warehouse_path, name) == declared(name)


def test_empty_view_becomes_real_on_the_next_build(data_dir):
    build_warehouse(data_dir)
    assert query(data_dir, "SELECT count(*) AS n FROM messages").to_pylist() == [{"n": 0}]
    wh_fixtures.write_table(data_dir.root, "messages", wh_fixtures.MESSAGES[:3])
    build_warehouse(data_dir)
    assert query(data_dir, "SELECT count(*) AS n FROM messages").to_pylist() == [{"n": 3}]


def test_query_rebuilds_when_files_arrive_after_an_empty_build(data_dir):
    build_warehouse(data_dir)
    wh_fixtures.write_table(data_dir.root, "campaigns", wh_fixtures.CAMPAIGNS)
    assert query(data_dir, "SELECT count(*) AS n FROM campaigns").to_pylist() == [{"n": 3}]


def test_query_builds_a_missing_warehouse(data_dir):
    assert not data_dir.warehouse_path.exists()
    assert query(data_dir, "SELECT count(*) AS n FROM quarantine").to_pylist() == [{"n": 0}]
    assert data_dir.warehouse_path.exists()


def test_opened_from_another_directory_with_plain_duckdb(fixture_data, tmp_path, monkeypatch):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    con = duckdb.connect(str(fixture_data.warehouse_path), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM messages").fetchone() == (17,)
        assert con.execute("SELECT sum(sent) FROM delivery_rate_daily").fetchone() == (14,)
    finally:
        con.close()


def test_opened_from_data_dir_and_root_in_a_fresh_process(fixture_data, tmp_path):
    """Another process, with its own cwd: the data dir itself, its parent, and /."""
    code = (
        "import duckdb, sys; con = duckdb.connect(sys.argv[1], read_only=True);"
        "print(con.execute('SELECT count(*) FROM campaign_delivery').fetchone()[0])"
    )
    for cwd in (fixture_data.root, Path(fixture_data.root).parent, "/"):
        out = subprocess.run(
            [sys.executable, "-c", code, str(fixture_data.warehouse_path)],
            cwd=cwd, capture_output=True, text=True, check=True,
        )  # fmt: skip
        assert out.stdout.strip() == "4"


def test_a_relative_data_dir_is_written_as_absolute_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    wh_fixtures.write_table(tmp_path / "data", "campaigns", wh_fixtures.CAMPAIGNS)
    data_dir = DataDir("data")
    path = build_warehouse(data_dir)
    con = duckdb.connect(str(path), read_only=True)
    try:
        (sql,) = con.execute(
            "SELECT sql FROM duckdb_views() WHERE view_name = 'campaigns'"
        ).fetchone()
    finally:
        con.close()
    assert f"'{tmp_path}/data/parquet/campaigns/**/*.parquet'" in sql
    monkeypatch.chdir("/")
    assert query(DataDir(tmp_path / "data"), "SELECT count(*) AS n FROM campaigns").to_pylist() == [
        {"n": 3}
    ]


def test_a_moved_data_dir_is_rebuilt_on_query(fixture_data, tmp_path):
    import shutil

    moved = tmp_path / "moved"
    shutil.copytree(fixture_data.root, moved)
    data_dir = DataDir(moved)
    shutil.rmtree(moved / "parquet" / "campaigns")  # differs from the original now
    assert query(data_dir, "SELECT count(*) AS n FROM campaigns").to_pylist() == [{"n": 0}]
    assert query(data_dir, "SELECT count(*) AS n FROM messages").to_pylist() == [{"n": 17}]


def test_sixty_days_of_partitions_and_pruning(data_dir):
    start = dt.date(2026, 1, 1)
    rows = [
        wh_fixtures.message(
            i, channel="sms", sender="Acme", status="delivered" if i % 3 else "failed",
            sent_at=f"{start + dt.timedelta(days=i // 4)} 12:00:00",
            delivered_at=f"{start + dt.timedelta(days=i // 4)} 12:00:{i % 60:02d}",
            amount_value="0.0100000", amount_currency="EUR",
        )
        for i in range(240)
    ]  # fmt: skip
    wh_fixtures.write_table(data_dir.root, "messages", rows)
    parts = list((Path(data_dir.root) / "parquet" / "messages").iterdir())
    assert len(parts) == 60
    build_warehouse(data_dir)
    got = query(
        data_dir,
        "SELECT count(*) AS days, sum(sent) AS sent, sum(delivered) AS d FROM delivery_rate_daily",
    ).to_pylist()
    assert got == [{"days": 60, "sent": 240, "d": 160}]
    one_day = query(
        data_dir, "SELECT count(*) AS n FROM messages WHERE created_date = DATE '2026-02-01'"
    ).to_pylist()
    assert one_day == [{"n": 4}]
    plan = query(
        data_dir,
        "EXPLAIN ANALYZE SELECT count(*) FROM messages WHERE created_date = DATE '2026-02-01'",
    ).to_pylist()
    text = " ".join(str(v) for r in plan for v in r.values())
    assert "Total Files Read: 1" in text, text


def test_partition_key_only_in_the_path_and_a_column_added_later(data_dir):
    """A writer that leaves the key out of the files; older files without a newer column."""
    old = wh_fixtures.make_frame("messages", wh_fixtures.MESSAGES[:2]).drop(
        "country", "created_date"
    )
    new = (
        wh_fixtures.make_frame("messages", wh_fixtures.MESSAGES[11:12])
        .with_columns(country=pl.lit("UA"))
        .drop("created_date")
    )
    base = Path(data_dir.root) / "parquet" / "messages"
    (base / "created_date=2026-03-01").mkdir(parents=True)
    old.write_parquet(base / "created_date=2026-03-01" / "a.parquet")
    new.write_parquet(base / "created_date=2026-03-01" / "b.parquet")
    build_warehouse(data_dir)
    assert view_types(data_dir.warehouse_path, "messages") == declared("messages")
    got = query(
        data_dir, "SELECT message_id, country, created_date FROM messages ORDER BY message_id"
    ).to_pylist()
    d = dt.date(2026, 3, 1)
    assert got == [{"message_id": 1, "country": None, "created_date": d},
                   {"message_id": 2, "country": None, "created_date": d},
                   {"message_id": 901, "country": "UA", "created_date": d}]  # fmt: skip


def test_a_column_no_file_has_yet_reads_as_typed_null(data_dir):
    frame = wh_fixtures.make_frame("legacy_sms", [{"message_id": 1, "price": "0.5"}])
    folder = Path(data_dir.root) / "parquet" / "legacy_sms"
    folder.mkdir(parents=True)
    frame.drop("time_dr").write_parquet(folder / "x.parquet")
    build_warehouse(data_dir)
    assert view_types(data_dir.warehouse_path, "legacy_sms") == declared("legacy_sms")


def test_rebuild_keeps_user_objects_and_is_idempotent(fixture_data, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(fixture_data.root, copy)
    data_dir = DataDir(copy)
    build_warehouse(data_dir)
    con = duckdb.connect(str(data_dir.warehouse_path))
    con.execute("CREATE VIEW my_view AS SELECT 1 AS x")
    con.close()
    build_warehouse(data_dir)
    build_warehouse(data_dir)
    assert query(data_dir, "SELECT x FROM my_view").to_pylist() == [{"x": 1}]


def test_metric_docs_and_rendered_status_sets():
    assert set(METRIC_DOCS) == {*METRIC_VIEWS, "message_facts"}
    assert set(METRIC_VIEWS) >= {
        "delivery_rate_daily", "campaign_delivery", "spend_daily", "dlr_latency",
        "rcs_read_rate", "fallback_effectiveness", "dlr_completeness",
    }  # fmt: skip
    for name, doc in METRIC_DOCS.items():
        assert doc.startswith(f"{name}:"), name
        assert "{{" not in doc and "{{" not in metric_sql(name)
    # the sets come from schemas.statuses, rendered in; never typed into the .sql files
    assert "('delivered', 'read')" in METRIC_DOCS["delivery_rate_daily"]
    views = Path(__file__).parents[2] / "bsg_analytics" / "warehouse" / "views"
    for sql_file in views.glob("*.sql"):
        text = sql_file.read_text()
        assert "'undelivered'" not in text and "'delivered'" not in text, sql_file.name


def test_unknown_placeholder_is_an_error():
    from bsg_analytics.warehouse import render

    with pytest.raises(KeyError, match="nope"):
        render("SELECT {{ nope }}")


@pytest.mark.skipif(sys.platform == "win32", reason="posix paths")
def test_quote_in_the_data_dir_path(tmp_path):
    root = tmp_path / "it's data"
    wh_fixtures.write_table(root, "campaigns", wh_fixtures.CAMPAIGNS[:1])
    data_dir = DataDir(root)
    build_warehouse(data_dir)
    assert query(data_dir, "SELECT name FROM campaigns").to_pylist() == [{"name": "Spring sale"}]
    assert os.path.exists(data_dir.warehouse_path)


def test_legacy_viber_has_its_base_view(tmp_path):
    root = tmp_path / "data"
    wh_fixtures.write_table(root, "legacy_viber", [
        {"message_id": 10, "msisdn": "380661234567", "status": "not_viber_user",
         "price": "0.0200000", "currency": "USD", "alt_channel": "sms", "alt_message_id": 11,
         "alt_status": "delivered", "alt_price": "0.03", "alt_currency": "USD"},
    ])  # fmt: skip
    data_dir = DataDir(root)
    build_warehouse(data_dir)
    assert view_types(data_dir.warehouse_path, "legacy_viber") == declared("legacy_viber")
    got = query(
        data_dir, "SELECT message_id, status, alt_message_id, alt_price FROM legacy_viber"
    ).to_pylist()
    assert got == [
        {
            "message_id": 10,
            "status": "not_viber_user",
            "alt_message_id": 11,
            "alt_price": Decimal("0.0300000"),
        }
    ]


def test_fallback_effectiveness_definition_names_both_channels():
    doc = METRIC_DOCS["fallback_effectiveness"]
    assert doc.splitlines()[0] == (
        "fallback_effectiveness: one row per day x channel x sender x fallback_channel."
    )
    assert "('sms', 'viber')" in doc
    assert "('sms', 'viber')" in METRIC_DOCS["message_facts"]
