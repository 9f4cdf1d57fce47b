"""Every status set the product knows, in one place.

The simulator generates from these, the transforms validate against them and the warehouse
views count with them (the SQL views read ``SENT_STATUSES``/``DELIVERED_STATUSES`` through
``bsg_analytics.warehouse``, which renders them into the view text).
"""

from __future__ import annotations

# Message statuses from the SMS reference page, in the page's order.
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
# RCS adds `read` (the RCS reference page).
RCS_STATUSES: tuple[str, ...] = (*SMS_STATUSES, "read")
DOCUMENTED_MESSAGE_STATUSES: frozenset[str] = frozenset(RCS_STATUSES)

# Seen in the provider's SDK, not in its reference pages (README, API quirks). Still data:
# kept, and reported.
UNDOCUMENTED_MESSAGE_STATUSES: frozenset[str] = frozenset(
    {"not_rcs_user", "not_viber_user", "not_service_user"}
)
KNOWN_MESSAGE_STATUSES: frozenset[str] = DOCUMENTED_MESSAGE_STATUSES | UNDOCUMENTED_MESSAGE_STATUSES

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

CHANNELS: tuple[str, ...] = ("sms", "rcs")
SOURCES: tuple[str, ...] = ("web", "rest")

# Campaign statuses (seeds 002, 003); `stopped` and `done` are final.
CAMPAIGN_STATUSES: tuple[str, ...] = (
    "creation",
    "spam",
    "scheduled",
    "sending",
    "paused",
    "stopped",
    "done",
)
FINAL_CAMPAIGN_STATUSES: frozenset[str] = frozenset({"stopped", "done"})


def campaign_is_open(status: str | None) -> bool:
    """A campaign whose statistics can still change: any status but a final one (an unknown
    status too: it is read again rather than frozen)."""
    return status not in FINAL_CAMPAIGN_STATUSES


# Routes of campaign_statistics: the campaign's own channel, and the SMS fallback of RCS.
ROUTES: tuple[str, ...] = ("primary", "sms_fallback")

# Suggestion kinds of an RCS card.
SUGGESTION_KINDS: tuple[str, ...] = ("phone", "url", "reply")
