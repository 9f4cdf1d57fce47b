"""The contract's tables, each declared once: columns and types, key, partition.

Transforms build frames with exactly these schemas, the writer validates against them and the
warehouse views are created over them; column lists anywhere else are derived from here.
The README (Tables) says what each row means.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

UTC_TS = pl.Datetime("us", "UTC")
MONEY = pl.Decimal(18, 7)


@dataclass(frozen=True)
class Table:
    name: str
    schema: dict[str, pl.DataType]
    key: tuple[str, ...]
    partition: str | None
    # the column whose newest value wins when two versions of a key meet
    version_column: str = "extracted_at"
    # Tables fed by more than one source (campaigns: list pages and detail bodies) merge column
    # groups separately: each (version_column, columns) group takes its values from the row
    # with the greatest non-null version_column of that group. Columns outside every group
    # (and the key) follow `version_column`.
    merge_groups: tuple[tuple[str, tuple[str, ...]], ...] = ()
    description: str = ""
    column_docs: dict[str, str] = field(default_factory=dict)

    @property
    def columns(self) -> list[str]:
        return list(self.schema)

    @property
    def polars_schema(self) -> pl.Schema:
        return pl.Schema(self.schema)

    def empty(self) -> pl.DataFrame:
        return pl.DataFrame(schema=self.polars_schema)

    @property
    def arrow_schema(self):
        return self.empty().to_arrow().schema


MESSAGES = Table(
    name="messages",
    key=("message_id",),
    partition="created_date",
    description="one message of any channel (sms, viber, rcs, whatsapp, hlr), latest state",
    schema={
        "message_id": pl.Int64(),
        "campaign_id": pl.Int64(),
        "reference_id": pl.String(),
        "channel": pl.String(),
        "source": pl.String(),
        "sender": pl.String(),
        "phone": pl.String(),
        "text": pl.String(),
        "validity_hours": pl.Int32(),
        "status": pl.String(),
        "created_at": UTC_TS,
        "sent_at": UTC_TS,
        "delivered_at": UTC_TS,
        "amount_value": MONEY,
        "amount_currency": pl.String(),
        # the SMS fallback's parts and ids (an SMS fallback only; see fallback_*)
        "fallback_sms_parts": pl.Int32(),
        "fallback_sms_ids": pl.List(pl.Int64()),
        "country": pl.String(),
        "parts": pl.Int32(),
        "options_json": pl.String(),
        # where the message fell back to (`alternative_channels`: sms or viber), and the
        # fallback's parts and message ids; null when it did not fall back
        "fallback_channel": pl.String(),
        "fallback_parts": pl.Int32(),
        "fallback_ids": pl.List(pl.Int64()),
        "created_date": pl.Date(),
        "extracted_at": UTC_TS,
    },
)

RCS_CARDS = Table(
    name="rcs_cards",
    key=("message_id", "card_index"),
    partition="created_date",
    description="one card of an RCS message",
    schema={
        "message_id": pl.Int64(),
        "card_index": pl.Int32(),
        "text": pl.String(),
        "media_url": pl.String(),
        "title": pl.String(),
        "created_date": pl.Date(),
        "extracted_at": UTC_TS,
    },
)

RCS_SUGGESTIONS = Table(
    name="rcs_suggestions",
    key=("message_id", "card_index", "suggestion_index"),
    partition="created_date",
    description="one suggestion of an RCS card",
    schema={
        "message_id": pl.Int64(),
        "card_index": pl.Int32(),
        "suggestion_index": pl.Int32(),
        "text": pl.String(),
        "kind": pl.String(),
        "phone": pl.String(),
        "url": pl.String(),
        "postback_data": pl.String(),
        "created_date": pl.Date(),
        "extracted_at": UTC_TS,
    },
)

CAMPAIGNS = Table(
    name="campaigns",
    key=("campaign_id",),
    partition="created_month",
    description="one campaign from the list and its detail (Viber and HLR: the detail alone)",
    merge_groups=(
        (
            "list_extracted_at",
            (
                "calculated_price",
                "list_delivered",
                "list_sent",
                "fallback_delivered",
                "fallback_sent",
                "list_currency",
                "list_extracted_at",
            ),
        ),
        (
            "detail_extracted_at",
            ("total_messages", "total_phones", "total_price", "currency", "detail_extracted_at"),
        ),
    ),
    schema={
        "campaign_id": pl.Int64(),
        "name": pl.String(),
        "sender": pl.String(),
        "channel": pl.String(),
        "status": pl.String(),
        "is_final": pl.Boolean(),
        "start_at": UTC_TS,
        "real_start_at": UTC_TS,
        "finished_at": UTC_TS,
        "created_at": UTC_TS,
        "calculated_price": MONEY,
        "total_messages": pl.Int64(),
        "total_phones": pl.Int64(),
        "total_price": MONEY,
        "currency": pl.String(),
        # the list endpoint's own two counts, primary and SMS fallback
        "list_delivered": pl.Int64(),
        "list_sent": pl.Int64(),
        "fallback_delivered": pl.Int64(),
        "fallback_sent": pl.Int64(),
        # the list's `currency`; `currency` is the detail's, else this one (`merge.FALLBACKS`)
        "list_currency": pl.String(),
        "detail_extracted_at": UTC_TS,
        # when the list page / the detail body behind this row were fetched
        "list_extracted_at": UTC_TS,
        "created_month": pl.String(),
        "extracted_at": UTC_TS,
    },
)

CAMPAIGN_STATISTICS = Table(
    name="campaign_statistics",
    key=("campaign_id", "route", "status"),
    partition="created_month",
    description="tidy per-status counts from the campaign detail endpoint",
    schema={
        "campaign_id": pl.Int64(),
        "route": pl.String(),
        "status": pl.String(),
        "messages": pl.Int64(),
        "created_month": pl.String(),
        "extracted_at": UTC_TS,
    },
)

LEGACY_SMS = Table(
    name="legacy_sms",
    key=("message_id",),
    partition=None,
    description="one legacy REST SMS status",
    schema={
        "message_id": pl.Int64(),
        "msisdn": pl.String(),
        "reference": pl.String(),
        "time_in": UTC_TS,
        "time_sent": UTC_TS,
        "time_dr": UTC_TS,
        "status": pl.String(),
        "price": MONEY,
        "currency": pl.String(),
        "extracted_at": UTC_TS,
    },
)

LEGACY_TASKS = Table(
    name="legacy_tasks",
    key=("task_id",),
    partition=None,
    description="one legacy bulk task summary",
    schema={
        "task_id": pl.Int64(),
        "originator": pl.String(),
        "body": pl.String(),
        "validity": pl.Int32(),
        "total_price": MONEY,
        "currency": pl.String(),
        "sent": pl.Int64(),
        "delivered": pl.Int64(),
        "expired": pl.Int64(),
        "undeliverable": pl.Int64(),
        "unknown": pl.Int64(),
        # the task endpoint's other counters (`GET /rest/sms/task/{id}`)
        "total": pl.Int64(),
        "queued": pl.Int64(),
        "accepted": pl.Int64(),
        "enroute": pl.Int64(),
        "extracted_at": UTC_TS,
    },
)

LEGACY_VIBER = Table(
    name="legacy_viber",
    key=("message_id",),
    partition=None,
    description="one legacy REST Viber status, with the SMS it fell back to (alt_route)",
    schema={
        "message_id": pl.Int64(),
        "msisdn": pl.String(),
        "reference": pl.String(),
        "time_in": UTC_TS,
        "time_sent": UTC_TS,
        "time_dr": UTC_TS,
        "status": pl.String(),
        "price": MONEY,
        "currency": pl.String(),
        # the first entry of `alt_route` (the SMS fallback) and its `alt_route_messages` entry
        "alt_channel": pl.String(),
        "alt_message_id": pl.Int64(),
        "alt_status": pl.String(),
        "alt_price": MONEY,
        "alt_currency": pl.String(),
        "alt_time_in": UTC_TS,
        "alt_time_sent": UTC_TS,
        "alt_time_dr": UTC_TS,
        "alt_sender": pl.String(),
        "alt_text": pl.String(),
        "extracted_at": UTC_TS,
    },
)

MESSAGE_COSTS = Table(
    name="message_costs",
    key=("message_id",),
    partition="created_date",
    description=(
        "one message as the statistics export (`/api/stat/jobs`) reports it: where it went "
        "(country, operator), what it cost, the platform's own times and status"
    ),
    schema={
        "message_id": pl.Int64(),
        "channel": pl.String(),  # the export's `message_type`
        "country_name": pl.String(),
        "operator": pl.String(),  # the export's `brand`
        "mcc": pl.String(),
        "mnc": pl.String(),
        "originator": pl.String(),
        "price": MONEY,
        "currency": pl.String(),
        "time_in": UTC_TS,
        "time_sent": UTC_TS,
        "time_dlr": UTC_TS,
        # the export's status in the product's set (`EXPORT_STATUS_MAP`), and as written
        "status": pl.String(),
        "export_status": pl.String(),
        "sl_clicks": pl.Int64(),
        "created_date": pl.Date(),  # UTC date of time_in
        "extracted_at": UTC_TS,
    },
)

BALANCE_HISTORY = Table(
    name="balance_history",
    key=("observed_at",),
    partition=None,
    description="the account balance (`GET /api/accounts/balance`) as each sync saw it",
    schema={
        "observed_at": UTC_TS,
        "balance": MONEY,
        "credit": MONEY,
        "currency": pl.String(),
        "extracted_at": UTC_TS,
    },
)

QUARANTINE = Table(
    name="quarantine",
    key=(),
    partition="extracted_date",
    description="a record that failed its contract, with the reason",
    schema={
        "endpoint": pl.String(),
        "reason": pl.String(),
        "raw": pl.String(),
        "record_key": pl.String(),
        # the record's position in the `data` list of its page; null for a whole page
        "record_index": pl.Int32(),
        "raw_file": pl.String(),
        "extracted_date": pl.Date(),
        "extracted_at": UTC_TS,
    },
)

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        MESSAGES,
        RCS_CARDS,
        RCS_SUGGESTIONS,
        CAMPAIGNS,
        CAMPAIGN_STATISTICS,
        LEGACY_SMS,
        LEGACY_TASKS,
        LEGACY_VIBER,
        MESSAGE_COSTS,
        BALANCE_HISTORY,
        QUARANTINE,
    )
}
