"""The writer's fast paths (no stored partition: no merge; rows already in key order: no sort)
write the very files the plain merge does: read, concat, `latest`, sort, encode. Exact bytes,
for a backfill, an incremental batch over stored partitions, a replay, and frames that repeat
keys or come out of order."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

import bsg_analytics.transforms.writer as writer
from bsg_analytics.batch import transform_pages, write_batch
from bsg_analytics.schemas.tables import TABLES
from bsg_analytics.storage import DataDir
from bsg_analytics.transforms.merge import latest, strictly_increasing, unique_keys
from bsg_analytics.transforms.writer import read_table, write_tables
from tests.transforms.transform_helpers import message, messages_page, page

T1 = datetime(2024, 4, 1, 10, tzinfo=UTC)


def plain_merge(data_dir, table, value, new):
    """The merge as it was before the fast paths (the reference)."""
    old = writer.read_partition(data_dir, table, value)
    df = new if old is None else pl.concat([old, new], how="vertical")
    if table.key:
        df = latest(df, table).sort(list(table.key))
    else:
        df = df.unique(subset=writer.QUARANTINE_UNIQUE, keep="first", maintain_order=True).sort(
            ["extracted_at", "raw_file", "record_index", "record_key", "reason"], nulls_last=True
        )
    path = f"{writer.partition_dir(data_dir, table, value)}/{writer.FILE_NAME}"
    writer.replace_file(data_dir, path, writer._encode(df))
    return df.height


def files(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*.parquet"))
    }


def rcs(i: int, cards: int) -> dict:
    return {
        "cards": [
            {"text": f"c{i}.{k}", "suggestions": [{"text": f"s{j}"} for j in range(k + 1)]}
            for k in range(cards)
        ]
    }


def window(ids, fetched_at, status="sent", seq0=0, per_page=40, run_id="run1"):
    """Pages of messages `ids` (sorted by id, as the API serves them), ~4 a day over days."""
    recs = [
        message(
            id=i,
            status=status,
            created_at=f"{datetime(2024, 3, 1) + timedelta(hours=6 * i):%Y-%m-%d %H:%M:%S}",
            **({"type": "rcs", "rcs_options": rcs(i, 1 + i % 3)} if i % 4 == 0 else {}),
        )
        for i in ids
    ]
    return [
        messages_page(recs[k : k + per_page], seq=seq0 + k, fetched_at=fetched_at, run_id=run_id)
        for k in range(0, len(recs), per_page)
    ]


def campaign_pages(fetched_at):
    return [
        page("campaigns", "campaigns_seed003.json", seq=1, fetched_at=fetched_at),
        page("campaign_detail", "campaign_detail_seed002.json", seq=2, fetched_at=fetched_at),
    ]


def scenario():
    """Batches in order: a backfill of three windows, a batch whose rows straddle stored
    partitions with newer states and fewer cards, a replay of the first window, and the
    campaigns (merge groups) twice."""
    t2 = T1 + timedelta(hours=5)
    return [
        window(range(1, 61), T1),
        window(range(61, 121), T1 + timedelta(minutes=1), seq0=100),
        window(range(121, 181), T1 + timedelta(minutes=2), seq0=200),
        campaign_pages(T1),
        window(range(50, 140, 3), t2, status="delivered", seq0=300, run_id="run2"),
        window(range(1, 61), T1),
        campaign_pages(t2),
    ]


@pytest.mark.parametrize("zone", ["UTC", pytest.param("Europe/Kyiv", marks=pytest.mark.slow)])
def test_fast_paths_write_the_bytes_the_plain_merge_writes(tmp_path, monkeypatch, zone):
    fast, plain = DataDir(tmp_path / "fast"), DataDir(tmp_path / "plain")
    snapshots = []
    for pages in scenario():
        batch = transform_pages(pages, zone)
        write_batch(fast, batch)
        with monkeypatch.context() as m:
            m.setattr(writer, "merge_partition", plain_merge)
            write_batch(plain, batch)
        got, want = files(Path(fast.path("parquet"))), files(Path(plain.path("parquet")))
        assert got == want
        snapshots.append(got)
    # the replay of the first window changed nothing
    assert snapshots[5] == snapshots[4]
    messages = read_table(fast, "messages")
    assert messages.height == 180 and messages["message_id"].n_unique() == 180
    assert (
        messages.filter(pl.col("message_id").is_in(range(50, 140, 3)))["status"] == "delivered"
    ).all()


def test_a_new_partition_from_a_frame_with_repeated_keys_keeps_the_latest_row(tmp_path):
    # write_tables is public: a frame may repeat keys (two batches concatenated) and come out of
    # key order; nothing is stored yet, so only `latest` and the sort make it right
    fast, plain = DataDir(tmp_path / "fast"), DataDir(tmp_path / "plain")
    older = transform_pages(window(range(1, 41), T1), "UTC")["messages"]
    newer = transform_pages(window(range(20, 31), T1 + timedelta(hours=1), "delivered"), "UTC")
    frame = pl.concat([newer["messages"], older]).reverse()  # the newer rows come last
    write_tables(fast, {"messages": frame})
    for (value,), part in frame.partition_by("created_date", as_dict=True).items():
        plain_merge(plain, TABLES["messages"], value, part)
    assert files(Path(fast.path("parquet"))) == files(Path(plain.path("parquet")))
    got = read_table(fast, "messages").sort("message_id")
    assert got["message_id"].to_list() == list(range(1, 41))
    assert got.filter(pl.col("status") == "delivered")["message_id"].to_list() == list(
        range(20, 31)
    )


def test_strictly_increasing():
    df = pl.DataFrame({"a": [1, 1, 2, 3], "b": ["x", "y", "a", "a"], "c": [5, 4, 3, 2]})
    assert strictly_increasing(df, ["a", "b"])
    assert not strictly_increasing(df, ["a"])  # a tie
    assert strictly_increasing(df.head(1), ["a"]) and strictly_increasing(df.head(0), ["a"])
    assert not strictly_increasing(df, ["c"])
    assert strictly_increasing(df.reverse(), ["c"])
    assert not strictly_increasing(pl.concat([df, df.tail(1)]), ["a", "b"])  # a repeated key
    assert not strictly_increasing(df.reverse(), ["a", "b"])
    # "b" after "ab": the byte order the sort uses
    assert strictly_increasing(pl.DataFrame({"s": ["ab", "b", "ba"]}), ["s"])
    # nulls: never taken as sorted (the sort would put them first)
    assert not strictly_increasing(pl.DataFrame({"a": [None, 1, 2]}), ["a"])
    assert not strictly_increasing(pl.DataFrame({"a": [1, 2], "b": [None, 1]}), ["a", "b"])


def test_unique_keys_and_latest_return_a_unique_frame_as_it_is():
    df = pl.DataFrame({"a": [3, 1, 2], "b": [1, 1, 1]})
    assert unique_keys(df, ["a"]) and unique_keys(df, ["a", "b"])
    assert not unique_keys(df, ["b"])
    frame = transform_pages(window(range(1, 30), T1), "UTC")["messages"].reverse()
    assert latest(frame, "messages") is frame
    doubled = pl.concat([frame, frame.with_columns(status=pl.lit("x"))])
    assert latest(doubled, "messages")["status"].unique().to_list() == ["x"]


def test_rebuild_in_small_chunks_gives_the_tables_of_one_chunk(tmp_path, monkeypatch):
    import bsg_analytics.rebuild as tp
    from bsg_analytics.raw import RawStore
    from bsg_analytics.rebuild import rebuild

    data_dir = DataDir(tmp_path / "d")
    store = RawStore(data_dir)
    for pages in scenario():
        for p in pages:
            store.write(p)
    results = {}
    for chunk_bytes in (2**30, 1):  # everything at once; a page at a time
        monkeypatch.setattr(tp, "REBUILD_CHUNK_BYTES", chunk_bytes)
        rebuild(data_dir, "Europe/Kyiv")
        results[chunk_bytes] = {t: read_table(data_dir, t) for t in TABLES if t != "quarantine"}
    for table, frame in results[2**30].items():
        assert results[1][table].equals(frame), table
    assert results[1]["messages"].height == 180
