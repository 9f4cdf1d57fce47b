"""Open the report in headless Chromium and check the screenshot is not blank (slow)."""

from __future__ import annotations

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
