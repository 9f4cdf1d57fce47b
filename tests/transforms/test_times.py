"""Account-zone wall times -> UTC, including both daylight-saving edges."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from bsg_analytics.batch import transform_pages
from bsg_analytics.transforms.common import local_to_utc_python, parse_times
from tests.transforms.transform_helpers import message, messages_page


def utc(*a):
    return datetime(*a, tzinfo=UTC)


@pytest.mark.parametrize(
    ("zone", "local", "expected"),
    [
        ("UTC", "2024-03-31 02:30:00", utc(2024, 3, 31, 2, 30)),
        ("Europe/Kyiv", "2024-07-01 12:00:00", utc(2024, 7, 1, 9, 0)),  # summer, +3
        ("Europe/Kyiv", "2024-01-01 00:30:00", utc(2023, 12, 31, 22, 30)),  # winter, +2
        # spring forward in Berlin: 02:00 -> 03:00 on 2024-03-31; 02:30 does not exist and is
        # shifted forward by the gap (read with the +1 offset in force before: 01:30 UTC)
        ("Europe/Berlin", "2024-03-31 02:30:00", utc(2024, 3, 31, 1, 30)),
        # fall back: 02:30 happens twice on 2024-10-27; the earlier (still +2) wins
        ("Europe/Berlin", "2024-10-27 02:30:00", utc(2024, 10, 27, 0, 30)),
        ("America/New_York", "2024-11-03 01:30:00", utc(2024, 11, 3, 5, 30)),  # ambiguous
        ("America/New_York", "2024-03-10 02:15:00", utc(2024, 3, 10, 7, 15)),  # gap
        ("Asia/Kolkata", "2024-03-10 05:30:00", utc(2024, 3, 10, 0, 0)),
        ("Australia/Lord_Howe", "2024-10-06 02:15:00", utc(2024, 10, 5, 15, 45)),  # 30 min gap
    ],
)
def test_wall_time_to_utc(zone, local, expected):
    df = pl.DataFrame({"t": [local, None, ""]})
    out = parse_times(df, {"ts": "t"}, ZoneInfo(zone))
    assert out["ts"].dtype == pl.Datetime("us", "UTC")
    assert out["ts"].to_list() == [expected, None, None]
    # the same rule as Python's zoneinfo with fold=0
    naive = datetime.strptime(local, "%Y-%m-%d %H:%M:%S")
    assert local_to_utc_python(naive, ZoneInfo(zone)).replace(tzinfo=UTC) == expected


def test_created_date_is_the_utc_date_in_a_non_utc_zone():
    batch = transform_pages(
        [messages_page([message(id=1, created_at="2024-06-01 01:00:00")])], "Asia/Tokyo"
    )
    row = batch["messages"].row(0, named=True)
    assert row["created_at"] == utc(2024, 5, 31, 16, 0)
    assert str(row["created_date"]) == "2024-05-31"


def test_zone_as_zoneinfo_or_string_gives_the_same_rows():
    pages = [messages_page([message(id=1)])]
    a = transform_pages(pages, ZoneInfo("America/Sao_Paulo"))["messages"]
    b = transform_pages(pages, "America/Sao_Paulo")["messages"]
    assert a.equals(b)
