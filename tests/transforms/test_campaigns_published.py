"""Campaign lists and details as the provider publishes them (`one-api.yaml`): the detail in
`{"data": {...}}` with 13 statistics keys, `alternative_channels` `[]` / null /
`{sms: {statistics}}` (the page's `statistic` too), `total_price` with 2 or 7 decimals, every
campaign type; the list with `currency` (-> `list_currency`, and `currency` when no detail
gives one), a nullable `calculated_price` and the `moderation` status. Nothing of these is
quarantined, nothing reported unknown; the pages' shapes still pass (test_golden.py).

Bodies are recorded JSON (tests/fixtures/api/campaign*_published_*.json): the provider's two
detail examples copied as they are, the others written from its schema."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
import pytest

from bsg_analytics.batch import Batch, transform_pages
from bsg_analytics.schemas.statuses import CAMPAIGN_STATISTIC_STATUSES
from bsg_analytics.schemas.tables import CAMPAIGNS
from bsg_analytics.transforms.campaigns import unwrap_detail
from bsg_analytics.transforms.writer import read_table, write_tables

from .transform_helpers import T0, fixture, page

T1 = datetime(2024, 4, 2, 12, 0, tzinfo=UTC)
T2 = datetime(2024, 4, 3, 12, 0, tzinfo=UTC)


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=UTC)


def detail(name: str, *, seq: int = 1, fetched_at: datetime = T0, cid: int = 1):
    return page(
        "campaign_detail",
        f"campaign_detail_published_{name}.json",
        seq=seq,
        fetched_at=fetched_at,
        endpoint=f"/api/campaigns/{cid}/detail",
    )


def listing(body: str | dict, *, seq: int = 0, fetched_at: datetime = T0):
    if isinstance(body, str):
        body = f"campaigns_published_{body}.json"
    return page("campaigns", body, seq=seq, fetched_at=fetched_at, endpoint="/api/campaigns")


def clean(*pages) -> Batch:
    batch = transform_pages(list(pages), "UTC")
    assert batch["quarantine"].to_dicts() == []
    assert batch.report.unknown_fields == {}
    assert batch.report.unknown_statuses == {}
    return batch


def body_of(name: str) -> dict[str, Any]:
    return orjson.loads(fixture(name))


def row(
    cid: int,
    *,
    list_side: dict[str, Any] | None = None,
    detail_side: dict[str, Any] | None = None,
    **shared: Any,
) -> dict[str, Any]:
    """A `campaigns` row: every column, the list's and the detail's own ones null unless
    given."""
    out: dict[str, Any] = dict.fromkeys(CAMPAIGNS.columns)
    out.update(campaign_id=cid, **shared)
    out.update(list_side or {})
    out.update(detail_side or {})
    return out


def stat_rows(cid: int, route: str, counts: dict[str, int], month: str, ext=T0) -> list[dict]:
    return [
        {
            "campaign_id": cid,
            "route": route,
            "status": status,
            "messages": counts.get(status, 0),
            "created_month": month,
            "extracted_at": ext,
        }
        for status in CAMPAIGN_STATISTIC_STATUSES
    ]


def stats_of(batch: Batch) -> list[dict]:
    rows = batch["campaign_statistics"].to_dicts()
    order = {s: i for i, s in enumerate(CAMPAIGN_STATISTIC_STATUSES)}
    return sorted(rows, key=lambda r: (r["campaign_id"], r["route"], order[r["status"]]))


# ------------------------------------------------------------------------ detail, published


def test_the_provider_details_example():
    """`{"data": {...}}`, 13 counts, `alternative_channels: []` (no fallback rows), "0.16"."""
    batch = clean(detail("details"))
    assert batch["campaigns"].to_dicts() == [
        row(
            53651994,
            name="SMS api campaign / 2024-04-03 12:14:49",
            sender="testsms",
            channel="sms",
            status="done",
            is_final=True,
            start_at=utc(2024, 4, 3, 12, 14, 49),
            real_start_at=utc(2024, 4, 3, 12, 15, 6),
            finished_at=utc(2024, 4, 3, 12, 15, 7),
            created_at=utc(2024, 4, 3, 12, 14, 49),
            detail_side={
                "total_messages": 10,
                "total_phones": 10,
                "total_price": Decimal("0.1600000"),
                "currency": "USD",
                "detail_extracted_at": T0,
            },
            created_month="2024-04",
            extracted_at=T0,
        )
    ]
    assert stats_of(batch) == stat_rows(
        53651994, "primary", {"delivered": 7, "undelivered": 3}, "2024-04"
    )
    counts = batch.report.counts["campaign_detail"]
    assert (counts.records_in, counts.rows_out, counts.quarantined) == (1, 1, 0)


def test_the_provider_schema_example():
    """`CampaignDetails200Response.example`: an SMS fallback's 13 counts, "0.3000000", RFC 3339
    times (`2000-01-23T04:56:07.000+00:00`)."""
    batch = clean(detail("schema_example"))
    t = utc(2000, 1, 23, 4, 56, 7)
    assert batch["campaigns"].to_dicts() == [
        row(
            53651994,
            name="SMS api campaign / 2024-04-03 12:14:49",
            sender="testsms",
            channel="sms",
            status="creation",
            is_final=False,
            start_at=t,
            real_start_at=t,
            finished_at=t,
            created_at=t,
            detail_side={
                "total_messages": 1,
                "total_phones": 1,
                "total_price": Decimal("0.3000000"),
                "currency": "USD",
                "detail_extracted_at": T0,
            },
            created_month="2000-01",
            extracted_at=T0,
        )
    ]
    primary = {
        "read": 4,
        "scheduled": 1,
        "accepted": 5,
        "undelivered": 3,
        "failed": 9,
        "sent": 6,
        "unknown": 2,
        "not_viber_user": 7,
        "expired": 7,
        "moderation": 5,
        "sending": 2,
        "not_rcs_user": 1,
    }
    assert stats_of(batch) == stat_rows(53651994, "primary", primary, "2000-01") + stat_rows(
        53651994, "sms_fallback", {}, "2000-01"
    )


def test_every_type_and_both_spellings_of_the_fallback():
    """whatsapp with `{sms: {statistics}}`, viber with the page's `{sms: {statistic}}`, hlr
    with `null`, rcs with `[]` and the page's `start_at`/`real_start_at`; 7- and 2-decimal
    prices exactly; `moderation` and `paused` open."""
    batch = clean(
        detail("whatsapp", seq=0),
        detail("viber", seq=1),
        detail("hlr", seq=2),
        detail("page_names", seq=3),
    )
    got = {r["campaign_id"]: r for r in batch["campaigns"].to_dicts()}
    assert sorted(got) == [53652001, 53652100, 53652200, 53652300]
    assert got[53652001] == row(
        53652001,
        name="WhatsApp campaign / 2024-04-04 09:00:00",
        sender="Shop",
        channel="whatsapp",
        status="sending",
        is_final=False,
        start_at=utc(2024, 4, 4, 9),
        real_start_at=utc(2024, 4, 4, 9, 0, 2),
        finished_at=None,
        created_at=utc(2024, 4, 4, 8, 55),
        detail_side={
            "total_messages": 11,
            "total_phones": 11,
            "total_price": Decimal("1.2345678"),
            "currency": "UAH",
            "detail_extracted_at": T0,
        },
        created_month="2024-04",
        extracted_at=T0,
    )
    assert got[53652100] == row(
        53652100,
        name="Viber campaign / 2024-04-05 10:00:00",
        sender="Shop",
        channel="viber",
        status="done",
        is_final=True,
        start_at=utc(2024, 4, 5, 10),
        real_start_at=utc(2024, 4, 5, 10, 0, 1),
        finished_at=utc(2024, 4, 5, 10, 20),
        created_at=utc(2024, 4, 5, 9, 59),
        detail_side={
            "total_messages": 10,
            "total_phones": 10,
            "total_price": Decimal("0.5000000"),
            "currency": "EUR",
            "detail_extracted_at": T0,
        },
        created_month="2024-04",
        extracted_at=T0,
    )
    hlr, rcs = got[53652200], got[53652300]
    assert (hlr["channel"], hlr["status"], hlr["is_final"]) == ("hlr", "moderation", False)
    assert (hlr["start_at"], hlr["real_start_at"]) == (utc(2024, 4, 6, 11), None)
    assert (hlr["total_price"], hlr["currency"]) == (Decimal("0.0400000"), "USD")
    assert (rcs["channel"], rcs["status"], rcs["is_final"]) == ("rcs", "paused", False)
    assert (rcs["start_at"], rcs["real_start_at"]) == (
        utc(2024, 4, 7, 12),
        utc(2024, 4, 7, 12, 0, 9),
    )
    assert rcs["total_price"] == Decimal("0.0600000")
    assert stats_of(batch) == [
        *stat_rows(
            53652001,
            "primary",
            {"delivered": 3, "sent": 2, "sending": 4, "read": 1, "failed": 1},
            "2024-04",
        ),
        *stat_rows(53652001, "sms_fallback", {"delivered": 1, "sent": 1}, "2024-04"),
        *stat_rows(
            53652100, "primary", {"delivered": 6, "read": 2, "not_viber_user": 2}, "2024-04"
        ),
        *stat_rows(53652100, "sms_fallback", {"delivered": 2}, "2024-04"),
        *stat_rows(53652200, "primary", {"moderation": 4}, "2024-04"),
        *stat_rows(53652300, "primary", {"delivered": 1, "not_rcs_user": 2}, "2024-04"),
    ]


@pytest.mark.parametrize(
    ("alternative", "fallback_rows"),
    [
        ([], 0),
        (None, 0),
        ({}, 0),
        ({"sms": None}, 0),
        ({"sms": {"statistics": dict.fromkeys(CAMPAIGN_STATISTIC_STATUSES, 1)}}, 13),
        ({"sms": {"statistic": dict.fromkeys(CAMPAIGN_STATISTIC_STATUSES, 1)}}, 13),
    ],
    ids=["empty-list", "null", "empty-object", "sms-null", "statistics", "statistic"],
)
def test_alternative_channels_shapes(alternative, fallback_rows):
    body = body_of("campaign_detail_published_details.json")
    body["data"]["alternative_channels"] = alternative
    batch = clean(page("campaign_detail", body))
    routes = batch["campaign_statistics"]["route"].to_list()
    assert routes.count("primary") == 13
    assert routes.count("sms_fallback") == fallback_rows
    assert set(batch["campaign_statistics"].filter(route="sms_fallback")["messages"]) <= {1}


def test_a_missing_key_alternative_channels_is_no_fallback():
    body = body_of("campaign_detail_published_details.json")
    del body["data"]["alternative_channels"]
    batch = clean(page("campaign_detail", body))
    assert set(batch["campaign_statistics"]["route"]) == {"primary"}


def test_a_non_empty_list_of_fallbacks_is_a_wrong_type():
    body = body_of("campaign_detail_published_details.json")
    body["data"]["alternative_channels"] = [{"sms": {"statistics": {"delivered": 1}}}]
    batch = transform_pages([page("campaign_detail", body)], "UTC")
    assert batch["campaigns"].is_empty() and batch["campaign_statistics"].is_empty()
    assert batch["quarantine"]["reason"].to_list() == [
        "wrong type alternative_channels: expected object"
    ]
    assert batch["quarantine"]["record_key"].to_list() == ["53651994"]


@pytest.mark.parametrize(
    ("price", "expected"),
    [
        ("0.16", "0.1600000"),
        ("0.3000000", "0.3000000"),
        ("1234.5678901", "1234.5678901"),
        ("12.00", "12.0000000"),
        ("0.0000001", "0.0000001"),
    ],
)
def test_total_price_two_or_seven_decimals_exactly(price, expected):
    body = body_of("campaign_detail_published_details.json")
    body["data"]["total_price"] = price
    (c,) = clean(page("campaign_detail", body))["campaigns"].to_dicts()
    assert format(c["total_price"], "f") == expected  # 7 places, exactly
    assert c["total_price"] == Decimal(price)


def test_a_bad_total_price_is_quarantined():
    body = body_of("campaign_detail_published_details.json")
    body["data"]["total_price"] = "0.16 USD"
    batch = transform_pages([page("campaign_detail", body)], "UTC")
    assert batch["campaigns"].is_empty()
    assert batch["quarantine"]["reason"].to_list() == ["unparsable total_price: 0.16 USD"]


def test_a_field_beside_data_is_reported_not_quarantined():
    body = body_of("campaign_detail_published_details.json")
    body["links"] = {"self": "/api/campaigns/53651994/detail"}
    batch = transform_pages([page("campaign_detail", body)], "UTC")
    assert batch["quarantine"].is_empty() and batch["campaigns"].height == 1
    assert batch.report.unknown_fields == {"campaign_detail": ["links"]}


def test_unwrap_detail_reads_data_locale_and_bare():
    published = body_of("campaign_detail_published_details.json")
    page_shape = body_of("campaign_detail_seed002.json")
    bare = body_of("campaign_detail_bare_sample.json")
    assert unwrap_detail(published) is published["data"]
    assert unwrap_detail(page_shape) is page_shape["en-US"]
    assert unwrap_detail(bare) is bare
    # a bare object with an `id` is never unwrapped, whatever else it holds
    odd = {"id": 5, "data": {"id": 6}}
    assert unwrap_detail(odd) is odd


def test_the_pages_detail_shapes_still_pass():
    """`en-US` and bare (with the list's names), beside a published one."""
    batch = transform_pages(
        [
            page("campaign_detail", "campaign_detail_seed002.json", seq=0),
            page("campaign_detail", "campaign_detail_bare_sample.json", seq=1),
            detail("details", seq=2),
        ],
        "UTC",
    )
    assert batch["quarantine"].is_empty()
    got = {r["campaign_id"]: r for r in batch["campaigns"].to_dicts()}
    assert sorted(got) == [1, 2, 53651994]
    assert (got[1]["currency"], got[2]["currency"]) == ("UAH", "UAH")
    assert got[2]["start_at"] == utc(2026, 3, 1, 9)


# ------------------------------------------------------------------------- list, published


def test_the_published_list_with_currency_and_a_null_estimate():
    batch = clean(listing("sms"))
    assert batch["campaigns"].to_dicts() == [
        row(
            53651994,
            name="SMS api campaign / 2024-04-03 12:14:49",
            sender="testsms",
            channel="sms",
            status="done",
            is_final=True,
            start_at=utc(2024, 4, 3, 12, 14, 49),
            real_start_at=utc(2024, 4, 3, 12, 15, 6),
            finished_at=utc(2024, 4, 3, 12, 15, 7),
            created_at=utc(2024, 4, 3, 12, 14, 49),
            currency="USD",  # from the list: no detail was read
            list_side={
                "calculated_price": Decimal("0.0527088"),
                "list_delivered": 7,
                "list_sent": 10,
                "list_currency": "USD",
                "list_extracted_at": T0,
            },
            created_month="2024-04",
            extracted_at=T0,
        ),
        row(
            53651995,
            name="SMS api campaign / 2024-04-03 13:00:00",
            sender="testsms",
            channel="sms",
            status="moderation",
            is_final=False,
            start_at=utc(2024, 4, 3, 13),
            real_start_at=None,
            finished_at=None,
            created_at=utc(2024, 4, 3, 12, 59, 30),
            currency="EUR",
            list_side={
                "calculated_price": None,  # the estimate may be null: not a breach
                "list_delivered": 0,
                "list_sent": 0,
                "list_currency": "EUR",
                "list_extracted_at": T0,
            },
            created_month="2024-04",
            extracted_at=T0,
        ),
    ]
    assert batch["campaign_statistics"].is_empty()
    counts = batch.report.counts["campaigns"]
    assert (counts.records_in, counts.rows_out, counts.quarantined) == (2, 2, 0)


def test_the_provider_list_example_shape_keeps_its_currency():
    """`SearchCampaignResource.example` (two copies of one record), times in the API's
    format: one row, its currency and estimate kept."""
    body = body_of("campaigns_published_schema_example.json")
    for rec in body["data"]:
        for key in ("finished_at", "real_start_at", "created_at", "start_at"):
            rec[key] = "2000-01-23 04:56:07"
    batch = clean(listing(body))
    (c,) = batch["campaigns"].to_dicts()
    assert (c["currency"], c["list_currency"]) == ("USD", "USD")
    assert (c["calculated_price"], c["list_delivered"], c["list_sent"]) == (
        Decimal("0.0527088"),
        0,
        6,
    )
    assert batch.report.counts["campaigns"].duplicates == 1


def test_a_whatsapp_list_merged_with_its_detail():
    batch = clean(listing("whatsapp", seq=0), detail("whatsapp", seq=1))
    assert batch["campaigns"].to_dicts() == [
        row(
            53652001,
            name="WhatsApp campaign / 2024-04-04 09:00:00",
            sender="Shop",
            channel="whatsapp",
            status="sending",
            is_final=False,
            start_at=utc(2024, 4, 4, 9),
            real_start_at=utc(2024, 4, 4, 9, 0, 2),
            finished_at=None,
            created_at=utc(2024, 4, 4, 8, 55),
            list_side={
                "calculated_price": Decimal("12.5000000"),
                "list_delivered": 3,
                "list_sent": 5,
                "list_currency": "UAH",
                "list_extracted_at": T0,
            },
            detail_side={
                "total_messages": 11,
                "total_phones": 11,
                "total_price": Decimal("1.2345678"),
                "currency": "UAH",
                "detail_extracted_at": T0,
            },
            created_month="2024-04",
            extracted_at=T0,
        )
    ]
    assert batch.report.counts["campaigns"].rows_out == 1
    assert batch.report.counts["campaign_detail"].rows_out == 1


def _with_currency(name: str, currency: str | None, **changes) -> dict:
    body = body_of(name)
    recs = [body["data"]] if isinstance(body["data"], dict) else body["data"]
    for rec in recs:
        if currency is None:
            rec.pop("currency", None)
        else:
            rec["currency"] = currency
        rec.update(changes)
    return body


@pytest.mark.parametrize(
    ("list_currency", "detail_currency", "expected"),
    [
        ("UAH", "EUR", "EUR"),  # the detail's, when it has one
        ("UAH", None, "UAH"),  # the list's, when the detail has none
        (None, "EUR", "EUR"),  # a page-shaped list (no currency)
        (None, None, None),
    ],
)
def test_currency_is_the_details_else_the_lists(list_currency, detail_currency, expected):
    lst = _with_currency("campaigns_published_whatsapp.json", list_currency)
    det = _with_currency("campaign_detail_published_whatsapp.json", detail_currency)
    for order in ((0, 1), (1, 0)):  # whichever page came last
        batch = transform_pages(
            [
                page("campaigns", lst, seq=order[0], endpoint="/api/campaigns"),
                page("campaign_detail", det, seq=order[1]),
            ],
            "UTC",
        )
        (c,) = batch["campaigns"].to_dicts()
        assert (c["currency"], c["list_currency"]) == (expected, list_currency)


def test_currency_across_batches_in_the_stored_table(data_dir):
    """Merged into Parquet batch after batch: a newer list page keeps the detail's currency,
    a list-only campaign keeps the list's, a detail without one takes the list's."""
    uah = _with_currency("campaigns_published_whatsapp.json", "UAH")
    usd = _with_currency("campaigns_published_whatsapp.json", "USD", status="done")

    def write(*pages) -> dict:
        write_tables(data_dir, transform_pages(list(pages), "UTC").tables)
        (c,) = read_table(data_dir, "campaigns").to_dicts()
        return c

    c = write(page("campaigns", uah, fetched_at=T0, endpoint="/api/campaigns"))
    assert (c["currency"], c["list_currency"], c["detail_extracted_at"]) == ("UAH", "UAH", None)
    # a newer list page alone: still the list's (the old merge group had none to offer)
    c = write(page("campaigns", uah, fetched_at=T1, endpoint="/api/campaigns"))
    assert (c["currency"], c["list_extracted_at"]) == ("UAH", T1)
    # a detail without currency: the list's stays
    no_currency = _with_currency("campaign_detail_published_whatsapp.json", None)
    c = write(page("campaign_detail", no_currency, fetched_at=T1))
    assert (c["currency"], c["detail_extracted_at"], c["total_price"]) == (
        "UAH",
        T1,
        Decimal("1.2345678"),
    )
    # the detail's own currency wins over the list's, and a newer list page keeps it
    eur = _with_currency("campaign_detail_published_whatsapp.json", "EUR")
    c = write(page("campaign_detail", eur, fetched_at=T2))
    assert (c["currency"], c["list_currency"]) == ("EUR", "UAH")
    c = write(page("campaigns", usd, fetched_at=T2 + (T2 - T1), endpoint="/api/campaigns"))
    assert (c["currency"], c["list_currency"], c["status"]) == ("EUR", "USD", "done")
    assert c["detail_extracted_at"] == T2 and c["total_price"] == Decimal("1.2345678")


def test_the_pages_list_fallback_statistics_still_read_and_an_empty_list_is_none():
    """The page's list record has `alternative_channels.sms.statistic`; `[]` is no
    fallback."""
    seed = body_of("campaigns_seed003.json")
    empty = body_of("campaigns_seed003.json")
    empty["data"][0].update(id=2, alternative_channels=[])
    batch = clean(listing(seed, seq=0), listing(empty, seq=1))
    got = {r["campaign_id"]: r for r in batch["campaigns"].to_dicts()}
    assert (got[1]["fallback_delivered"], got[1]["fallback_sent"]) == (0, 0)
    assert (got[2]["fallback_delivered"], got[2]["fallback_sent"]) == (None, None)
    assert got[1]["currency"] is None and got[1]["list_currency"] is None


def test_a_campaign_known_only_from_its_detail():
    """Viber: no list shows it; its row is its detail's, the list's columns null."""
    batch = clean(listing("sms", seq=0), detail("viber", seq=1, cid=53652100))
    got = {r["campaign_id"]: r for r in batch["campaigns"].to_dicts()}
    assert sorted(got) == [53651994, 53651995, 53652100]
    viber = got[53652100]
    assert viber["channel"] == "viber" and viber["currency"] == "EUR"
    assert [viber[c] for c in ("list_currency", "list_extracted_at", "calculated_price")] == [
        None,
        None,
        None,
    ]
