"""The simulator: generated data + clock + quirks -> API bodies and ground truth.

`Simulator` is assembled from one module per concern:

- `state.py`: the generated dataset, the clock, and each message's and campaign's state at a
  moment (the base class);
- `messages.py`: One API `/api/messages` (selection, sorting, paging, records);
- `campaigns.py`: One API campaign list and campaign detail;
- `exports.py`: the statistics export jobs (`/api/stat/jobs`) and the balance;
- `costs.py`: operators, the export's rows, the balance, and their ground truth;
- `params.py`: the One API's paging / sort / window parameters and their 422 answers;
- `legacy.py`: the legacy REST API (`/rest/sms/...`, `/rest/viber/...`) and its numbered
  errors;
- `truth.py`: the ground-truth tables the tests compare the pipeline's output to;
- this module: the class itself, its ASGI app and the bearer tokens it issues.

HTTP routing, latency, the rate limit and injected faults are in `app.py` and `faults.py`.

Interpretations (the provider's files and pages leave them open):
- `/api/messages` `filter[from]`/`filter[to]` select on the message's `created_at` (inclusive
  both ends, whole seconds, the account's zone). Campaigns select on campaign `created_at`.
- Sorting by `delivered` follows MySQL: messages without `delivered_at` (at `now`) sort first
  ascending, last descending; ties by id.
- Statistics count the campaign's primary messages (`statistics`) and its SMS fallbacks
  (`alternative_channels.sms.statistics`) separately; `total_messages`/`total_phones` count the
  primary ones; `total_price` sums every message of the campaign (fallbacks included), so it
  equals the sum of the `amount` of all messages whose `campaign_id` is the campaign.
- `calculated_price` (list) is the planned cost of the campaign's primary messages, as float
  (null for some campaigns).
- A failed message costs 0; every other message has its price from creation on.
- A message made in the web account (`source` web) has no `reference_id`.
- Legacy `time_dr` is the time of the final report (null for `unknown`, which has none).
- Issued bearers are JWT-shaped (header.payload.signature, base64url; the payload has `iat`,
  `exp`, `roles`, `id`); `exp` is the simulator clock at issue + `token_ttl_seconds`.
"""

from __future__ import annotations

import base64
import hashlib
from typing import TYPE_CHECKING, Any

import orjson

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
from .exports import ExportsMixin
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
    "token_payload",
]

_JWT_HEADER = {"typ": "JWT", "alg": "RS256"}


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def token_payload(token: str) -> dict[str, Any] | None:
    """The payload of a JWT-shaped bearer (with an integer `exp`); None for anything else."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = orjson.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, orjson.JSONDecodeError):
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("exp"), int):
        return None
    return payload


class Simulator(MessagesMixin, CampaignsMixin, ExportsMixin, GroundTruthMixin, LegacyMixin):
    """The simulated BSG account: `Simulator(config)` or `Simulator(config, **overrides)`.

    Public state: `config`, `quirks`, `data` (the generated arrays), `clock`, `tz`, `app` (the
    ASGI app, made on first use), `issued_tokens` (bearer -> requests left, None: no limit)
    and `token_expiry` (bearer -> its `exp`). Answers: `messages_page`, `campaigns_page`,
    `campaign_detail`, `legacy_lookup`, `legacy_by_reference`, `legacy_get_status`,
    `viber_lookup`, `viber_by_reference`, `stat_jobs_create` / `stat_jobs_list` /
    `stat_job_body` / `stat_jobs_delete` (the export jobs: `export_jobs`),
    `account_balance`; truth: `ground_truth_*`, `status_counts`, `spend`,
    `planted_anomalies`."""

    def __init__(self, config: SimulatorConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.issued_tokens: dict[str, int | None] = {}
        self.token_expiry: dict[str, int] = {}
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
        """A new JWT-shaped bearer: issued now (the simulator clock), expiring after
        `token_ttl_seconds` of simulated time (and after `token_ttl_requests` requests when
        set)."""
        self._token_seq += 1
        iat = self.clock.now_s()
        exp = iat + int(self.config.token_ttl_seconds)
        head = _b64(orjson.dumps(_JWT_HEADER))
        body = _b64(orjson.dumps({"iat": iat, "exp": exp, "roles": [], "id": self._token_seq}))
        mac = hashlib.blake2b(f"{self.config.seed}|{head}.{body}".encode(), digest_size=64)
        token = f"{head}.{body}.{_b64(mac.digest())}"
        self.issued_tokens[token] = self.config.token_ttl_requests
        self.token_expiry[token] = exp
        return token
