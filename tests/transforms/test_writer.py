"""The Parquet writer: layout, exact Parquet types, idempotency, latest state across batches,
atomic partition swaps under a concurrent reader, and rebuild == incremental."""

from __future__ import annotations

import hashlib
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import orjson
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from bsg_analytics.batch import transform_pages, write_batch
from bsg_analytics.raw import RawStore
from bsg_analytics.rebuild import rebuild
from bsg_analytics.schemas.tables import TABLES
from bsg_analytics.transforms.writer import read_table
from tests.transforms.transform_helpers import message, messages_page, page

PROVIDER = Path(__file__).parents[1] / "fixtures" / "provider"
T1 = datetime(2024, 4, 1, 10, tzinfo=UTC)
T2 = datetime(2024, 4, 2, 10, tzinfo=UTC)


def mixed_pages(fetched_at=T1, status="sent", run_id="run1"):
    return [
        messages_page(
            [
                message(id=1, status=status, created_at="2024-03-01 10:00:00"),
                message(id=2, status=status, created_at="2024-03-02 10:00:00"),
                message(
                    id=3,
                    type="rcs",
                    created_at="2024-03-02 11:00:00",
                    rcs_options={
                        "cards": [
                            {"text": "c", "media": {"url": "u"}, "suggestions": [{"text": "t"}]}
                        ]
                    },
                ),
                message(id=4, phone="not a phone"),
            ],
            seq=0,
            fetched_at=fetched_at,
            run_id=run_id,
        ),
        page("campaigns", "campaigns_seed003.json", seq=1, fetched_at=fetched_at, run_id=run_id),
        page(
            "campaign_detail",
            "campaign_detail_seed002.json",
            seq=2,
            fetched_at=fetched_at,
            run_id=run_id,
        ),
        page("legacy_sms", "legacy_sms_seed004.json", seq=3, fetched_at=fetched_at, run_id=run_id),
        page(
            "legacy_task",
            "legacy_task_seed004.json",
            seq=4,
            fetched_at=fetched_at,
            endpoint="/rest/sms/task/555",
            run_id=run_id,
        ),
        page(
            "legacy_viber",
            "legacy_published_viber_with_sms_fallback.json",
            seq=5,
            fetched_at=fetched_at,
            endpoint="/rest/viber/16",
            run_id=run_id,
        ),
        page(
            "exports",
            PROVIDER.joinpath("stat_jobs_show__job_example.json").read_bytes(),
            seq=6,
            fetched_at=fetched_at,
            endpoint="/api/stat/jobs/0a1b2c3d4e5f607182",
            run_id=run_id,
        ),
        page(
            "balance",
            PROVIDER.joinpath("account_balance__schema_example.json").read_bytes(),
            seq=7,
            fetched_at=fetched_at,
            endpoint="/api/accounts/balance",
            run_id=run_id,
        ),
    ]


