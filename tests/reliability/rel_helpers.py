"""Helpers of the reliability suite: settings with distinctive secrets, table snapshots,
invariant checks (readable partitions, state never ahead of the data) and a secret scanner."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path

import polars as pl
from polars.testing import assert_frame_equal

from bsg_analytics.raw import DECODE_ERRORS, codec_of, decompress
from bsg_analytics.schemas.tables import TABLES
from bsg_analytics.settings import load_settings
from bsg_simulator.testing import TEST_NOW

# Figures the tests measured (faults injected, kills, examples...), printed at the end of the
# session by the conftest's terminal summary.
FIGURES: dict[str, object] = {}

# Distinctive secrets: any appearance of these anywhere is a leak.
TOKEN = "tok-SECRET-rel-9d41c7e2"
API_KEY = "test_SECRET_rel_key_5b2e80"
LOGIN_KEY = "live_SECRET_rel_login_c3a1"
SECRETS = (TOKEN, API_KEY, LOGIN_KEY)

SINCE = (TEST_NOW - timedelta(days=7 * 30 + 2)).date()
# the tables a sync writes (legacy tables come from run_legacy, quarantine has no key)
SYNC_TABLES = ("messages", "rcs_cards", "rcs_suggestions", "campaigns", "campaign_statistics")


def settings_for(data_dir, **overrides):
    values = {
        "api_url": "http://bsg.test",
        "rest_url": "http://bsg.test",
        "api_token": TOKEN,
        "api_key": API_KEY,
        "data_dir": str(data_dir),
        "window_days": 31,
        "concurrency": 4,
        "max_retries": 12,
        "backoff_max_seconds": 0.05,
        # the statistics export is a stream of its own, asked for where a test reads it
        # (tests/pipeline/test_exports_sync.py): the others read messages and campaigns
        "export_costs": False,
    }
    values.update(overrides)
    return load_settings(**values)


def parquet_files(data_dir) -> list[Path]:
    return sorted(Path(data_dir, "parquet").rglob("*.parquet"))


def read_table(data_dir, name: str) -> pl.DataFrame:
    """Every file of a table, each read on its own (a torn file fails here)."""
    files = sorted(Path(data_dir, "parquet", name).rglob("*.parquet"))
    if not files:
        return TABLES[name].empty()
    return pl.concat([pl.read_parquet(f) for f in files], how="vertical")


def snapshot(data_dir, tables: Iterable[str] = SYNC_TABLES) -> dict[str, pl.DataFrame]:
    """Each table without its *extracted_at columns, sorted by key."""
    out = {}
    for name in tables:
        df = read_table(data_dir, name).select(pl.exclude("^.*extracted_at$"))
        out[name] = df.sort(list(TABLES[name].key))
    return out


def assert_same_tables(got: dict[str, pl.DataFrame], want: dict[str, pl.DataFrame]) -> None:
    for name, expected in want.items():
        actual = got[name]
        key = list(TABLES[name].key)
        assert actual.select(key).is_duplicated().sum() == 0, f"{name}: duplicate keys"
        assert actual.height == expected.height, f"{name}: {actual.height} != {expected.height}"
        assert_frame_equal(actual, expected, check_dtypes=True)


def all_files(root) -> list[Path]:
    return sorted(p for p in Path(root).rglob("*") if p.is_file())


def file_text(path: Path) -> str:
    data = path.read_bytes()
    codec = codec_of(path.name)
    if codec is not None:
        data = decompress(data, codec)
    return data.decode("utf-8", "replace")


def leaks_in_files(root, secrets: Iterable[str] = SECRETS) -> list[str]:
    """Files under `root` (raw bodies decompressed, zstd or gzip; parquet and duckdb as raw
    bytes) that hold a secret."""
    found = []
    for path in all_files(root):
        raw = path.read_bytes()
        texts = [raw]
        codec = codec_of(path.name)
        if codec is not None:
            with contextlib.suppress(OSError, *DECODE_ERRORS):
                texts.append(decompress(raw, codec))
        for secret in secrets:
            needle = secret.encode()
            if any(needle in t for t in texts):
                found.append(f"{path}: {secret}")
    return found


def leaks_in_text(text: str, secrets: Iterable[str] = SECRETS) -> list[str]:
    return [s for s in secrets if s in text]


def assert_state_not_ahead(data_dir, truth_messages: pl.DataFrame, truth_campaigns) -> int:
    """After a run that failed or was killed (any clock): every Parquet file under
    D/parquet/<table>/ is readable, no key is there twice (messages, campaigns), and every
    job the checkpoint marks done has all its rows in the tables (the truth frames may be
    taken at any later moment: a window's rows were all created before it ended). Returns
    how many jobs the checkpoint marks done (0 when no run is unfinished)."""
    from bsg_analytics.state import SyncState
    from bsg_analytics.storage import DataDir

    root = Path(data_dir, "parquet")
    for path in parquet_files(data_dir):
        rel = path.relative_to(root).parts
        assert rel[0] in TABLES and rel[-1] == "data.parquet", f"stray file {path}"
        pl.read_parquet(path)  # a torn or half-written file raises here
    messages = read_table(data_dir, "messages")
    campaigns = read_table(data_dir, "campaigns")
    assert messages["message_id"].is_duplicated().sum() == 0, "a message is there twice"
    assert campaigns["campaign_id"].is_duplicated().sum() == 0, "a campaign is there twice"
    run = SyncState.load(DataDir(data_dir)).run
    if run is None:
        return 0
    have_m = set(messages["message_id"].to_list())
    have_c = set(campaigns["campaign_id"].to_list())
    windows = {w.key: w for w in [*run.windows, *run.campaign_windows]}
    for key in run.done:
        kind, *_rest, wkey = key.split("/")
        w = windows[wkey]
        truth = truth_messages if kind == "messages" else truth_campaigns
        inside = truth.filter((pl.col("created_at") >= w.start) & (pl.col("created_at") < w.end))
        if kind == "messages":
            missing = set(inside["message_id"].to_list()) - have_m
        else:
            inside = inside.filter(pl.col("channel") == key.split("/")[1])
            missing = set(inside["campaign_id"].to_list()) - have_c
        assert not missing, f"state marks {key} done but {len(missing)} rows are missing"
    return len(run.done)
