"""Jaffle-style data tests over the views: keys unique and not null fail; a value nobody
published (channel, status, source, route, kind) is reported with its rows, which are kept."""

from __future__ import annotations

import pytest

from bsg_analytics.schemas import statuses
from bsg_analytics.schemas.tables import TABLES
from bsg_analytics.settings import Settings
from bsg_analytics.status import run_status_command
from bsg_analytics.storage import DataDir
from bsg_analytics.warehouse import (
    ACCEPTED_VALUES,
    ContractReport,
    UnpublishedValue,
    check_contract,
    contract_checks,
    contract_report,
    query,
    unpublished_value_checks,
    unpublished_values,
)
from tests.warehouse import wh_fixtures


@pytest.mark.parametrize("name", sorted(contract_checks()))
def test_fixture_passes_each_contract_check(fixture_data, name):
    assert query(fixture_data, contract_checks()[name]).num_rows == 0


def test_the_fixtures_hold_only_published_values(fixture_data, fallback_data):
    assert unpublished_values(fixture_data) == []
    assert unpublished_values(fallback_data) == []
    assert contract_report(fallback_data) == ContractReport({}, [])


def test_failing_checks_are_the_keys_of_every_keyed_table():
    keyed = [t.name for t in TABLES.values() if t.key]
    assert "legacy_viber" in keyed
    assert set(contract_checks()) == {
        f"{kind}_{name}_key" for name in keyed for kind in ("unique", "not_null")
    }


def test_every_published_value_is_accepted():
    accepted = {(t, c): values for t, c, values in ACCEPTED_VALUES}
    assert accepted == {
        ("messages", "status"): statuses.KNOWN_MESSAGE_STATUSES,
        ("messages", "channel"): frozenset(statuses.CHANNELS),
        ("messages", "source"): frozenset(statuses.SOURCES),
        ("messages", "fallback_channel"): frozenset(statuses.FALLBACK_CHANNELS),
        ("campaigns", "channel"): frozenset(statuses.CHANNELS),
        ("campaigns", "status"): frozenset(statuses.CAMPAIGN_STATUSES),
        ("campaign_statistics", "route"): frozenset(statuses.ROUTES),
        ("campaign_statistics", "status"): statuses.KNOWN_MESSAGE_STATUSES,
        ("rcs_suggestions", "kind"): frozenset(statuses.SUGGESTION_KINDS),
        ("legacy_sms", "status"): frozenset(statuses.LEGACY_SMS_STATUSES),
        ("legacy_viber", "status"): frozenset(statuses.LEGACY_VIBER_STATUSES),
    }
    assert set(unpublished_value_checks()) == set(accepted)
    for table, column in accepted:
        assert column in TABLES[table].schema, (table, column)


def test_rows_with_every_published_value_report_nothing(tmp_path):
    """Every channel, source, message status and fallback channel; every legacy SMS and Viber
    status; every campaign status and route; every suggestion kind."""
    root = tmp_path / "published"
    n = max(len(statuses.MESSAGE_STATUSES), len(statuses.SOURCES))
    wh_fixtures.write_table(root, "messages", [
        wh_fixtures.message(
            i, channel=statuses.CHANNELS[i % len(statuses.CHANNELS)],
            source=statuses.SOURCES[i % len(statuses.SOURCES)],
            status=statuses.MESSAGE_STATUSES[i % len(statuses.MESSAGE_STATUSES)],
            fallback_channel=(None, *statuses.FALLBACK_CHANNELS)[i % 3],
            sent_at="2026-03-01 10:00:00",
        )
        for i in range(n)
    ])  # fmt: skip
    wh_fixtures.write_table(root, "campaigns", [
        {"campaign_id": i, "channel": statuses.CHANNELS[i % 5], "status": s,
         "created_at": wh_fixtures.ts("2026-03-01 09:00:00")}
        for i, s in enumerate(statuses.CAMPAIGN_STATUSES)
    ])  # fmt: skip
    wh_fixtures.write_table(root, "campaign_statistics", [
        {"campaign_id": 1, "route": r, "status": s, "messages": 1}
        for r in statuses.ROUTES for s in statuses.CAMPAIGN_STATISTIC_STATUSES
    ])  # fmt: skip
    wh_fixtures.write_table(root, "rcs_suggestions", [
        {"message_id": 1, "card_index": 0, "suggestion_index": i, "kind": k,
         "created_date": wh_fixtures.ts("2026-03-01 00:00:00").date()}
        for i, k in enumerate(statuses.SUGGESTION_KINDS)
    ])  # fmt: skip
    for table, values in (
        ("legacy_sms", statuses.LEGACY_SMS_STATUSES),
        ("legacy_viber", statuses.LEGACY_VIBER_STATUSES),
    ):
        wh_fixtures.write_table(
            root, table, [{"message_id": i, "status": s} for i, s in enumerate(values)]
        )
    assert unpublished_values(DataDir(root)) == []
    assert check_contract(DataDir(root)) == {}


