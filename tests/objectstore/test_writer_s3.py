"""The Parquet writer (`transforms/writer.py`) on S3: merge a batch into a bucket, read it back."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from bsg_analytics.storage import STAGING
from bsg_analytics.warehouse import build_warehouse, query
from tests.warehouse import wh_fixtures


def test_write_tables_to_s3_and_read_back(s3_data_dir, tmp_path):
    from bsg_analytics.transforms.writer import read_table, write_tables

    d = s3_data_dir
    first = wh_fixtures.make_frame("messages", wh_fixtures.MESSAGES[:3])
    assert write_tables(d, {"messages": first}) == {"messages": 3}
    # a later state of message 2 (delivered now): the merge keeps the latest row per key
    later = dict(wh_fixtures.MESSAGES[1], status="delivered")
    later["extracted_at"] = wh_fixtures.EXTRACTED_AT + dt.timedelta(hours=1)
    write_tables(d, {"messages": wh_fixtures.make_frame("messages", [later])})

    files = sorted(p for p in d.walk_files(d.path()) if p.endswith(".parquet"))
    assert files == [d.path("parquet", "messages", "created_date=2026-03-01", "data.parquet")]
    assert not d.exists(d.path(STAGING))  # no staging on object storage: one PUT per file

    back = read_table(d, "messages").sort("message_id")
    assert back.schema == first.schema
    assert back["message_id"].to_list() == [1, 2, 3]
    assert back["status"].to_list() == ["delivered", "delivered", "scheduled"]
    assert back["amount_value"].to_list() == [Decimal("0.0350000")] * 2 + [None]

    d_wh = type(d)(d.uri(), warehouse_path=tmp_path / "w.duckdb")
    build_warehouse(d_wh)
    got = query(d_wh, "SELECT message_id, status FROM messages ORDER BY message_id").to_pylist()
    assert got == [
        {"message_id": 1, "status": "delivered"},
        {"message_id": 2, "status": "delivered"},
        {"message_id": 3, "status": "scheduled"},
    ]
