"""The statistics export -> `message_costs`, the balance -> `balance_history`: exact rows from
the provider's own examples, each broken contract quarantined with its reason, statuses
mapped (an unknown one kept and reported), times in the account's zone, latest export wins."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson

from bsg_analytics.transforms.balance import transform_balance
from bsg_analytics.transforms.common import TransformReport
from bsg_analytics.transforms.exports import transform_exports
from tests.transforms.transform_helpers import T0, page

PROVIDER = Path(__file__).parents[1] / "fixtures" / "provider"
KYIV = ZoneInfo("Europe/Kyiv")


def export_page(rows, *, fetched_at=T0, seq=0, **body):
    return page(
        "exports",
        {"error": 0, "status": "Done", "result": rows, **body},
        seq=seq,
        fetched_at=fetched_at,
        endpoint="/api/stat/jobs/0a1b2c3d4e5f607182",
    )


def row(message_id="3282296417", **fields):
    base = orjson.loads((PROVIDER / "stat_jobs_show__job_example.json").read_bytes())["result"][0]
    return {**base, "message_id": message_id, **fields}


def utc(*a):
    return datetime(*a, tzinfo=UTC)


def test_the_providers_example_in_the_accounts_zone():
    body = (PROVIDER / "stat_jobs_show__job_example.json").read_bytes()
    report = TransformReport()
    costs, quarantine = transform_exports(
        [page("exports", body, endpoint="/api/stat/jobs/k")], KYIV, report
    )
    assert quarantine == []
    assert costs.drop("extracted_at").to_dicts() == [
        {
            "message_id": 3282296417, "channel": "sms", "country_name": "Ukraine",
            "operator": "Vodafone", "mcc": "255", "mnc": "01", "originator": "testsms",
            "price": Decimal("0.0012836"), "currency": "EUR",
            # 2026-02-18 14:32:59 in Kyiv (UTC+2 in winter)
            "time_in": utc(2026, 2, 18, 12, 32, 59), "time_sent": utc(2026, 2, 18, 12, 33, 3),
            "time_dlr": utc(2026, 2, 18, 12, 33, 14), "status": "delivered",
            "export_status": "Delivered", "sl_clicks": None, "created_date": date(2026, 2, 18),
        },
        {
            "message_id": 3282296418, "channel": "sms", "country_name": "Poland",
            "operator": "Play", "mcc": "260", "mnc": "06", "originator": "testsms",
            "price": Decimal("0.1753820"), "currency": "EUR",
            "time_in": utc(2026, 2, 18, 12, 32, 59), "time_sent": utc(2026, 2, 18, 12, 33, 3),
            "time_dlr": utc(2026, 2, 18, 12, 33, 14), "status": "delivered",
            "export_status": "Delivered", "sl_clicks": None, "created_date": date(2026, 2, 18),
        },
    ]  # fmt: skip
    assert report.counts["exports"].as_dict() == {
        "records_in": 2, "rows_out": 2, "quarantined": 0, "duplicates": 0,
    }  # fmt: skip
    assert costs["extracted_at"].to_list() == [T0, T0]


def test_statuses_map_into_the_products_set_and_an_unknown_one_is_kept():
    rows = [
        row("1", status="Rejected"),
        row("2", status="Undelivered", time_dlr=None),
        row("3", status="Scheduled", time_sent=None, time_dlr=None),
        row("4", status="Bounced"),
    ]
    report = TransformReport()
    costs, quarantine = transform_exports([export_page(rows)], UTC, report)
    assert quarantine == []
    assert costs.select("message_id", "status", "export_status").rows() == [
        (1, "failed", "Rejected"),
        (2, "undelivered", "Undelivered"),
        (3, "scheduled", "Scheduled"),
        (4, "bounced", "Bounced"),
    ]
    assert costs["time_sent"].to_list()[2] is None
    assert report.unknown_statuses == {"message_costs": {"bounced": 1}}


def test_a_broken_record_goes_to_quarantine_with_its_reason():
    rows = [
        row("10"),
        row(None),
        row("1e3"),
        row("11", time_in=None),
        row("12", time_in="yesterday"),
        row("13", price="1,5"),
        row("14", sl_clicks="many"),
        row("15", time_dlr="2026-02-31 10:00:00"),
        "not an object",
        row("16", price=0.0012836, sl_clicks=3, extra_field="x"),
    ]
    report = TransformReport()
    costs, quarantine = transform_exports([export_page(rows)], UTC, report)
    assert costs["message_id"].to_list() == [10, 16]
    assert costs.filter(costs["message_id"] == 16)["price"].to_list() == [Decimal("0.0012836")]
    # a record that is not an object is set aside as it is met, the others once typed
    assert [(q.reason, q.record_key, q.record_index) for q in quarantine] == [
        ("wrong type record: expected object", None, 8),
        ("missing key: message_id", None, 1),
        ("wrong type message_id: 1e3", "1e3", 2),
        ("missing key: time_in", "11", 3),
        ("unparsable time_in: yesterday", "12", 4),
        ("unparsable price: 1,5", "13", 5),
        ("wrong type sl_clicks: many", "14", 6),
        ("unparsable time_dlr: 2026-02-31 10:00:00", "15", 7),
    ]
    assert report.counts["exports"].as_dict() == {
        "records_in": 10, "rows_out": 2, "quarantined": 8, "duplicates": 0,
    }  # fmt: skip
    assert report.unknown_fields == {"exports": ["result[].extra_field"]}


def test_a_page_that_is_not_a_ready_export_is_quarantined_whole():
    pages = [
        page("exports", b"{not json", endpoint="/api/stat/jobs/k"),
        page("exports", {"error": 0, "status": "In progress"}, endpoint="/api/stat/jobs/k"),
    ]
    report = TransformReport()
    costs, quarantine = transform_exports(pages, UTC, report)
    assert costs.height == 0 and report.pages_quarantined == 2
    assert [q.reason.split(":")[0] for q in quarantine] == [
        "not JSON",
        "wrong type result",
    ]


def test_the_latest_export_of_a_message_wins():
    older = export_page([row("20", status="Sent", time_dlr=None)], fetched_at=T0)
    newer = export_page([row("20")], fetched_at=T0 + timedelta(hours=1), seq=1)
    report = TransformReport()
    costs, _ = transform_exports([older, newer], UTC, report)
    assert costs.select("message_id", "status").rows() == [(20, "delivered")]
    assert report.counts["exports"].duplicates == 1


def test_the_balance_example_and_a_broken_one():
    good = page(
        "balance",
        (PROVIDER / "account_balance__schema_example.json").read_bytes(),
        endpoint="/api/accounts/balance",
    )
    later = T0 + timedelta(hours=1)
    bad = [
        page("balance", {"data": []}, fetched_at=later, seq=1, endpoint="/api/accounts/balance"),
        page(
            "balance",
            {"data": {"balance": "lots", "currency": "EUR"}},
            fetched_at=later,
            seq=2,
            endpoint="/api/accounts/balance",
        ),
    ]
    report = TransformReport()
    balance, quarantine = transform_balance([good, *bad], UTC, report)
    assert balance.to_dicts() == [
        {"observed_at": T0, "balance": Decimal("-50.2500000"), "credit": Decimal("125.0000000"),
         "currency": "USD", "extracted_at": T0},
    ]  # fmt: skip
    assert [q.reason for q in quarantine] == [
        "wrong type data: expected an object",
        "unparsable data.balance: lots",
    ]
    assert report.counts["balance"].as_dict() == {
        "records_in": 3, "rows_out": 1, "quarantined": 2, "duplicates": 0,
    }  # fmt: skip
