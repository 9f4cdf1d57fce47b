"""The report over all five channels and both fallback channels: one colour per channel in
every chart, the fallback table, the RCS section's fallback counts."""

from __future__ import annotations

import pytest

from bsg_analytics.report import (
    CHANNEL_COLOURS,
    SPARE_COLOURS,
    _collect,
    _delivery_chart,
    _latency_chart,
    write_report,
)
from bsg_analytics.schemas.statuses import CHANNELS
from bsg_analytics.storage import DataDir
from bsg_analytics.warehouse import connect
from tests.warehouse import wh_fixtures


@pytest.fixture(scope="module")
def fallback_dir(tmp_path_factory) -> DataDir:
    root = tmp_path_factory.mktemp("channels") / "data"
    wh_fixtures.write_fallback_fixture(root)
    # latencies for a few channels, so the latency chart has several
    wh_fixtures.write_table(
        root,
        "messages",
        [
            wh_fixtures.message(
                900 + i, channel=ch, sender="L", status="delivered",
                sent_at="2026-03-04 10:00:00", delivered_at=f"2026-03-04 10:00:{10 + i:02d}",
            )
            for i, ch in enumerate(CHANNELS)
        ],
    )  # fmt: skip
    return DataDir(root)


@pytest.fixture(scope="module")
def data(fallback_dir):
    con = connect(fallback_dir)
    try:
        return _collect(con)
    finally:
        con.close()


def test_every_published_channel_has_its_own_colour():
    assert set(CHANNEL_COLOURS) == set(CHANNELS)
    assert len(set(CHANNEL_COLOURS.values())) == len(CHANNELS)
    assert not set(SPARE_COLOURS) & set(CHANNEL_COLOURS.values())


def test_delivery_chart_one_trace_and_colour_per_channel(data):
    fig = _delivery_chart(data)
    assert fig is not None
    traces = [(t["name"], t["line"]["color"], t["marker"]["color"]) for t in fig["data"]]
    assert traces == [(ch, CHANNEL_COLOURS[ch], CHANNEL_COLOURS[ch]) for ch in sorted(CHANNELS)]


def test_latency_chart_a_channel_keeps_its_colour_in_its_line_and_band(data):
    """Per channel: the p90 edge (no line, no legend entry), then the p50 line that fills up
    to it; one colour for both."""
    fig = _latency_chart(data)
    assert fig is not None
    by_channel: dict[str, list[tuple[str, float | None, str | None]]] = {}
    for t in fig["data"]:
        entry = (t["line"]["color"], t["line"].get("width"), t.get("fill"))
        by_channel.setdefault(t["legendgroup"], []).append(entry)
    assert by_channel == {
        ch: [(CHANNEL_COLOURS[ch], 0, None), (CHANNEL_COLOURS[ch], 2, "tonexty")] for ch in CHANNELS
    }
    assert fig["layout"]["yaxis"]["type"] == "log" and fig["layout"]["yaxis"]["dtick"] == 1


def test_a_channel_nobody_published_gets_a_spare_colour():
    rows = [
        {"day": d, "channel": ch, "delivery_rate": 0.5}
        for d in (wh_fixtures.ts("2026-03-01 00:00:00").date(),)
        for ch in ("sms", "telex", "fax")
    ]
    fig = _delivery_chart({"delivery": rows})
    assert fig is not None
    colours = {t["name"]: t["line"]["color"] for t in fig["data"]}
    assert colours == {
        "sms": CHANNEL_COLOURS["sms"],
        "telex": SPARE_COLOURS[0],
        "fax": SPARE_COLOURS[1],
    }


def test_fallback_table_by_channel_and_fallback_channel(data):
    assert [tuple(r.values()) for r in data["fallbacks"]] == [
        # channel, fallback_channel, messages, fell_back, found, delivered, rate
        ("rcs", "sms", 2, 2, 2, 2, 1.0),
        ("rcs", "viber", 3, 2, 2, 1, 0.5),
        ("sms", "viber", 1, 1, 1, 1, 1.0),
        ("viber", "sms", 2, 2, 1, 1, 0.5),
    ]


def test_rcs_section_counts_fallbacks_to_both_channels(data):
    assert data["rcs"] == [
        {
            "sender": "AcmeBot",
            "delivered": 2,
            "read": 0,
            "read_rate": 0.0,
            "fell_back": 4,
            "fallback_delivered": 3,
        },
        {
            "sender": "L",
            "delivered": 1,
            "read": 0,
            "read_rate": 0.0,
            "fell_back": 0,
            "fallback_delivered": 0,
        },
    ]


def test_report_renders_every_channel(fallback_dir):
    text = write_report(fallback_dir).read_text(encoding="utf-8")
    for title in ("RCS: read rate and fallback", "Fallbacks: by channel and fallback channel"):
        assert title in text
    for ch in CHANNELS:
        assert f'<div class="card" data-channel="{ch}">{ch} delivery rate' in text
    assert "<td>viber</td><td>sms</td>" in text
