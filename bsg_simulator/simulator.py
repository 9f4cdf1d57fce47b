"""The simulator: generated data + clock + quirks -> API bodies and ground truth.

`Simulator` is assembled from one module per concern:

- `state.py`: the generated dataset, the clock, and each message's and campaign's state at a
  moment (the base class);
- `messages.py`: One API `/api/messages` (selection, sorting, paging, records);
- `campaigns.py`: One API campaign list and campaign detail;
- `params.py`: the One API's paging / sort / window parameters and their 422 answers;
- `legacy.py`: the legacy REST API (`/rest/sms/...`) and its numbered errors;
- `truth.py`: the ground-truth tables the tests compare the pipeline's output to;
- this module: the class itself, its ASGI app and the bearer tokens it issues.

HTTP routing, latency, the rate limit and injected faults are in `app.py` and `faults.py`.

Interpretations (the provider's API pages leave them open):
- `/api/messages` `filter[from]`/`filter[to]` select on the message's `created_at` (inclusive
  both ends, whole seconds, the account's zone). Campaigns select on campaign `created_at`.
- Sorting by `delivered` follows MySQL: messages without `delivered_at` (at `now`) sort first
  ascending, last descending; ties by id.
- Statistics count the campaign's primary messages (`statistics`) and its fallback SMS
  (`alternative_channels.sms.statistics`) separately; `total_messages`/`total_phones` count the
  primary ones; `total_price` sums every message of the campaign (fallback SMS included), so it
  equals the sum of the `amount` of all messages whose `campaign_id` is the campaign.
- `calculated_price` (list) is the planned cost of the campaign's primary messages, as float.
- A failed message costs 0; every other message has its price from creation on.
- Legacy task `sent` counts the provider's SENT statuses (delivered included), `undeliverable`
  counts undelivered + failed. Legacy `time_dr` is the time of the final report (null for
  `unknown`, which has none).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .campaigns import CAMPAIGN_SORTS, RCS_STATS, SMS_STATS, CampaignsMixin
from .common import (
    REF_K,
    REF_KINV,
    REF_MASK,
    REF_RE,
    ApiError,
    hash_key,
    invalid,
    message_id_of_reference,
    reference_of,
)
from .config import SimulatorConfig
from .legacy import LEGACY_ERRORS, LegacyMixin
from .messages import MESSAGE_SORTS, MessagesMixin
from .state import DELIVERED_CODES, I64MAX, SENT_CODES
from .timezone import FMT_RE, TimeZone, minus_months
from .truth import GroundTruthMixin

if TYPE_CHECKING:
    from .app import SimulatorApp

__all__ = [
    "CAMPAIGN_SORTS",
    "DELIVERED_CODES",
    "FMT_RE",
    "I64MAX",
    "LEGACY_ERRORS",
    "MESSAGE_SORTS",
    "RCS_STATS",
    "REF_K",
    "REF_KINV",
    "REF_MASK",
    "REF_RE",
    "SENT_CODES",
    "SMS_STATS",
    "ApiError",
    "Simulator",
    "TimeZone",
    "hash_key",
    "invalid",
    "message_id_of_reference",
    "minus_months",
    "reference_of",
]


class Simulator(MessagesMixin, CampaignsMixin, GroundTruthMixin, LegacyMixin):
    """The simulated BSG account: `Simulator(config)` or `Simulator(config, **overrides)`.

    Public state: `config`, `quirks`, `data` (the generated arrays), `clock`, `tz`, `app` (the
    ASGI app, made on first use) and `issued_tokens`. Answers: `messages_page`,
    `campaigns_page`, `campaign_detail`, `legacy_lookup`, `legacy_by_reference`; truth:
    `ground_truth_*`, `status_counts`, `spend`."""

    def __init__(self, config: SimulatorConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.issued_tokens: dict[str, int | None] = {}
        self._token_seq = 0
        self._app: SimulatorApp | None = None

    @property
    def app(self) -> SimulatorApp:
        if self._app is None:
            from .app import create_app

            self._app = create_app(self)
        return self._app

    # -------------------------------------------------------------------- auth
    def issue_token(self) -> str:
        self._token_seq += 1
        token = f"sim{self._token_seq:06d}{hash_key(str(self._token_seq)) & 0xFFFFFFFF:08x}"
        self.issued_tokens[token] = self.config.token_ttl_requests
        return token
