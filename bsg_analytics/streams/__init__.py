"""The streams, one file each, and the registry the pipeline iterates.

=================  ==================================================  =========  ==========
stream             endpoint(s)                                         planning   written
=================  ==================================================  =========  ==========
messages           GET /api/messages (per channel with filter[type]    window     streamed
                   when the server honours it)
campaigns          GET /api/campaigns, else /api/campaign              window     at end
                   (filter[type]=sms|rcs|whatsapp)
campaign_detail    GET /api/campaigns/{id}/detail                      ids        at end
legacy_sms         POST /rest/sms/getStatus (ids, 100 a call), GET     lookup     at end
                   /rest/sms/reference/{ref}, else /rest/sms/{id}
legacy_task        GET /rest/sms/task/{id}, else /rest/sms/{id}        lookup     at end
legacy_viber       GET /rest/viber/{id}, /rest/viber/reference/{ref}   lookup     at end
exports            POST /api/stat/jobs, then GET and DELETE            window     streamed
                   /api/stat/jobs/{key} (an export job per window)
balance            GET /api/accounts/balance                           snapshot   at end
=================  ==================================================  =========  ==========

The lookup streams (`bsg-analytics lookup`, the `legacy-lookups` deployment) share one
transform (`streams.legacy`), into `legacy_sms`, `legacy_tasks` and `legacy_viber`.

A new stream is a new module here declaring a `Stream` (`base.py` says what each field
means) plus its tables in `bsg_analytics.schemas.tables`, and one line in `REGISTRY`.
"""

from __future__ import annotations

from bsg_analytics.streams import (
    balance,
    campaign_detail,
    campaigns,
    exports,
    legacy_sms,
    legacy_task,
    legacy_viber,
    messages,
)
from bsg_analytics.streams.base import (
    Job,
    Planning,
    Registry,
    RunContext,
    Stream,
    Transform,
    TransformOutput,
    Written,
)

REGISTRY = Registry(
    [
        messages.STREAM,
        exports.STREAM,  # beside messages: their reads overlap the exports' waits
        campaigns.STREAM,
        campaign_detail.STREAM,
        legacy_sms.STREAM,
        legacy_task.STREAM,
        legacy_viber.STREAM,
        balance.STREAM,
    ]
)

__all__ = [
    "REGISTRY",
    "Job",
    "Planning",
    "Registry",
    "RunContext",
    "Stream",
    "Transform",
    "TransformOutput",
    "Written",
]
