"""Settings: environment (and `.env`), each overridable by a command-line flag.

Secrets are `SecretStr`: they print as `**********` in reprs, logs and tracebacks. The places
that turn a secret back into text are `Settings.credentials()` (the API's) and
`Settings.pii_policy()` (`BSG_PII_KEY`), and `secrets()` for the scrubber.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bsg_analytics.pii import PiiPolicy
from bsg_client.servers import DEFAULT_API_URL, DEFAULT_REST_URL

# the schedules of the deployments (`bsg-analytics serve`, `prefect.yaml` states them too)
SYNC_CRON = "0 * * * *"
RECONCILE_CRON = "30 2 * * *"
# the alerts run once a day, after that hour's sync has landed
ALERTS_CRON = "15 6 * * *"


class SettingsError(ValueError):
    """A setting is missing or malformed; the message is one line, fit for the terminal."""


class MissingExtra(SettingsError):
    """A setting asks for a part of the package that is installed only with an extra."""

    def __init__(self, setting: str, extra: str, module: str):
        super().__init__(
            f"{setting} needs the [{extra}] extra ({module} is not installed): "
            f"pip install 'bsg-analytics[{extra}]', or `uv sync --extra {extra}` in a checkout"
        )
        self.extra = extra


@dataclass(frozen=True)
class Credentials:
    """What the client sends. Never logged, never written."""

    api_token: str | None
    api_login_key: str | None
    rest_api_key: str | None

    def __repr__(self) -> str:  # pragma: no cover - defensive
        return "Credentials(***)"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="BSG_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    api_url: str = DEFAULT_API_URL
    api_token: SecretStr | None = None
    # a `live_...` key exchanged at POST /api/auth/login for a bearer token
    api_login_key: SecretStr | None = None
    rest_url: str = DEFAULT_REST_URL
    api_key: SecretStr | None = None
    timezone: str = "UTC"
    data_dir: str = "./data"

    # extraction
    page_limit: int = Field(500, ge=15, le=500)
    window_days: int = Field(7, ge=1, le=92)
    lookback_hours: int = Field(72, ge=0)
    # what an incremental sync re-reads of the messages created before its last run:
    # "adaptive" (the spans that still hold messages able to change, `bsg_analytics.lookback`)
    # or "fixed" (everything created in the `lookback_hours` before it); adaptive runs
    # re-read the fixed look-back anyway once every `full_lookback_every_hours` (0: always)
    lookback: Literal["adaptive", "fixed"] = "adaptive"
    full_lookback_every_hours: int = Field(24, ge=0)
    # how long a delivered Viber / RCS / WhatsApp message may still turn `read`
    read_receipt_hours: int = Field(72, ge=0)
    # an incremental run reads what was created since its last run began, less this overlap
    new_overlap_minutes: int = Field(10, ge=0)
    concurrency: int = Field(8, ge=1, le=64)
    max_retries: int = Field(8, ge=0, le=50)
    backoff_max_seconds: float = Field(30.0, gt=0)
    timeout_seconds: float = Field(30.0, gt=0)
    verify_tls: bool = True
    # read the statistics export (`/api/stat/jobs`) into `message_costs` every sync (the
    # `exports` stream); false leaves it out
    export_costs: bool = True
    # the statistics export (`/api/stat/jobs`): how long one export may stay pending before
    # the run fails (its key is kept: the next run polls it again), and the longest wait
    # between two polls
    export_timeout_seconds: float = Field(900.0, gt=0)
    export_poll_max_seconds: float = Field(10.0, gt=0)
    # phone numbers and message texts (`bsg_analytics.pii`): "keep" them as received, "hash"
    # the phones (a pseudonym keyed by `pii_key`) and drop the texts, or "drop" both; applied
    # as the pages land, so neither the raw pages nor the tables hold what is not kept
    pii: Literal["keep", "hash", "drop"] = "keep"
    pii_key: SecretStr | None = None
    # alerts (the `anomalies` view, `bsg-analytics alerts`): a day's delivery rate is an
    # anomaly when it lies `alert_z` standard errors or more below its trailing
    # `alert_baseline_days` baseline, on at least `alert_min_messages` final messages, and
    # `alert_min_drop` (absolute) below it; spend is a spike above `alert_spend_factor` x
    # its baseline; the runway is short below `alert_runway_days`
    alert_baseline_days: int = Field(14, ge=3, le=90)
    alert_min_messages: int = Field(50, ge=1)
    alert_z: float = Field(4.0, gt=0)
    alert_min_drop: float = Field(0.10, ge=0, le=1)
    alert_spend_factor: float = Field(3.0, gt=1)
    alert_runway_days: float = Field(7.0, ge=0)
    # `bsg-analytics alerts` without --since: the anomalies of the last `alert_open_days` UTC
    # days, today included, are open
    alert_open_days: int = Field(2, ge=1, le=90)
    # the rate of one unit of a currency in the balance's currency (`balance_runway` converts
    # the spend in other currencies with it; a currency without a rate is left out and named).
    # BSG_CURRENCY_RATES='{"USD": "0.921", "UAH": "0.0222"}' (JSON)
    currency_rates: dict[str, Decimal] = Field(default_factory=dict)
    # where window tasks run: "threads" (default), "dask" (local cluster) or a scheduler address
    task_runner: str = "threads"
    # how `sync` runs: "prefect" (a flow run), "plain" (the same pipeline on a thread pool, no
    # Prefect), or "auto": Prefect when there is a Prefect server to report to
    # (PREFECT_API_URL, from the environment or the active Prefect profile) or a Dask runner
    # is asked for, plain otherwise (it spares the ~11 s temporary server of every run)
    orchestrator: Literal["auto", "prefect", "plain"] = "auto"

    @field_validator("api_url", "rest_url")
    @classmethod
    def _url(cls, value: str) -> str:
        # urllib, not httpx: every command loads settings, and httpx costs 0.14 s to import
        try:
            url = urlsplit(value)
            url.port  # noqa: B018  (raises on a port that is not a number in range)
        except ValueError as exc:
            raise ValueError(f"not a URL: {value!r} ({exc})") from None
        if any(c.isspace() or not c.isprintable() for c in value):
            raise ValueError(f"not a URL: {value!r} (it holds a space or a control character)")
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"not an http(s) URL: {value!r}")
        return value.rstrip("/")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone: {value!r}") from None
        return value

    @field_validator("currency_rates")
    @classmethod
    def _rates(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        out = {}
        for code, rate in value.items():
            key = code.strip().upper()
            if not (key.isascii() and key.isalpha() and 2 <= len(key) <= 8):
                raise ValueError(f"not a currency code: {code!r}")
            if not (rate.is_finite() and rate > 0):
                raise ValueError(f"the rate of {key} must be a number > 0, got {rate}")
            out[key] = rate
        return out

    @model_validator(mode="after")
    def _pii_key(self) -> Settings:
        key = self.pii_key.get_secret_value().strip() if self.pii_key else ""
        if self.pii == "hash" and len(key) < 16:
            raise ValueError(
                "BSG_PII=hash needs BSG_PII_KEY: a random string of 16 characters or more, "
                "kept for good (the same key gives the same pseudonym to the same phone)"
            )
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def credentials(self) -> Credentials:
        """The one fallback chain for secrets: flag/env/.env (pydantic-settings) -> None."""

        def reveal(secret: SecretStr | None) -> str | None:
            value = secret.get_secret_value().strip() if secret else ""
            return value or None

        return Credentials(
            api_token=reveal(self.api_token),
            api_login_key=reveal(self.api_login_key),
            rest_api_key=reveal(self.api_key),
        )

    def secrets(self) -> list[str]:
        """Every secret value, for scrubbing text before it is shown or written."""
        creds = self.credentials()
        key = self.pii_key.get_secret_value().strip() if self.pii_key else ""
        return [s for s in (creds.api_token, creds.api_login_key, creds.rest_api_key, key) if s]

    def pii_policy(self) -> PiiPolicy:
        """`BSG_PII` and its key as the raw store applies them (`bsg_analytics.pii`)."""
        key = self.pii_key.get_secret_value().strip().encode() if self.pii_key else b""
        return PiiPolicy(self.pii, key)


def load_settings(**overrides) -> Settings:
    """Settings from the environment with flag overrides; a bad one raises `SettingsError`."""
    from pydantic import ValidationError
    from pydantic_settings import SettingsError as SourceError

    clean = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**clean)
    except SourceError as exc:  # a value of a complex setting that is not JSON
        found = re.search(r'field "([a-z_]+)"', str(exc))
        name = "BSG_" + found.group(1).upper() if found else "settings"
        raise SettingsError(f"bad setting {name}: not valid JSON") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        if not first.get("loc"):  # a rule across settings: its words name them
            raise SettingsError(str(first["msg"]).removeprefix("Value error, ")) from None
        name = "BSG_" + str(first["loc"][0]).upper()
        raise SettingsError(f"bad setting {name}: {first['msg']}") from None