def files(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_layout_and_parquet_types(data_dir):
    write_batch(data_dir, transform_pages(mixed_pages(), "UTC"))
    root = Path(data_dir.path("parquet"))
    names = set(files(root))
    assert {
        "messages/created_date=2024-03-01/data.parquet",
        "messages/created_date=2024-03-02/data.parquet",
        "rcs_cards/created_date=2024-03-02/data.parquet",
        "rcs_suggestions/created_date=2024-03-02/data.parquet",
        "campaigns/created_month=2021-04/data.parquet",
        "campaign_statistics/created_month=2021-04/data.parquet",
        "legacy_sms/data.parquet",
        "legacy_tasks/data.parquet",
        "legacy_viber/data.parquet",
        "message_costs/created_date=2026-02-18/data.parquet",
        "balance_history/data.parquet",
        "quarantine/extracted_date=2024-04-01/data.parquet",
    } <= names
    assert not list(root.rglob("*.partial"))
    for name in TABLES:
        (path,) = sorted((root / name).rglob("*.parquet"))[:1]
        schema = pq.read_schema(path)
        assert schema.names == TABLES[name].columns
        for field in schema:
            dtype = TABLES[name].schema[field.name]
            if dtype == pl.Decimal(18, 7):
                assert field.type == pa.decimal128(18, 7), (name, field)
            if dtype == pl.Datetime("us", "UTC"):
                assert field.type == pa.timestamp("us", tz="UTC"), (name, field)
    # DuckDB over the hive layout reads the same types
    con = duckdb.connect()
    src = (
        f"read_parquet('{root}/messages/**/*.parquet', hive_partitioning=true, union_by_name=true)"
    )
    types = {r[0]: r[1] for r in con.execute(f"describe select * from {src}").fetchall()}
    assert types["amount_value"] == "DECIMAL(18,7)"
    assert types["created_at"] == "TIMESTAMP WITH TIME ZONE"
    assert con.execute(f"select count(*) from {src}").fetchone()[0] == 3


def test_same_raw_twice_gives_identical_files(data_dir):
    root = Path(data_dir.path("parquet"))
    write_batch(data_dir, transform_pages(mixed_pages(), "UTC"))
    first = files(root)
    write_batch(data_dir, transform_pages(mixed_pages(), "UTC"))
    assert files(root) == first
    assert read_table(data_dir, "quarantine").height == 1


def test_latest_state_wins_across_batches_in_any_order(data_dir):
    write_batch(data_dir, transform_pages(mixed_pages(T1, "sent"), "UTC"))
    write_batch(data_dir, transform_pages(mixed_pages(T2, "delivered", "run2"), "UTC"))
    write_batch(data_dir, transform_pages(mixed_pages(T1, "sent"), "UTC"))  # an old replay
    m = read_table(data_dir, "messages").sort("message_id")
    assert m["message_id"].to_list() == [1, 2, 3]
    assert m.filter(pl.col("message_id") < 3)["status"].to_list() == ["delivered", "delivered"]
    assert set(m["extracted_at"].to_list()) == {T2}
    # quarantine keeps one row per (raw_file, record_key, reason): two runs, two raw files
    assert read_table(data_dir, "quarantine").height == 2


def test_campaign_detail_columns_survive_a_newer_list_page(data_dir):
    write_batch(data_dir, transform_pages(mixed_pages(T1), "UTC"))
    body = orjson.loads(
        Path(__file__).parents[1].joinpath("fixtures/api/campaigns_seed003.json").read_bytes()
    )
    body["data"][0]["status"] = "done"
    write_batch(data_dir, transform_pages([page("campaigns", body, fetched_at=T2)], "UTC"))
    (c,) = read_table(data_dir, "campaigns").to_dicts()
    assert c["status"] == "done" and c["is_final"] is True
    assert str(c["total_price"]) == "0.3000000"  # from the older detail
    assert c["detail_extracted_at"] == T1
    assert c["list_extracted_at"] == T2
    assert c["extracted_at"] == T2


def test_reader_never_sees_a_torn_partition_or_duplicate_keys(data_dir):
    ids = range(1, 3001)

    def batch(round_: int):
        recs = [
            message(id=i, status=f"s{round_}", created_at=f"2024-03-{1 + i % 5:02d} 10:00:00")
            for i in ids
        ]
        pages = [
            messages_page(recs[k : k + 500], seq=k, fetched_at=T1 + timedelta(minutes=round_))
            for k in range(0, len(recs), 500)
        ]
        return transform_pages(pages, "UTC")

    write_batch(data_dir, batch(0))
    root = Path(data_dir.path("parquet", "messages"))
    stop = threading.Event()
    seen: list[tuple[int, int, int]] = []
    errors: list[BaseException] = []

    def reader():
        con = duckdb.connect()
        n = 0
        while not stop.is_set():
            n += 1
            try:
                if n % 2:
                    found = sorted(root.rglob("*.parquet"))
                    df = pl.concat([pl.read_parquet(p) for p in found])
                    rows, uniq = df.height, df["message_id"].n_unique()
                    rounds = df["status"].n_unique()
                else:
                    rows, uniq, rounds = con.execute(
                        f"select count(*), count(distinct message_id), count(distinct status)"
                        f" from read_parquet('{root}/**/*.parquet', hive_partitioning=true)"
                    ).fetchone()
                seen.append((rows, uniq, rounds))
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)
                return

    t = threading.Thread(target=reader)
    t.start()
    try:
        for round_ in range(1, 9):
            write_batch(data_dir, batch(round_))
    finally:
        stop.set()
        t.join()
    assert not errors, errors
    assert len(seen) > 3
    assert all(rows == len(ids) and uniq == len(ids) for rows, uniq, _ in seen), seen[:5]
    final = read_table(data_dir, "messages")
    assert final["status"].unique().to_list() == ["s8"]


def test_rebuild_gives_the_same_tables_as_incremental_writes(data_dir, tmp_path):
    store = RawStore(data_dir)
    runs = [
        mixed_pages(T1, "sent", "20240401T100000Z-aaaaaa"),
        mixed_pages(T2, "delivered", "20240402T100000Z-bbbbbb"),
        [
            messages_page(
                [message(id=9, created_at="2024-03-05 00:00:00")],
                seq=9,
                fetched_at=T2 + timedelta(hours=1),
                run_id="20240402T110000Z-cccccc",
            ),
            page(
                "messages",
                "not_json.txt",
                seq=10,
                fetched_at=T2 + timedelta(hours=1),
                run_id="20240402T110000Z-cccccc",
            ),
        ],
    ]
    for pages in runs:
        for p in pages:
            store.write(p)
        write_batch(data_dir, transform_pages(pages, "Europe/Kyiv"))
    incremental = {name: read_table(data_dir, name) for name in TABLES}
    report = rebuild(data_dir, "Europe/Kyiv")
    assert report.pages == sum(len(r) for r in runs)
    for name in TABLES:
        rebuilt = read_table(data_dir, name)
        if name == "quarantine":  # raw_file names the landed file in both cases once landed
            assert rebuilt.height == incremental[name].height
            assert sorted(rebuilt["reason"]) == sorted(incremental[name]["reason"])
            continue
        assert rebuilt.equals(incremental[name]), name


def test_run_rebuild_command_prints_one_line(data_dir, capsys):
    from bsg_analytics.rebuild import run_rebuild_command
    from bsg_analytics.settings import Settings

    store = RawStore(data_dir)
    for p in mixed_pages():
        store.write(p)
    code = run_rebuild_command(Settings(data_dir=data_dir.root, timezone="UTC"))
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 0
    assert len(out) == 1 and out[0].startswith("rebuild: 8 pages")
    assert read_table(data_dir, "messages").height == 3


def test_two_bad_copies_of_a_record_on_one_page_keep_a_quarantine_row_each(data_dir):
    # found by the reliability suite's hypothesis run: {"data": [{"id": 1}, {"id": 1}]}
    pages = [messages_page([{"id": 1}, {"id": 1}])]
    batch = transform_pages(pages, "UTC")
    assert batch.report.totals.quarantined == 2
    write_batch(data_dir, batch)
    write_batch(data_dir, transform_pages(pages, "UTC"))  # a replay adds nothing
    quarantine = read_table(data_dir, "quarantine").sort("record_index")
    assert quarantine["record_index"].to_list() == [0, 1]
    assert quarantine["record_key"].to_list() == ["1", "1"]
