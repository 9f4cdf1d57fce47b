"""Jaffle-style data tests over the views: unique keys, not-null keys, accepted values."""

from __future__ import annotations

import pytest

from bsg_analytics.storage import DataDir
from bsg_analytics.warehouse import check_contract, contract_checks, query
from tests.warehouse import wh_fixtures


@pytest.mark.parametrize("name", sorted(contract_checks()))
def test_fixture_passes_each_contract_check(fixture_data, name):
    assert query(fixture_data, contract_checks()[name]).num_rows == 0


def test_checks_cover_every_keyed_table_and_the_named_sets():
    names = set(contract_checks())
    assert {"unique_messages_key", "not_null_campaign_statistics_key"} <= names
    assert {
        "accepted_values_messages_status",
        "accepted_values_messages_channel",
        "accepted_values_campaign_statistics_route",
    } <= names


def test_checks_catch_broken_rows(tmp_path):
    root = tmp_path / "bad"
    bad = [
        wh_fixtures.message(1, channel="sms", status="delivered", sent_at="2026-03-01 10:00:00"),
        wh_fixtures.message(1, channel="sms", status="delivered", sent_at="2026-03-01 11:00:00"),
        wh_fixtures.message(2, channel="fax", status="teleported", sent_at="2026-03-01 10:00:00"),
    ]
    wh_fixtures.write_table(root, "messages", bad)
    wh_fixtures.write_table(root, "campaign_statistics", [
        {"campaign_id": 1, "route": "carrier_pigeon", "status": "sent", "messages": 1},
        {"campaign_id": None, "route": "primary", "status": "sent", "messages": 1},
    ])  # fmt: skip
    failures = check_contract(DataDir(root))
    assert failures == {
        "unique_messages_key": 1,
        "accepted_values_messages_status": 1,
        "accepted_values_messages_channel": 1,
        "not_null_campaign_statistics_key": 1,
        "accepted_values_campaign_statistics_route": 1,
    }
