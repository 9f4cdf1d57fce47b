"""End-to-end helpers: settings pointing at a simulator, table readers, ground-truth checks."""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from bsg_analytics.settings import load_settings
from bsg_analytics.storage import DataDir
from bsg_simulator.testing import TEST_NOW

# Columns the simulator's ground truth and the messages table share, compared exactly.
# (`country`/`parts` are left out: a quirk may hide them from the API, not from the truth.)
MESSAGE_COLUMNS = [
    "message_id",
    "campaign_id",
    "reference_id",
    "channel",
    "source",
    "sender",
    "phone",
    "text",
    "validity_hours",
    "status",
    "created_at",
    "sent_at",
    "delivered_at",
    "amount_value",
    "amount_currency",
    "fallback_sms_parts",
    "fallback_sms_ids",
    "created_date",
]
CAMPAIGN_COLUMNS = [
    "campaign_id",
    "name",
    "sender",
    "channel",
    "status",
    "is_final",
    "created_at",
    "total_messages",
    "total_price",
    "currency",
    "list_delivered",
    "list_sent",
    "created_month",
]
SINCE = (TEST_NOW - timedelta(days=7 * 30 + 2)).date()


def settings_for(data_dir, **overrides):
    values = {
        "api_url": "http://bsg.test",
        "rest_url": "http://bsg.test",
        "api_token": "test-token-123",
        "api_key": "test_key_456",
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


def read_table(data_dir, name: str) -> pl.DataFrame:
    dd = data_dir if isinstance(data_dir, DataDir) else DataDir(data_dir)
    files = dd.glob(dd.path("parquet", name, "**", "*.parquet"))
    if not files:
        return pl.DataFrame()
    return pl.read_parquet(files, hive_partitioning=True, missing_columns="insert")


def assert_messages_match(data_dir, sim, now) -> pl.DataFrame:
    got = read_table(data_dir, "messages")
    truth = sim.ground_truth_messages(now)
    assert got["message_id"].n_unique() == got.height, "a message landed twice"
    assert got.height == truth.height
    left = got.select(MESSAGE_COLUMNS).sort("message_id")
    right = truth.select(MESSAGE_COLUMNS).sort("message_id")
    from polars.testing import assert_frame_equal

    assert_frame_equal(left, right, check_dtypes=True)
    return got


def assert_campaigns_match(data_dir, sim, now) -> None:
    from polars.testing import assert_frame_equal

    got = read_table(data_dir, "campaigns").select(CAMPAIGN_COLUMNS).sort("campaign_id")
    truth = sim.ground_truth_campaigns(now).select(CAMPAIGN_COLUMNS).sort("campaign_id")
    assert_frame_equal(got, truth, check_dtypes=True)
