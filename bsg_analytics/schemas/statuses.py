"""Every status set the product knows, in one place.

The simulator generates from these, the transforms validate against them and the warehouse
views count with them (the SQL views read ``SENT_STATUSES``/``DELIVERED_STATUSES`` through
``bsg_analytics.warehouse``, which renders them into the view text).
"""

from __future__ import annotations

# Message statuses as the provider's description publishes them (`MessageStatus` of
# `GET /api/messages` in its OpenAPI file), in its order.
MESSAGE_STATUSES: tuple[str, ...] = (
    "scheduled",
    "moderation",
    "accepted",
    "sending",
    "sent",
    "delivered",
    "expired",
    "failed",
    "undelivered",
    "unknown",
    "read",
    "not_viber_user",
    "not_service_user",
)
# The per-status counts of a campaign detail (`StatisticsData`): the statuses above but
# `not_service_user`, plus `not_rcs_user`.
CAMPAIGN_STATISTIC_STATUSES: tuple[str, ...] = (
    "delivered",
    "sent",
    "scheduled",
    "moderation",
    "accepted",
    "sending",
    "expired",
    "failed",
    "undelivered",
    "unknown",
    "read",
    "not_viber_user",
    "not_rcs_user",
)
# The reference pages' lists (SMS page: ten, in its order; the RCS page adds `read`).
SMS_STATUSES: tuple[str, ...] = (
    "delivered",
    "scheduled",
    "moderation",
    "accepted",
    "sending",
    "sent",
    "expired",
    "failed",
    "undelivered",
    "unknown",
)
RCS_STATUSES: tuple[str, ...] = (*SMS_STATUSES, "read")
# Every status somebody published for a message or a campaign's count of messages: a value
# outside it is still data (kept, and reported).
KNOWN_MESSAGE_STATUSES: frozenset[str] = frozenset(MESSAGE_STATUSES) | frozenset(
    CAMPAIGN_STATISTIC_STATUSES
)
# Those not on the reference pages (kept for the names the simulator's quirks use).
UNDOCUMENTED_MESSAGE_STATUSES: frozenset[str] = KNOWN_MESSAGE_STATUSES - frozenset(RCS_STATUSES)
DOCUMENTED_MESSAGE_STATUSES: frozenset[str] = frozenset(RCS_STATUSES)

# The provider's definitions (the campaign list page's statistics).
DELIVERED_STATUSES: frozenset[str] = frozenset({"delivered", "read"})
SENT_STATUSES: frozenset[str] = frozenset(
    {
        "delivered",
        "read",
        "sent",
        "accepted",
        "sending",
        "undelivered",
        "failed",
        "expired",
        "unknown",
    }
)
NOT_YET_SENT_STATUSES: frozenset[str] = frozenset({"scheduled", "moderation"})

# A message in one of these will not change again (DLR completeness counts them).
FINAL_MESSAGE_STATUSES: frozenset[str] = frozenset(
    {"delivered", "read", "expired", "failed", "undelivered", "unknown"}
    | UNDOCUMENTED_MESSAGE_STATUSES
)

# Message types (`MessageType`): the channels of `messages.channel`.
CHANNELS: tuple[str, ...] = ("sms", "viber", "rcs", "whatsapp", "hlr")
# The channels whose delivered messages may still turn `read` (a read receipt).
READ_RECEIPT_CHANNELS: tuple[str, ...] = ("viber", "rcs", "whatsapp")
# The types `GET /api/campaigns` lists (its `filter[type]`), one read each.
CAMPAIGN_LIST_TYPES: tuple[str, ...] = ("sms", "rcs", "whatsapp")
# Where a message falls back to (`alternative_channels` of a message: `sms` or `viber`).
FALLBACK_CHANNELS: tuple[str, ...] = ("sms", "viber")
# How a message was made (`MessageSource`).
SOURCES: tuple[str, ...] = (
    "web",
    "rest",
    "smpp",
    "xml",
    "twoway",
    "twoway_api",
    "2fa",
    "voicebot",
)

# Campaign statuses (`CampaignStatus`; the pages list all but `moderation`); `stopped` and
# `done` are final.
CAMPAIGN_STATUSES: tuple[str, ...] = (
    "creation",
    "scheduled",
    "sending",
    "done",
    "paused",
    "stopped",
    "spam",
    "moderation",
)
FINAL_CAMPAIGN_STATUSES: frozenset[str] = frozenset({"stopped", "done"})


# The status recorded for a campaign known only from its messages (a type no list shows)
# until its detail is read: open, so that the detail is read.
UNREAD_CAMPAIGN_STATUS = "unread"


def campaign_is_open(status: str | None) -> bool:
    """A campaign whose statistics can still change: any status but a final one (an unknown
    status too: it is read again rather than frozen)."""
    return status not in FINAL_CAMPAIGN_STATUSES


# Routes of campaign_statistics: the campaign's own channel, and its SMS fallback.
ROUTES: tuple[str, ...] = ("primary", "sms_fallback")

# Suggestion kinds of an RCS card: the description's `type` (`link`, `call`); a suggestion
# without one (the RCS page's sample) is a `link` when it has a `url`, a `call` when it has a
# `phone`, else a `reply`.
SUGGESTION_KINDS: tuple[str, ...] = ("link", "call", "reply")

# Legacy REST statuses: `GET /rest/sms/{id}`, `POST /rest/sms/getStatus`; Viber adds two.
LEGACY_SMS_STATUSES: tuple[str, ...] = (
    "new",
    "waiting",
    "sent",
    "delivered",
    "failed",
    "rejected",
    "expired",
    "deleted",
    "unknown",
)
LEGACY_VIBER_STATUSES: tuple[str, ...] = (*LEGACY_SMS_STATUSES, "not_viber_user", "undeliverable")


# Statuses of the statistics export (`GET /api/stat/jobs/{key}`, the `status` enum of
# `CreateJobParams`), as it writes them, and each one's status in MESSAGE_STATUSES
# (`message_costs.status`): the platform's `Rejected` (refused before it was sent) counts
# as `failed`. A word outside the map is kept, lower-cased, and reported.
EXPORT_STATUSES: tuple[str, ...] = (
    "Delivered",
    "Rejected",
    "Scheduled",
    "Moderation",
    "Accepted",
    "Sending",
    "Sent",
    "Expired",
    "Failed",
    "Undelivered",
    "Unknown",
)
EXPORT_STATUS_MAP: dict[str, str] = {
    **{s: s.lower() for s in EXPORT_STATUSES},
    "Rejected": "failed",
}
# What the export writes for a message in each of MESSAGE_STATUSES (the simulator's rule:
# `read` is still `Delivered`; a phone without the app was `Rejected`).
MESSAGE_TO_EXPORT_STATUS: dict[str, str] = {
    **{s.lower(): s for s in EXPORT_STATUSES if s != "Rejected"},
    "read": "Delivered",
    "not_viber_user": "Rejected",
    "not_service_user": "Rejected",
}