@pytest.fixture
def broken(tmp_path) -> DataDir:
    root = tmp_path / "bad"
    wh_fixtures.write_table(root, "messages", [
        wh_fixtures.message(1, channel="sms", status="delivered", sent_at="2026-03-01 10:00:00"),
        wh_fixtures.message(1, channel="sms", status="delivered", sent_at="2026-03-01 11:00:00"),
        wh_fixtures.message(2, channel="fax", status="teleported", sent_at="2026-03-01 10:00:00"),
        wh_fixtures.message(3, channel="fax", status="delivered", sent_at="2026-03-01 10:00:00",
                            fallback_channel="telegram"),
    ])  # fmt: skip
    wh_fixtures.write_table(root, "campaign_statistics", [
        {"campaign_id": 1, "route": "carrier_pigeon", "status": "sent", "messages": 1},
        {"campaign_id": None, "route": "primary", "status": "sent", "messages": 1},
    ])  # fmt: skip
    wh_fixtures.write_table(root, "legacy_viber", [
        {"message_id": 10, "status": "not_viber_user"},
        {"message_id": 11, "status": "evaporated\x1b[31m"},
    ])  # fmt: skip
    return DataDir(root)


@pytest.mark.slow  # the default pass keeps test_unpublished_values_only_are_no_failure
def test_keys_fail_and_unpublished_values_are_reported(broken):
    assert check_contract(broken) == {
        "unique_messages_key": 1,
        "not_null_campaign_statistics_key": 1,
    }
    report = contract_report(broken)
    assert report.failures == check_contract(broken) and not report.ok
    assert report.unpublished == [
        UnpublishedValue("messages", "status", "teleported", 1),
        UnpublishedValue("messages", "channel", "fax", 2),
        UnpublishedValue("messages", "fallback_channel", "telegram", 1),
        UnpublishedValue("campaign_statistics", "route", "carrier_pigeon", 1),
        UnpublishedValue("legacy_viber", "status", "evaporated\x1b[31m", 1),
    ]
    # the rows are kept: the views still hold them
    assert query(broken, "SELECT count(*) AS n FROM messages").to_pylist() == [{"n": 4}]


def test_unpublished_values_only_are_no_failure(tmp_path):
    root = tmp_path / "odd"
    wh_fixtures.write_table(root, "messages", [
        wh_fixtures.message(1, channel="telex", status="delivered", sent_at="2026-03-01 10:00:00"),
    ])  # fmt: skip
    report = contract_report(DataDir(root))
    assert report.ok and report.failures == {}
    assert report.unpublished == [UnpublishedValue("messages", "channel", "telex", 1)]


def test_unpublished_values_write_nothing(broken):
    unpublished_values(broken)
    assert not broken.warehouse_path.exists()


def test_one_line_each_in_status(broken, capsys):
    assert run_status_command(Settings(data_dir=str(broken.root)), data_dir=broken) == 0
    out = capsys.readouterr().out.splitlines()
    lines = [line for line in out if "a value the provider does not publish" in line]
    assert lines == [
        "unpublished:  messages.status = 'teleported': 1 row kept"
        " (a value the provider does not publish)",
        "              messages.channel = 'fax': 2 rows kept"
        " (a value the provider does not publish)",
        "              messages.fallback_channel = 'telegram': 1 row kept"
        " (a value the provider does not publish)",
        "              campaign_statistics.route = 'carrier_pigeon': 1 row kept"
        " (a value the provider does not publish)",
        # a control character never reaches the terminal
        "              legacy_viber.status = 'evaporated\\x1b[31m': 1 row kept"
        " (a value the provider does not publish)",
    ]
    assert "\x1b" not in "\n".join(out)


def test_status_json_carries_the_report(broken, capsys):
    import json

    assert run_status_command(Settings(data_dir=str(broken.root)), True, data_dir=broken) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["unpublished_values"][1] == {
        "table": "messages",
        "column": "channel",
        "value": "fax",
        "rows": 2,
    }


def test_status_without_unpublished_values_says_nothing_of_them(fixture_data, capsys):
    assert run_status_command(Settings(data_dir=str(fixture_data.root)), data_dir=fixture_data) == 0
    assert "unpublished" not in capsys.readouterr().out
