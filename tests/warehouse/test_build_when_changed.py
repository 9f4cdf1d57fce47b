"""The warehouse is built again only when what it is made of changed (issue 16: no work per
sync that grows with the history)."""

from __future__ import annotations

import duckdb

from bsg_analytics.settings import load_settings
from bsg_analytics.storage import DataDir
from bsg_analytics.warehouse import build_warehouse, connect, query
from tests.warehouse import wh_fixtures


def _built_at(data_dir: DataDir) -> str:
    con = duckdb.connect(str(data_dir.warehouse_path), read_only=True)
    try:
        row = con.execute("SELECT value FROM _bsg_warehouse WHERE key = 'built_at'").fetchone()
    finally:
        con.close()
    assert row is not None
    return row[0]


def _reads(monkeypatch) -> list[str]:
    """The base views built: a build DESCRIBEs the Parquet of every table that has files."""
    import bsg_analytics.warehouse as wh

    seen: list[str] = []
    real = wh._base_view_sql

    def spy(con, data_dir, table):
        seen.append(table.name)
        return real(con, data_dir, table)

    monkeypatch.setattr(wh, "_base_view_sql", spy)
    return seen


def test_a_build_over_unchanged_definitions_does_nothing(tmp_path, monkeypatch):
    root = tmp_path / "data"
    wh_fixtures.write_fixture(root)
    data_dir = DataDir(root)
    build_warehouse(data_dir)
    first = _built_at(data_dir)
    built = _reads(monkeypatch)

    build_warehouse(data_dir)  # what a sync does when nothing but rows changed
    assert built == [] and _built_at(data_dir) == first

    build_warehouse(data_dir, load_settings(alert_z=9.0))  # a threshold: the views change
    assert built != []
    built.clear()
    build_warehouse(data_dir, load_settings(alert_z=9.0))
    assert built == []

    build_warehouse(data_dir, load_settings(alert_z=9.0), force=True)  # `rebuild` forces
    assert built != []


def test_a_table_that_gets_its_first_files_is_built_into_a_real_view(tmp_path, monkeypatch):
    root = tmp_path / "data"
    wh_fixtures.write_fixture(root)
    data_dir = DataDir(root)
    build_warehouse(data_dir)
    empty = query(data_dir, "select count(*) as n from legacy_sms").to_pylist()
    assert empty == [{"n": 0}]
    row = {"message_id": 1, "status": "delivered"}
    wh_fixtures.write_table(root, "legacy_sms", [row])
    built = _reads(monkeypatch)
    build_warehouse(data_dir)
    assert "legacy_sms" in built
    assert query(data_dir, "select count(*) as n from legacy_sms").to_pylist() == [{"n": 1}]


def test_connect_makes_temporary_views_only_for_settings_the_file_was_not_built_with(tmp_path):
    root = tmp_path / "data"
    wh_fixtures.write_fixture(root)
    data_dir = DataDir(root)
    build_warehouse(data_dir, load_settings(alert_z=2.5))
    temporary = "select count(*) from duckdb_views() where temporary and not internal"
    for settings, want in ((load_settings(alert_z=2.5), 0), (load_settings(alert_z=4.0), 1)):
        con = connect(data_dir, settings=settings)
        try:
            row = con.execute(temporary).fetchone()
        finally:
            con.close()
        assert row is not None
        assert (row[0] > 0) == bool(want)
