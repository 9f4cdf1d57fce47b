"""Settings: environment (and `.env`), each overridable by a command-line flag.

Secrets are `SecretStr`: they print as `**********` in reprs, logs and tracebacks. The one place
that turns a secret back into text is `Settings.credentials()`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bsg_client.servers import DEFAULT_API_URL, DEFAULT_REST_URL

# the schedules of the deployments (`bsg-analytics serve`, `prefect.yaml` states them too)
SYNC_CRON = "0 * * * *"
RECONCILE_CRON = "30 2 * * *"


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
    concurrency: int = Field(8, ge=1, le=64)
    max_retries: int = Field(8, ge=0, le=50)
    backoff_max_seconds: float = Field(30.0, gt=0)
    timeout_seconds: float = Field(30.0, gt=0)
    verify_tls: bool = True
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
        from httpx import URL, InvalidURL

        try:
            url = URL(value)
        except InvalidURL as exc:
            raise ValueError(f"not a URL: {value!r} ({exc})") from None
        if url.scheme not in ("http", "https") or not url.host:
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
        return [s for s in (creds.api_token, creds.api_login_key, creds.rest_api_key) if s]


def load_settings(**overrides) -> Settings:
    """Settings from the environment with flag overrides; a bad one raises `SettingsError`."""
    from pydantic import ValidationError

    clean = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**clean)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "BSG_" + str(first["loc"][0]).upper() if first.get("loc") else "settings"
        raise SettingsError(f"bad setting {name}: {first['msg']}") from None
