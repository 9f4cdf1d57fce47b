"""Open the report in headless Chromium and check the screenshot is not blank (slow)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import struct
import subprocess
import zlib
from collections import Counter
from pathlib import Path

import pytest

from bsg_analytics.report import write_report
from bsg_analytics.storage import DataDir
from tests.warehouse import wh_fixtures

pytestmark = pytest.mark.slow

FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def find_chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        if path := shutil.which(name):
            return path
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("chromium is not installed and installing it needs root")
    try:
        done = subprocess.run(
            ["apt-get", "install", "-y", "chromium"], capture_output=True, text=True, timeout=600
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"chromium is not installed and apt-get failed: {exc}")
    if path := shutil.which("chromium"):
        return path
    tail = " ".join((done.stderr or done.stdout).split())[-200:]
    pytest.skip(f"chromium is not installed and `apt-get install -y chromium` failed: {tail}")


def png_rows(data: bytes) -> tuple[int, int, bytes]:
    """Width, height and the decompressed (still filtered) scanlines of a PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height = 8, [], 0, 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat.append(body)
        pos += 12 + length
    return width, height, zlib.decompress(b"".join(idat))


def test_report_renders_in_headless_chromium(tmp_path):
    chromium = find_chromium()
    root = tmp_path / "data"
    wh_fixtures.write_fixture(root)
    report = write_report(DataDir(root))
    shot = tmp_path / "shot.png"
    subprocess.run(
        [chromium, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
         "--window-size=1280,2000", report.as_uri()],
        capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    assert shot.exists(), "chromium wrote no screenshot"
    width, height, raw = png_rows(shot.read_bytes())
    assert (width, height) == (1280, 2000)
    # a blank page is one colour: its (filtered) bytes are nearly all one value
    counts = Counter(raw)
    most_common_share = counts.most_common(1)[0][1] / len(raw)
    assert len(counts) > 50 and most_common_share < 0.99, (len(counts), most_common_share)


def test_png_decoder_sees_a_blank_image_as_blank(tmp_path):
    rows = b"".join(b"\x00" + b"\xff" * (4 * 3) for _ in range(4))
    chunk = lambda kind, body: (  # noqa: E731
        struct.pack(">I", len(body)) + kind + body
        + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    )  # fmt: skip
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))  # fmt: skip
    assert png_rows(png)[:2] == (4, 4)
    assert len(Counter(png_rows(png)[2])) == 2
    Path(tmp_path / "b.png").write_bytes(png)


def dump_dom(chromium: str, page: str, profile: Path) -> str:
    """The page's DOM once its scripts ran (what a user's browser shows)."""
    done = subprocess.run(
        [chromium, *FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=8000",
         "--dump-dom", page],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert "<body" in done.stdout, done.stderr[-500:]
    return done.stdout


def shown(dom: str) -> dict:
    """What the filters left visible: <body data-shown>, written by the page's script."""
    import html
    import json
    import re

    found = re.search(r'<body[^>]*data-shown="([^"]*)"', dom)
    assert found, "the filter script did not run"
    return json.loads(html.unescape(found.group(1)))


def test_each_chart_draws_its_traces_and_each_filter_changes_what_is_shown(tmp_path):
    """In a real browser, offline: every chart has its traces in the DOM; unticking a channel
    hides its traces, its card and its rows; a date range narrows every date axis; a sender
    leaves only its rows (the filters set from the address, as a user's link would)."""
    import re

    chromium = find_chromium()
    root = tmp_path / "data"
    wh_fixtures.write_fixture(root)
    page = write_report(DataDir(root)).as_uri()
    dom = dump_dom(chromium, page, tmp_path / "p0")
    charts = re.findall(r'<div class="chart[^"]*" id="(chart-\d+)"', dom)
    assert len(charts) == 5, charts
    for chart_id in charts:
        block = dom[dom.index(f'id="{chart_id}"') :]
        block = block[
            : block.find('<div class="chart', 10) if '<div class="chart' in block[10:] else None
        ]
        assert re.search(r'class="trace[ "]', block), f"{chart_id} drew no trace"
    everything = shown(dom)
    assert everything["charts"]["chart-0"] == 2 and everything["hidden_rows"] == 0
    assert everything["rows"] > 10

    only_sms = shown(dump_dom(chromium, page + "#channel=sms", tmp_path / "p1"))
    assert only_sms["charts"]["chart-0"] == 1  # the delivery chart: sms, not rcs
    assert only_sms["hidden_rows"] > 0 and only_sms["rows"] < everything["rows"]
    dom = dump_dom(chromium, page + "#channel=sms", tmp_path / "p2")
    assert re.search(r'data-channel="rcs" style="display: none;"', dom)

    one_day = shown(dump_dom(chromium, page + "#from=2026-03-02&to=2026-03-02", tmp_path / "p3"))
    assert one_day["ranges"]["chart-0"][0].startswith("2026-03-02")
    assert everything["ranges"]["chart-0"][0] < "2026-03-02"

    acme = shown(dump_dom(chromium, page + "#sender=Acme", tmp_path / "p4"))
    assert 0 < acme["rows"] < everything["rows"]


def test_screenshot_for_the_docs(tmp_path):
    """The report of a backfill from the simulator (20k messages, its fixed clock), as a
    browser shows it; `UPDATE_DOCS_SCREENSHOT=1` copies the picture to docs/report.png."""
    from bsg_analytics.pipeline import run_sync
    from bsg_analytics.settings import load_settings
    from bsg_analytics.warehouse import build_warehouse
    from bsg_simulator.testing import TEST_NOW, inprocess_transport, make_simulator

    chromium = find_chromium()
    sim = make_simulator(messages=20_000, seed=7, days=60, collapses=3)
    settings = load_settings(
        api_url="http://bsg.test", rest_url="http://bsg.test", api_token="t", api_key="test_k",
        data_dir=str(tmp_path / "data"),
    )  # fmt: skip
    transport = inprocess_transport(sim)
    try:
        run_sync(settings, (TEST_NOW - dt.timedelta(days=60)).date(), transport=transport,
                 now=TEST_NOW, finish=build_warehouse)  # fmt: skip
    finally:
        transport.close()
    report = write_report(DataDir(tmp_path / "data"), today=TEST_NOW.date())
    shot = tmp_path / "report.png"
    subprocess.run(
        [chromium, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
         "--window-size=1280,2600", "--virtual-time-budget=8000", report.as_uri()],
        capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    width, height, raw = png_rows(shot.read_bytes())
    assert (width, height) == (1280, 2600)
    assert len(Counter(raw)) > 50
    if os.environ.get("UPDATE_DOCS_SCREENSHOT") == "1":
        docs = Path(__file__).resolve().parents[2] / "docs" / "report.png"
        shutil.copyfile(shot, docs)
