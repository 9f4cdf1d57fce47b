import itertools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bsg_client.windows import (
    SAFETY_MARGIN,
    Window,
    add_months,
    parse_api_time,
    split_windows,
)

NOW = datetime(2026, 11, 20, 15, 30, 45, 123456, tzinfo=UTC)


def assert_contiguous(windows, start, end):
    assert windows[0].start == start
    assert windows[-1].end == end
    for a, b in itertools.pairwise(windows):
        assert a.end == b.start
        # the inclusive API strings: to = next from - 1 s, never the same second twice
        zone = a.zone
        assert parse_api_time(a.api_to, zone) + timedelta(seconds=1) == parse_api_time(
            b.api_from, zone
        )


def test_seven_months_into_three_month_windows():
    since, until = date(2026, 1, 1), date(2026, 8, 1)
    windows = split_windows(since, until, 92, "UTC", NOW)
    assert_contiguous(windows, datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 8, 1, tzinfo=UTC))
    assert len(windows) == 3
    for w in windows:
        # never more than 3 calendar months
        local = w.start.astimezone(w.zone)
        assert w.end <= datetime.combine(add_months(local.date(), 3), local.time(), tzinfo=UTC)
        assert w.end - w.start <= timedelta(days=92)
    assert windows[0].api_from == "2026-01-01 00:00:00"
    assert windows[0].api_to == "2026-03-31 23:59:59"  # Jan+Feb+Mar: capped at 3 months


def test_seven_months_into_seven_day_windows():
    windows = split_windows(date(2026, 1, 1), date(2026, 8, 1), 7, "UTC", NOW)
    assert len(windows) == 31  # 212 days = 30 full weeks + 2 days
    assert all(w.end - w.start <= timedelta(days=7) for w in windows)
    assert_contiguous(windows, datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 8, 1, tzinfo=UTC))
    keys = [w.key for w in windows]
    assert len(set(keys)) == len(keys)
    assert keys == [w.key for w in split_windows(date(2026, 1, 1), date(2026, 8, 1), 7, "UTC", NOW)]
    assert keys[0] == "20260101T000000Z..20260108T000000Z"


def test_dst_zone_boundaries_on_local_midnights():
    zone = ZoneInfo("Europe/Berlin")
    windows = split_windows(date(2026, 3, 20), date(2026, 4, 10), 7, zone, NOW)
    assert [w.api_from for w in windows] == [
        "2026-03-20 00:00:00",
        "2026-03-27 00:00:00",
        "2026-04-03 00:00:00",
    ]
    assert windows[0].api_to == "2026-03-26 23:59:59"
    # the week with the spring-forward change (29 March) is an hour short
    assert windows[1].end - windows[1].start == timedelta(days=7, hours=-1)
    assert windows[0].start == datetime(2026, 3, 19, 23, tzinfo=UTC)
    assert windows[2].start == datetime(2026, 4, 2, 22, tzinfo=UTC)
    assert_contiguous(windows, windows[0].start, windows[-1].end)
    # autumn: the week holding the repeated hour is an hour long
    autumn = split_windows(date(2026, 10, 22), date(2026, 10, 29), 7, zone, NOW)
    assert len(autumn) == 1 and autumn[0].end - autumn[0].start == timedelta(days=7, hours=1)
    assert autumn[0].api_to == "2026-10-28 23:59:59"


def test_first_window_starts_mid_day_then_aligns():
    zone = ZoneInfo("America/New_York")
    since = datetime(2026, 5, 3, 14, 0, 0)  # naive = local wall time
    windows = split_windows(since, date(2026, 5, 20), 7, zone, NOW)
    assert windows[0].api_from == "2026-05-03 14:00:00"
    assert windows[0].api_to == "2026-05-09 23:59:59"
    assert windows[1].api_from == "2026-05-10 00:00:00"


def test_never_in_the_future():
    windows = split_windows(date(2026, 11, 1), date(2027, 1, 1), 7, "UTC", NOW)
    assert windows[-1].end == (NOW - SAFETY_MARGIN).replace(microsecond=0)
    assert all(w.end <= NOW for w in windows)
    assert windows[-1].api_to < NOW.strftime("%Y-%m-%d %H:%M:%S")
    assert split_windows(date(2026, 11, 1), None, 7, "UTC", NOW)[-1].end == windows[-1].end


def test_empty_and_bad_ranges():
    assert split_windows(date(2026, 5, 1), date(2026, 5, 1), 7, "UTC", NOW) == []
    assert split_windows(date(2026, 5, 2), date(2026, 5, 1), 7, "UTC", NOW) == []
    with pytest.raises(ValueError):
        split_windows(date(2026, 5, 1), date(2026, 6, 1), 0, "UTC", NOW)


def test_boundary_second_in_exactly_one_window():
    windows = split_windows(date(2026, 1, 1), date(2026, 2, 1), 7, "UTC", NOW)
    for stamp in ["2026-01-08 00:00:00", "2026-01-07 23:59:59", "2026-01-01 00:00:00"]:
        hits = [w for w in windows if w.api_from <= stamp <= w.api_to]
        assert len(hits) == 1, stamp


def test_window_round_trip():
    w = split_windows(date(2026, 1, 1), date(2026, 1, 8), 7, "Asia/Kolkata", NOW)[0]
    assert Window.from_dict(w.to_dict()) == w
    assert w.params() == {
        "filter[from]": "2026-01-01 00:00:00",
        "filter[to]": "2026-01-07 23:59:59",
    }
