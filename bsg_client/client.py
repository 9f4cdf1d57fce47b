"""`BSGClient`: the one HTTP client of the BSG One API and the legacy REST API.

A sync `httpx.Client` (pooled keep-alive connections, timeouts, TLS verified by default,
redirects not followed by httpx) shared by every thread of a run, with:

- auth: a static bearer token, or an API key exchanged at ``POST /api/auth/login``. A
  bearer whose JWT payload says when it expires is renewed ahead of that (see *Renewing
  ahead of expiry*); one that does not say is renewed once per request on a 401
  (``POST /api/auth/refresh``, else a new login). ``X-API-KEY`` for legacy REST, whose
  "invalid key" / "account blocked" answers (HTTP 200, error 2 / 4) raise `BSGAuthError`
  like a refused bearer. A header goes only to its own base URL's origin;
- page sizes: the configured ``page_limit`` clamped into each list endpoint's range
  (`PAGE_LIMITS`, `BSGClient.page_limit_for`);
- retries (stamina) of 429 (``Retry-After`` seconds or HTTP date, capped), 5xx, timeouts,
  dropped connections and truncated / non-JSON bodies, bounded by ``max_retries``: see
  *The retry policy* below, the one place that says what is retried and how long to wait;
- a shared `AIMDLimiter` bounding requests in flight across threads;
- a `Scrubber` through which every error text passes.
"""

from __future__ import annotations

import base64
import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol, TypedDict
from urllib.parse import quote

import httpx
import msgspec
import orjson
import stamina

from bsg_client.errors import (
    BSGAPIError,
    BSGAuthError,
    BSGCancelled,
    BSGRetryError,
    RateLimited,
    Scrubber,
    TransientError,
)
from bsg_client.exports import ExportJobs
from bsg_client.limiter import AIMDLimiter, Slot
from bsg_client.servers import DEFAULT_API_URL, DEFAULT_REST_URL, PAGE_LIMITS

if TYPE_CHECKING:
    from bsg_client.pagination import Pagination

log = logging.getLogger("bsg_client")

# legacy REST `error` codes (it answers HTTP 200 with them): "not found" is a normal answer
# of one lookup; the refused ones end the run as a refused credential (`BSGAuthError`)
LEGACY_NOT_FOUND = frozenset({20, 30, 40})  # SMS, task, message not found
LEGACY_REFUSED: Mapping[int, str] = {2: "Invalid API key", 4: "Account blocked"}
LEGACY_STATUS_MAX_IDS = 100  # ids per POST /rest/sms/getStatus (the description's maxItems)
BALANCE_PATH = "/api/accounts/balance"
# asked once, when no answer has told the API's clock yet (`BSGClient.api_clock_offset`)
CLOCK_PROBE_PATH = BALANCE_PATH
# the words of the One API's 422 for a window end it has not reached yet ("The filter[to]
# must be a date before or equal to now."; the export jobs say it of time_in_to)
AFTER_NOW_WORDS = "before or equal to now"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 3  # same-origin hops followed within one attempt
USER_AGENT = "bsg-analytics/0.1 (+httpx)"

# `validate(data)`: why a 2xx JSON body is malformed, or None when it is fine
Validator = Callable[[Any], str | None]
# `accept_status(status, data)`: whether a 4xx answer is a normal one (legacy REST)
AcceptStatus = Callable[[int, Any], bool]


# The retry policy ------------------------------------------------------------------------
# The one table of what is retried and how long to wait. A failed attempt is tried again, at
# most `max_retries` times, when it is one of these; its reason is counted in
# `ClientStats.retries`. Anything else raises at once (a 401 first renews the token once,
# a same-origin redirect is followed: both within the attempt, see `BSGClient._attempt`).
#
#   failure                                      reason        wait before the next attempt
#   429                                          "429"         its Retry-After (seconds or an
#                                                              HTTP date), at most
#                                                              backoff_max_seconds; else backoff
#   500, 502, 503, 504                           the status    backoff
#   a timeout (connect, read, write, pool)       "timeout"     backoff
#   a dropped, refused or reset connection       "connection"  backoff
#   a 2xx body truncated, not JSON, or not of    "bad body"    backoff
#   the endpoint's shape (its `Validator`)
#
# backoff: stamina's exponential wait, backoff_initial_seconds * 2**n plus up to
# backoff_initial_seconds of jitter, at most backoff_max_seconds (see `_retry_schedule`).
RATE_LIMIT_STATUS = 429
RETRY_STATUSES = frozenset({500, 502, 503, 504})
# transport failures, by the reason they are counted under (the first class that matches)
RETRIED_ERRORS: tuple[tuple[type[httpx.HTTPError], str], ...] = (
    (httpx.TimeoutException, "timeout"),
    (httpx.TransportError, "connection"),
    (httpx.DecodingError, "connection"),
)
# transport failures that waiting cannot mend (a URL scheme httpx lacks, a bad proxy): raised
NOT_RETRIED_ERRORS: tuple[type[httpx.HTTPError], ...] = (
    httpx.UnsupportedProtocol,
    httpx.ProxyError,
)
BAD_BODY = "bad body"
# what `_send` catches: every transport failure the two lists above name
_TRANSPORT_ERRORS = tuple(cls for cls, _reason in RETRIED_ERRORS)


def _transport_retry_reason(exc: httpx.HTTPError) -> str | None:
    """The reason a transport failure is retried under (`RETRIED_ERRORS`); None: it is not."""
    if isinstance(exc, NOT_RETRIED_ERRORS):
        return None
    return next((reason for cls, reason in RETRIED_ERRORS if isinstance(exc, cls)), None)


def _retry_wait(exc: Exception, cap: float) -> bool | float:
    """Seconds to wait before retrying `exc` (a 429's Retry-After, capped), True to back off,
    False not to retry."""
    if isinstance(exc, RateLimited) and exc.retry_after is not None:
        return float(min(exc.retry_after, cap))
    return isinstance(exc, TransientError)


def _retry_schedule(
    on: Callable[[Exception], bool | float], *, retries: int, initial: float, cap: float
) -> Iterable[stamina.Attempt]:
    """stamina's attempts for one request: `retries` retries, `on` deciding each wait."""
    return stamina.retry_context(
        on=on,
        attempts=retries + 1,
        timeout=None,
        wait_initial=initial,
        wait_max=cap,
        wait_jitter=initial,
    )


# Renewing ahead of expiry -----------------------------------------------------------------
# A bearer whose JWT payload carries `exp` is renewed once `now` is within a margin of it:
# RENEW_AHEAD_FRACTION of its life (exp - iat, or exp - the time it was obtained when it has
# no iat), at least RENEW_AHEAD_MIN_SECONDS, at most half its life (so a short-lived token is
# still used for half its life, not renewed on every request). Renewal: `POST
# /api/auth/refresh` with the bearer while it is still valid (an expired one is never sent
# there); when that fails, a new login with the login key, if one is configured; when that
# fails too, the bearer is used until it expires (one try per token). Past its `exp`: a new
# login, if there is a key; else the bearer is sent as it is and the API's 401 ends the run.
# A token that is not a JWT, or has no `exp`, is renewed on a 401 only (as before).
RENEW_AHEAD_FRACTION = 0.10
RENEW_AHEAD_MIN_SECONDS = 300.0


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _claim_time(value: Any) -> float | None:
    """A JWT time claim (seconds since the epoch) as a float; None when it is not one."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds > 0 else None


def jwt_times(token: str) -> tuple[float | None, float | None]:
    """``(iat, exp)`` of a JWT's payload in seconds since the epoch, None for a claim it lacks
    (both for a token that is not a JWT). The signature is not checked: the times only
    schedule the token's renewal."""
    parts = token.split(".")
    if len(parts) != 3:
        return None, None
    payload = parts[1]
    try:
        data = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, orjson.JSONDecodeError):  # binascii.Error is a ValueError
        return None, None
    if not isinstance(data, Mapping):
        return None, None
    return _claim_time(data.get("iat")), _claim_time(data.get("exp"))


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


# -----------------------------------------------------------------------------------------
@dataclass
class ApiResponse:
    """One successful (or, for legacy REST, accepted) answer: the body byte for byte."""

    method: str
    endpoint: str  # the path, e.g. /api/messages
    params: dict[str, str]  # the query string only: never a credential
    status_code: int
    body: bytes
    data: Any
    fetched_at: datetime
    elapsed: float
    attempts: int = 1

    @property
    def label(self) -> str:
        return f"{self.method} {self.endpoint}"


@dataclass
class ClientStats:
    requests: int = 0
    responses: Counter[int] = field(default_factory=Counter)  # status code -> count
    retries: Counter[str] = field(default_factory=Counter)  # reason -> count
    waits: list[float] = field(default_factory=list)  # waits chosen from Retry-After
    renewals: int = 0  # tokens replaced (refresh or a new login), ahead or after a 401
    renewals_ahead: int = 0  # of which scheduled by the token's `exp`, not by a 401
    logins: int = 0


class ClientCredentials(Protocol):
    """The credentials `BSGClient.from_settings` sends (`Settings.credentials()`)."""

    @property
    def api_token(self) -> str | None: ...
    @property
    def api_login_key(self) -> str | None: ...
    @property
    def rest_api_key(self) -> str | None: ...


class ClientSettings(Protocol):
    """What `BSGClient.from_settings` reads (`bsg_analytics.settings.Settings` is one)."""

    @property
    def api_url(self) -> str: ...
    @property
    def rest_url(self) -> str: ...
    @property
    def timezone(self) -> str: ...
    @property
    def page_limit(self) -> int: ...
    @property
    def concurrency(self) -> int: ...
    @property
    def max_retries(self) -> int: ...
    @property
    def backoff_max_seconds(self) -> float: ...
    @property
    def timeout_seconds(self) -> float: ...
    @property
    def verify_tls(self) -> bool: ...
    @property
    def export_timeout_seconds(self) -> float: ...
    @property
    def export_poll_max_seconds(self) -> float: ...
    def credentials(self) -> ClientCredentials: ...
    def secrets(self) -> list[str]: ...


class _Secret:
    """Holds one credential; prints as the scrubber's mask."""

    __slots__ = ("value",)

    def __init__(self, value: str | None):
        self.value = value or None

    def __repr__(self) -> str:
        return Scrubber.MASK

    def __bool__(self) -> bool:
        return bool(self.value)


@dataclass(frozen=True)
class _Call:
    """One request as asked; a followed redirect makes a new one (same `label`)."""

    label: str  # method and path as asked, for errors
    method: str
    path: str
    url: httpx.URL
    params: dict[str, str]
    json: Any
    family: str  # "api" (bearer) or "rest" (X-API-KEY)
    validate: Validator | None
    accept_status: AcceptStatus | None
    skim: msgspec.json.Decoder[Any] | None = None  # `skim_decoder`: decode only this much


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    port = url.port or {"http": 80, "https": 443}.get(url.scheme)
    return (url.scheme, url.host, port)


def http_date(value: str | None) -> datetime | None:
    """An HTTP date (``Date``, ``Retry-After``) as an aware datetime; None when it is not one."""
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def date_offset(date: str, received_at: datetime) -> float | None:
    """Seconds an answer's ``Date`` header reads ahead of `received_at` (negative: behind);
    None when it is not an HTTP date."""
    sent = http_date(date)
    return None if sent is None else (sent - received_at).total_seconds()


def clock_gap(seconds: float) -> str:
    """A clock difference for people: "42 s", "7 min", "3 h 5 min"."""
    whole = round(abs(seconds))
    if whole < 120:
        return f"{whole} s"
    hours, minutes = divmod(round(whole / 60), 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds: a number, or an HTTP date (seconds from `now`, >= 0: pass
    the answer's own ``Date``, so a server whose clock differs from this machine's is read
    right; default this machine's now)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    when = http_date(value)
    if when is None:
        return None
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def api_message(data: Any) -> str | None:
    """The API's own words from an error body: ``message`` and ``errors`` (422; a field's
    words that repeat the message are not said twice), or the legacy ``errorDescription``."""
    if not isinstance(data, Mapping):
        return None
    parts = []
    for key in ("message", "error_description", "errorDescription", "detail"):
        if data.get(key):
            parts.append(str(data[key]))
    errors = data.get("errors")
    if errors:
        if isinstance(errors, Mapping):
            for k, v in errors.items():
                words = "; ".join(map(str, v)) if isinstance(v, list) else str(v)
                if words not in parts:
                    parts.append(f"{k}: {words}")
        elif isinstance(errors, list):
            parts.extend(map(str, errors))
        else:
            parts.append(str(errors))
    return " | ".join(parts) or None


def legacy_error_code(data: Any) -> int | None:
    """The legacy ``error`` field as an int (it comes as a number or a string); 0 = none."""
    if not isinstance(data, Mapping) or "error" not in data:
        return None
    try:
        return int(str(data["error"]).strip())
    except ValueError:
        return None


class BSGClient:
    """Thread-safe client of the BSG APIs. Use as a context manager, or call `close()`."""

    def __init__(
        self,
        *,
        api_url: str = DEFAULT_API_URL,
        rest_url: str = DEFAULT_REST_URL,
        api_token: str | None = None,
        api_login_key: str | None = None,
        rest_api_key: str | None = None,
        secrets: list[str] | tuple[str, ...] = (),
        timezone: str = "UTC",
        page_limit: int = 500,
        concurrency: int = 8,
        max_retries: int = 8,
        backoff_max_seconds: float = 30.0,
        backoff_initial_seconds: float = 0.5,
        timeout_seconds: float = 30.0,
        verify_tls: bool = True,
        export_timeout_seconds: float = 900.0,
        export_poll_max_seconds: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        http: httpx.Client | None = None,
        limiter: AIMDLimiter | None = None,
        now: Callable[[], datetime] | None = None,
    ):
        """`now` is the clock (an aware datetime) that schedules token renewal; tests pass
        their own."""
        self.api_url = httpx.URL(api_url.rstrip("/"))
        self.rest_url = httpx.URL(rest_url.rstrip("/"))
        self.timezone = timezone
        self.page_limit = page_limit
        # the campaign list path that answered (the pages spell it two ways)
        self.campaign_list_path: str | None = None
        # what the streams learnt of this server, once per client (`learn`): e.g.
        # "messages_type_filter" (whether /api/messages honours filter[type])
        self.learned: dict[str, Any] = {}
        self._learn_lock = threading.Lock()
        self._clamped: set[str] = set()  # paths whose page limit was clamped (logged once)
        self.now = now or _utcnow
        self.max_retries = max_retries
        self.backoff_max_seconds = backoff_max_seconds
        self.backoff_initial_seconds = backoff_initial_seconds
        self._login_key = _Secret(api_login_key)
        self._rest_key = _Secret(rest_api_key)
        self.scrubber = Scrubber(
            [*secrets, api_token or "", api_login_key or "", rest_api_key or ""]
        )
        self.limiter = limiter or AIMDLimiter(concurrency)
        self.stats = ClientStats()
        self._auth_lock = threading.Lock()
        self._stats_lock = threading.Lock()
        self._token = _Secret(None)
        self._token_generation = -1
        self._expires_at: float | None = None  # the bearer's `exp`, when it says
        self._renew_at: float | None = None  # when to renew it ahead of that
        self._ahead_tried = -2  # the token generation whose renewal ahead was tried
        self._set_token(api_token, issued=False)
        self._cancelled = threading.Event()
        self._api_date: tuple[str, datetime] | None = None  # the latest Date, when it came
        self._owns_http = http is None
        if http is None:
            pool = max(concurrency, 1) * 2
            http = httpx.Client(
                transport=transport,
                timeout=httpx.Timeout(timeout_seconds),
                verify=verify_tls,
                follow_redirects=False,
                limits=httpx.Limits(max_connections=pool, max_keepalive_connections=pool),
                headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            )
        else:
            http.follow_redirects = False
        self.http = http
        # the statistics export jobs (`bsg_client.exports`): their slots, polls and limits
        self.exports = ExportJobs(
            self, timeout_seconds=export_timeout_seconds, poll_max_seconds=export_poll_max_seconds
        )

    @classmethod
    def from_settings(
        cls,
        settings: ClientSettings,
        transport: httpx.BaseTransport | None = None,
        http: httpx.Client | None = None,
        **overrides: Any,
    ) -> BSGClient:
        """A client configured by `settings`; `overrides` replace any keyword of `__init__`."""
        creds = settings.credentials()
        kwargs: dict[str, Any] = dict(
            api_url=settings.api_url,
            rest_url=settings.rest_url,
            api_token=creds.api_token,
            api_login_key=creds.api_login_key,
            rest_api_key=creds.rest_api_key,
            secrets=settings.secrets(),
            timezone=settings.timezone,
            page_limit=settings.page_limit,
            concurrency=settings.concurrency,
            max_retries=settings.max_retries,
            backoff_max_seconds=settings.backoff_max_seconds,
            timeout_seconds=settings.timeout_seconds,
            verify_tls=settings.verify_tls,
            export_timeout_seconds=settings.export_timeout_seconds,
            export_poll_max_seconds=settings.export_poll_max_seconds,
            transport=transport,
            http=http,
        )
        kwargs.update(overrides)
        return cls(**kwargs)

    # lifecycle ---------------------------------------------------------------------------
    def close(self) -> None:
        if self._owns_http:
            self.http.close()

    def __enter__(self) -> BSGClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"BSGClient(api_url={str(self.api_url)!r}, rest_url={str(self.rest_url)!r})"

    def scrub(self, text: object) -> str:
        return self.scrubber.scrub(text)

    def cancel(self) -> None:
        """Stop: every request not yet sent, and every retry, raises `BSGCancelled` (a sync
        interrupted by Ctrl-C or by a failure ends its other jobs at once this way)."""
        self._cancelled.set()

    def resume(self) -> None:
        """Accept requests again after `cancel` (a new run on the same client)."""
        self._cancelled.clear()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`; True (at once) when the client is or gets cancelled."""
        return self._cancelled.wait(seconds)

    # auth ----------------------------------------------------------------------------------
    @property
    def has_rest_key(self) -> bool:
        return bool(self._rest_key)

    def _bearer(self) -> tuple[str, int]:
        """The current bearer token and its generation: logs in first if there is none, and
        renews one that is due (*Renewing ahead of expiry*)."""
        with self._auth_lock:
            if self._token.value is None:
                if not self._login_key:
                    raise BSGAuthError(
                        "no One API credentials: set BSG_API_TOKEN or BSG_API_LOGIN_KEY"
                    )
                self._login_locked()
            elif self._renew_at is not None and self._clock() >= self._renew_at:
                self._renew_ahead_locked()
            token = self._token.value
            assert token is not None
            return token, self._token_generation

    def _clock(self) -> float:
        return self.now().timestamp()

    def _expired_locked(self) -> bool:
        return self._expires_at is not None and self._clock() >= self._expires_at

    def _renew_ahead_locked(self) -> None:
        """The bearer is due: refresh it while it is valid, else (or when that fails) log in
        again with the key, if there is one. A failure while it is still valid is logged and
        the bearer is used until it expires (one try per token)."""
        assert self._expires_at is not None
        when = _when(self._expires_at)
        if self._expired_locked():
            self._renew_at = None  # one decision per token
            if self._login_key:
                log.info("the bearer token expired at %s; logging in again", when)
                self._login_locked()
                self._count_ahead()
            # else: sent as it is (the clocks may differ); a 401 says it is refused
            return
        if self._ahead_tried == self._token_generation:
            return
        self._ahead_tried = self._token_generation
        try:
            if self._refresh_locked():
                log.info("the bearer token (expiring at %s) was refreshed ahead of time", when)
                self._count_ahead()
                return
            failure = "the API refused the refresh"
        except BSGAPIError as exc:  # a transport failure: text already scrubbed
            failure = str(exc)
        if self._login_key:
            try:
                self._login_locked()
            except BSGAPIError as exc:
                failure += f"; {exc}"
            else:
                log.info("the bearer token (expiring at %s) was renewed by a new login", when)
                self._count_ahead()
                return
        log.warning(
            "could not renew the bearer token ahead of its expiry at %s (%s); it is used "
            "until then%s",
            when,
            failure,
            "" if self._login_key else " (set BSG_API_LOGIN_KEY to let the client log in)",
        )

    def _count_ahead(self) -> None:
        with self._stats_lock:
            self.stats.renewals_ahead += 1

    def _renew(self, generation: int, label: str, answer: str | None) -> None:
        """After a 401: get a new token, unless another thread already did."""
        with self._auth_lock:
            if generation != self._token_generation:
                return  # renewed meanwhile by another thread
            if not self._login_key:
                reason = f": {answer}" if answer else ""
                expired = (
                    f" (it expired at {_when(self._expires_at)})"
                    if self._expires_at is not None and self._expired_locked()
                    else ""
                )
                raise BSGAuthError(
                    self.scrub(
                        f"{label}: the API refused the bearer token (401){reason}{expired}; "
                        "check BSG_API_TOKEN (a static token cannot be renewed; "
                        "set BSG_API_LOGIN_KEY to let the client log in)"
                    ),
                    endpoint=label,
                    status_code=401,
                    api_message=self.scrub(answer) if answer else None,
                )
            if self._refresh_locked():
                return
            self._login_locked()

    def _auth_post(
        self, path: str, *, json: dict[str, str | None] | None, bearer: str | None
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
        url = self.api_url.join(self.api_url.path.rstrip("/") + path)
        try:
            return self.http.post(url, json=json, headers=headers)
        except httpx.HTTPError as exc:
            raise BSGAPIError(
                self.scrub(f"POST {path}: {type(exc).__name__}: {exc}"), endpoint=f"POST {path}"
            ) from None

    def _take_bearer(self, resp: httpx.Response) -> str | None:
        try:
            data = orjson.loads(resp.content)
        except orjson.JSONDecodeError:
            return None
        token = data.get("bearer") if isinstance(data, Mapping) else None
        if isinstance(token, str) and token:
            self.scrubber.add(token)
            return token
        return None

    def _refresh_locked(self) -> bool:
        """Trade the current bearer for a new one; False when the API refuses (or when the
        bearer has expired: an expired one is never sent to refresh)."""
        if not self._token or self._expired_locked():
            return False
        resp = self._auth_post("/api/auth/refresh", json=None, bearer=self._token.value)
        token = self._take_bearer(resp) if resp.status_code < 300 else None
        if token:
            self._set_token(token)
            with self._stats_lock:
                self.stats.renewals += 1
            return True
        return False

    def _login_locked(self) -> str:
        """Exchange the login key for a bearer token, which becomes (and is) the current one."""
        resp = self._auth_post(
            "/api/auth/login", json={"api_key": self._login_key.value}, bearer=None
        )
        token = self._take_bearer(resp) if resp.status_code < 300 else None
        if not token:
            msg = api_message(_safe_json(resp.content))
            raise BSGAuthError(
                self.scrub(
                    f"POST /api/auth/login: the API refused the login key "
                    f"(HTTP {resp.status_code}{': ' + msg if msg else ''}); check BSG_API_LOGIN_KEY"
                ),
                endpoint="POST /api/auth/login",
                status_code=resp.status_code,
                api_message=self.scrub(msg) if msg else None,
            )
        with self._stats_lock:
            self.stats.logins += 1
            if self._token:
                self.stats.renewals += 1
        self._set_token(token)
        return token

    def _set_token(self, token: str | None, *, issued: bool = True) -> None:
        """`token` becomes the current bearer (a new generation); when its JWT payload says
        when it expires, its renewal ahead of that is scheduled. `issued`: just obtained
        from the API (a configured token is not)."""
        self._token = _Secret(token)
        self._token_generation += 1
        self._expires_at = self._renew_at = None
        iat, exp = jwt_times(token) if token else (None, None)
        if exp is None:
            return
        now = self._clock()
        start = iat if iat is not None and iat < exp else now
        life = max(exp - start, 0.0)
        margin = min(max(life * RENEW_AHEAD_FRACTION, RENEW_AHEAD_MIN_SECONDS), life / 2)
        self._expires_at = exp
        self._renew_at = exp - margin
        if issued and self._renew_at <= now:
            # due as soon as issued: this machine's clock and the API's disagree; renewing
            # ahead would renew on every request
            log.warning(
                "the bearer token just issued expires at %s, which this machine's clock "
                "puts within %.0f s: is the clock right? it is renewed on a 401 only",
                _when(exp),
                margin,
            )
            self._renew_at = None

    def _auth_headers(self, family: str) -> tuple[dict[str, str], int]:
        """The credential header of `family`, and the token generation it carries (-1: none)."""
        if family == "api":
            token, generation = self._bearer()
            return {"Authorization": f"Bearer {token}"}, generation
        rest_key = self._rest_key.value
        if not rest_key:
            raise BSGAuthError("no legacy REST key: set BSG_API_KEY")
        return {"X-API-KEY": rest_key}, -1

    # what the streams learn of the server ---------------------------------------------------
    def learn(self, fact: str, probe: Callable[[], Any]) -> Any:
        """The answer to `fact` about this server: cached in `learned`, else `probe()`'s,
        asked once per client (other threads asking meanwhile wait for it). A probe that
        raises, or answers None (it could not tell), caches nothing: the next call asks
        again."""
        if fact in self.learned:
            return self.learned[fact]
        with self._learn_lock:
            if fact not in self.learned:
                answer = probe()
                if answer is None:
                    return None
                self.learned[fact] = answer
            return self.learned[fact]

    def remember(self, fact: str, answer: Any) -> None:
        """Replace what `learn` cached of `fact` (the server showed otherwise)."""
        with self._learn_lock:
            self.learned[fact] = answer

    def page_limit_for(self, path: str, limit: int | None = None) -> int:
        """`limit` (default: the configured `page_limit`) clamped into the ``page[limit]``
        range `path` accepts (`PAGE_LIMITS`); the first clamp of each path is logged."""
        wanted = int(limit or self.page_limit)
        bounds = PAGE_LIMITS.get(path)
        if bounds is None:
            return wanted
        low, high = bounds
        got = min(max(wanted, low), high)
        if got != wanted:
            with self._stats_lock:
                first = path not in self._clamped
                self._clamped.add(path)
            if first:
                log.info(
                    "page limit %d is outside the %d..%d that GET %s accepts: asking for %d",
                    wanted, low, high, path, got,
                )  # fmt: skip
        return got

    # the request core ----------------------------------------------------------------------
    def _url(self, family: str, path: str) -> httpx.URL:
        base = self.api_url if family == "api" else self.rest_url
        return base.join(base.path.rstrip("/") + path)

    def _backoff_hook(self, exc: Exception) -> bool | float:
        """stamina's hook: no retry once cancelled, else the policy's wait (`_retry_wait`)."""
        if self._cancelled.is_set():
            return False  # stopped: no more tries
        wait = _retry_wait(exc, self.backoff_max_seconds)
        if not isinstance(wait, bool):
            with self._stats_lock:
                self.stats.waits.append(wait)
        return wait

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        family: str = "api",
        validate: Validator | None = None,
        accept_status: AcceptStatus | None = None,
        retries: int | None = None,
        skim: msgspec.json.Decoder[Any] | None = None,
    ) -> ApiResponse:
        """One call with retries (`retries`, default ``max_retries``). `family` is ``api``
        (bearer) or ``rest`` (X-API-KEY).

        `validate(data)` returns a reason when a 2xx JSON body is malformed (retried, like a
        truncated body). `accept_status(status, data)` lets legacy REST accept 4xx answers
        that carry an error body. `skim` (`skim_decoder`) decodes a 2xx body only as far as
        it says, the rest left to whoever reads the landed body.
        """
        call = _Call(
            label=f"{method} {path}",
            method=method,
            path=path,
            url=self._url(family, path),
            params={k: str(v) for k, v in (params or {}).items()},
            json=json,
            family=family,
            validate=validate,
            accept_status=accept_status,
            skim=skim,
        )
        attempts = 0
        schedule = _retry_schedule(
            self._backoff_hook,
            retries=self.max_retries if retries is None else retries,
            initial=self.backoff_initial_seconds,
            cap=self.backoff_max_seconds,
        )
        try:
            for attempt in schedule:
                with attempt:
                    if self._cancelled.is_set():
                        raise BSGCancelled(f"{call.label}: stopped")
                    attempts += 1
                    resp = self._attempt(call)
                    resp.attempts = attempts
                    return resp
        except TransientError as exc:
            raise BSGRetryError(
                self.scrub(f"{call.label}: still failing after {attempts} attempts: {exc.reason}"),
                endpoint=call.label,
                status_code=exc.status_code,
            ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _attempt(self, call: _Call) -> ApiResponse:
        """One attempt: an answer, or a raise (`TransientError` to retry); renews a refused
        token once and follows same-origin redirects on the way."""
        renewed = False
        hops = 0
        while True:
            headers, generation = self._auth_headers(call.family)
            started = time.perf_counter()
            with self.limiter.slot() as slot:
                resp, body = self._send(call, headers)
                status = resp.status_code
                if status == RATE_LIMIT_STATUS:
                    raise self._rate_limited(slot, resp, body)
                if _is_answer(call, status):
                    answer = self._answer(call, status, body, started)
                    self.limiter.on_success(slot)
                    return answer
            # outside the slot: retry, renew, follow or raise
            if status in RETRY_STATUSES:
                raise self._server_error(status, body)
            if status == 401 and call.family == "api" and not renewed:
                renewed = True
                self._renew(generation, call.label, api_message(_safe_json(body)))
                continue
            if status in REDIRECT_STATUSES and hops < MAX_REDIRECTS:
                hops += 1
                call = self._redirected(call, resp)
                continue
            raise self._error(call.label, status, body, call.family)

    def _send(self, call: _Call, headers: dict[str, str]) -> tuple[httpx.Response, bytes]:
        """Send `call` once and read its whole body; a transport failure raises (retried or not)."""
        with self._stats_lock:
            self.stats.requests += 1
        try:
            resp = self.http.request(
                call.method, call.url, params=call.params, json=call.json, headers=headers
            )
            body = resp.content  # read whole: a cut body raises here
        except _TRANSPORT_ERRORS as exc:
            raise self._transport_failure(call.label, exc) from None
        with self._stats_lock:
            self.stats.responses[resp.status_code] += 1
        date = resp.headers.get("date") if call.family == "api" else None
        if date:  # the One API's clock (the legacy REST host may keep another)
            self._api_date = (date, self.now())
        return resp, body

    def _transport_failure(self, label: str, exc: httpx.HTTPError) -> Exception:
        """The error a transport failure raises: `TransientError` when the policy retries it."""
        reason = _transport_retry_reason(exc)
        if reason is None:
            return BSGAPIError(self.scrub(f"{label}: {type(exc).__name__}: {exc}"), endpoint=label)
        self._count_retry(reason)
        if reason == "timeout":
            return TransientError(self.scrub(f"timeout ({type(exc).__name__})"))
        return TransientError(self.scrub(f"connection failed ({type(exc).__name__}: {exc})"))

    def _rate_limited(self, slot: Slot, resp: httpx.Response, body: bytes) -> RateLimited:
        """A 429: the limiter backs off, and the retry waits the answer's ``Retry-After``."""
        self.limiter.on_throttle(slot)
        self._count_retry(str(RATE_LIMIT_STATUS))
        retry_after = parse_retry_after(
            resp.headers.get("Retry-After"), now=http_date(resp.headers.get("date"))
        )
        msg = api_message(_safe_json(body))
        return RateLimited(
            self.scrub(f"HTTP 429{': ' + msg if msg else ''}"), retry_after=retry_after
        )

    def _server_error(self, status: int, body: bytes) -> TransientError:
        """A retried 5xx (`RETRY_STATUSES`), named by status and body kind."""
        self._count_retry(str(status))
        kind = "HTML" if _looks_like_html(body) else "body"
        return TransientError(f"HTTP {status} ({kind})", status_code=status)

    def _answer(self, call: _Call, status: int, body: bytes, started: float) -> ApiResponse:
        """Decode an answer: a bad 2xx body is retried, a 4xx the caller does not accept raises."""
        if status < 300:
            data, reason = _decode(body, call.validate, call.skim)
        else:
            data, reason = _decode(body, None)
        if status >= 300:
            accepted = call.accept_status is not None and call.accept_status(status, data)
            if reason is not None or not accepted:
                raise self._error(call.label, status, body, call.family)
        elif reason is not None:
            self._count_retry(BAD_BODY)
            raise TransientError(
                f"HTTP {status} with {reason} ({len(body)} bytes)", status_code=status
            )
        return ApiResponse(
            method=call.method,
            endpoint=call.path,
            params=dict(call.params),
            status_code=status,
            body=body,
            data=data,
            fetched_at=datetime.now(UTC),
            elapsed=time.perf_counter() - started,
        )

    def _redirected(self, call: _Call, resp: httpx.Response) -> _Call:
        """`call` sent to a redirect's same-origin ``Location``; any other target raises."""
        status = resp.status_code
        location = resp.headers.get("Location")
        target = call.url.join(location) if location else None
        if target is None or _origin(target) != _origin(call.url):
            raise BSGAPIError(
                f"{call.label}: HTTP {status} redirect to another origin "
                f"({target.host if target else 'no Location'}); not followed",
                endpoint=call.label,
                status_code=status,
            )
        # the Location carries its own query; a 303 turns the request into a GET
        if status == 303:
            return replace(call, url=target, params={}, method="GET", json=None)
        return replace(call, url=target, params={})

    def _count_retry(self, reason: str) -> None:
        with self._stats_lock:
            self.stats.retries[reason] += 1

    def retried(self) -> tuple[int, float]:
        """Requests tried again so far, and the seconds their chosen waits add up to (read
        under the lock the threads that count them take)."""
        with self._stats_lock:
            return sum(self.stats.retries.values()), sum(self.stats.waits)

    # the API's clock ---------------------------------------------------------------------
    def api_clock_offset(self) -> float | None:
        """Seconds the API's clock reads ahead of this machine's (negative: behind), from the
        ``Date`` of its latest answer; with none seen yet, one ``GET`` of the balance asks (a
        single try: its failure, like an API that sends no ``Date``, answers None). ``Date``
        is whole seconds, stamped before the answer travels: the figure errs towards
        "behind", by up to a second plus the latency."""
        if self._api_date is None:
            try:
                self.request("GET", CLOCK_PROBE_PATH, retries=0)
            except BSGCancelled:
                raise
            except BSGAPIError as exc:
                log.debug("could not ask the API's clock: %s", exc)
        return None if self._api_date is None else date_offset(*self._api_date)

    def _after_now_hint(self) -> str:
        offset = None if self._api_date is None else date_offset(*self._api_date)
        behind = (
            f"the API's clock reads {clock_gap(-offset)} behind this machine's"
            if offset is not None and offset < -1
            else "this machine's clock may be ahead of the API's"
        )
        return f"{behind}: check this machine's clock, or wait a minute, and run it again"

    def _error(self, label: str, status: int, body: bytes, family: str = "api") -> BSGAPIError:
        msg = api_message(_safe_json(body))
        msg = self.scrub(msg) if msg else None
        if family == "rest" and status in (401, 403):
            return self._legacy_refused(label, f"HTTP {status}", msg, status)
        hint = {
            401: "the API refused the credentials after a renewal",
            403: "forbidden: the credentials lack access",
            404: "not found",
            422: "the API refused the request's parameters",
        }.get(status, "unexpected answer")
        cls = BSGAuthError if status in (401, 403) else BSGAPIError
        text = f"{label}: HTTP {status} ({hint})" + (f": {msg}" if msg else "")
        if status == 422 and msg and AFTER_NOW_WORDS in msg.lower():
            text += f"; {self._after_now_hint()}"
        return cls(self.scrub(text), endpoint=label, status_code=status, api_message=msg)

    def _legacy_refused(
        self, label: str, what: str, msg: str | None, status: int | None
    ) -> BSGAuthError:
        """The legacy REST key refused (error 2 or 4 in a 200, or a 401/403): one line."""
        words = " ".join(msg.split()) if msg else ""
        text = f"the legacy REST key was refused ({label}: {what}{', ' + words if words else ''})"
        return BSGAuthError(
            self.scrub(text + "; check BSG_API_KEY"),
            endpoint=label,
            status_code=status,
            api_message=self.scrub(words) if words else None,
        )

    # endpoints -----------------------------------------------------------------------------
    def get_list_page(
        self, path: str, params: Mapping[str, Any], skim: tuple[str, ...] | None = None
    ) -> ApiResponse:
        """One page of a One API list endpoint (``/api/messages``, ``/api/campaigns``);
        `skim` names the only fields of each record its `data` keeps (`skim_decoder`)."""
        decoder = skim_decoder(skim) if skim is not None else None
        return self.request("GET", path, params=params, validate=_validate_list_page, skim=decoder)

    def paginate(
        self, path: str, params: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> Pagination:
        """See `bsg_client.pagination.paginate`."""
        from bsg_client.pagination import paginate

        return paginate(self, path, params or {}, **kwargs)

    def get_campaign_detail(self, campaign_id: int | str) -> ApiResponse:
        return self.request(
            "GET", f"/api/campaigns/{_segment(campaign_id)}/detail", validate=_validate_object
        )

    def get_balance(self) -> ApiResponse:
        """``GET /api/accounts/balance``: ``{"data": {"balance", "currency", "credit"}}``. Any
        JSON object is an answer: one of another shape is the transform's to quarantine."""
        return self.request("GET", BALANCE_PATH, validate=_validate_object)

    # legacy REST: every call answers the parsed body, "not found" and other error codes
    # included (callers land it and read `legacy_error_code`); a refused key raises
    def legacy_sms(self, sms_id: int | str) -> ApiResponse:
        """``GET /rest/sms/{id}``: one SMS."""
        return self._legacy(f"/rest/sms/{_segment(sms_id)}")

    def legacy_sms_by_reference(self, reference: str) -> ApiResponse:
        """``GET /rest/sms/reference/{reference}``: one SMS by the sender's reference."""
        return self._legacy(f"/rest/sms/reference/{_segment(reference)}")

    def legacy_sms_status(self, ids: Iterable[int | str]) -> ApiResponse:
        """``POST /rest/sms/getStatus`` with ``{"ids": [...]}``: many SMS in one call,
        answered as ``{"result": [{id, external_id, msisdn, time_sent, time_dr, status,
        price, currency}, ...]}``. At most `LEGACY_STATUS_MAX_IDS` (100) ids a call: callers
        batch. ValueError: no id, more than 100, or one that is not a whole number >= 1."""
        wanted = [_sms_id(value) for value in ids]
        if not wanted:
            raise ValueError("legacy_sms_status: no SMS id given")
        if len(wanted) > LEGACY_STATUS_MAX_IDS:
            raise ValueError(
                f"legacy_sms_status: {len(wanted)} ids given, at most "
                f"{LEGACY_STATUS_MAX_IDS} a call; send them in batches"
            )
        return self._legacy("/rest/sms/getStatus", method="POST", json={"ids": wanted})

    def legacy_viber(self, viber_id: int | str) -> ApiResponse:
        """``GET /rest/viber/{id}``: one Viber message, with its SMS fallback (`alt_route`)."""
        return self._legacy(f"/rest/viber/{_segment(viber_id)}")

    def legacy_viber_by_reference(self, reference: str) -> ApiResponse:
        """``GET /rest/viber/reference/{reference}``: one Viber message by reference."""
        return self._legacy(f"/rest/viber/reference/{_segment(reference)}")

    def legacy_task(self, task_id: int | str, path_shape: str = "task") -> ApiResponse:
        """``/rest/sms/task/{id}`` (the published clients) or, with ``path_shape="plain"``,
        ``/rest/sms/{id}`` (the shape the provider's own documentation page shows)."""
        if path_shape not in ("task", "plain"):
            raise ValueError(f"path_shape must be 'task' or 'plain', not {path_shape!r}")
        segment = _segment(task_id)
        path = f"/rest/sms/task/{segment}" if path_shape == "task" else f"/rest/sms/{segment}"
        return self._legacy(path)

    def _legacy(self, path: str, *, method: str = "GET", json: Any = None) -> ApiResponse:
        """Legacy REST: the parsed body, errors included (``{"error": "20", ...}`` in a 200 or
        a 4xx); callers land it and read `legacy_error_code`. A refused key (error 2 or 4,
        `LEGACY_REFUSED`; or HTTP 401/403) raises `BSGAuthError`."""
        resp = self.request(
            method,
            path,
            json=json,
            family="rest",
            validate=_validate_object,
            accept_status=lambda status, data: legacy_error_code(data) is not None,
        )
        code = legacy_error_code(resp.data)
        if code is not None and code in LEGACY_REFUSED:
            said = resp.data.get("errorDescription")
            words = str(said) if said else LEGACY_REFUSED[code]
            raise self._legacy_refused(resp.label, f"error {code}", words, resp.status_code)
        return resp


def _segment(value: object) -> str:
    """`value` as one path segment: a reference with ``/``, ``?`` or ``#`` stays one."""
    return quote(str(value), safe="")


def _sms_id(value: object) -> int:
    """An SMS id for ``getStatus``: a whole number >= 1, given as an int or its digits."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        number = int(value.strip())
    else:
        raise ValueError(f"legacy_sms_status: {value!r} is not an SMS id (a whole number)")
    if number < 1:
        raise ValueError(f"legacy_sms_status: {value!r} is not an SMS id (ids start at 1)")
    return number


def _is_answer(call: _Call, status: int) -> bool:
    """A 2xx, or (when `call` may accept one: legacy REST) a 4xx other than 401/403."""
    if 200 <= status < 300:
        return True
    return call.accept_status is not None and 400 <= status < 500 and status not in (401, 403)


def _looks_like_html(body: bytes) -> bool:
    """An HTML page (a proxy's or a maintenance page) rather than the API's JSON."""
    return body.lstrip()[:1] == b"<"


def _safe_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


@cache
def skim_decoder(fields: tuple[str, ...]) -> msgspec.json.Decoder[Any]:
    """A decoder of a list page that keeps its `meta` whole and of each record of its
    `data` only `fields` (any JSON value each): the paginator needs the ids, the streams a
    few fields more, and the writer decodes the whole page from the landed body with polars.
    A page of 500 messages: 0.45 ms against 2.5 ms for orjson's full decode. It checks the
    whole body is JSON; a body not of this shape (a record that is no object, a huge
    integer, no `data` list) is decoded in full instead, and judged as before."""
    # types made at run time, from `fields`: beyond what a type checker can follow
    record: Any = TypedDict("record", dict.fromkeys(fields, Any), total=False)  # type: ignore[misc]
    page: Any = TypedDict("page", {"data": list[record], "meta": Any}, total=False)
    return msgspec.json.Decoder(page)


def _decode(
    body: bytes, validate: Validator | None, skim: msgspec.json.Decoder[Any] | None = None
) -> tuple[Any, str | None]:
    """The parsed body and why it is unusable (None: it is fine); `skim` first, when given."""
    if skim is not None:
        try:
            data = skim.decode(body)
        except msgspec.DecodeError:
            pass  # not of the skimmed shape, or not JSON: the full decode tells
        else:
            if validate is None or validate(data) is None:
                return data, None
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        kind = "an HTML body" if _looks_like_html(body) else "a truncated or non-JSON body"
        return None, kind
    if validate is not None:
        reason = validate(data)
        if reason:
            return data, reason
    return data, None


def _validate_object(data: Any) -> str | None:
    return None if isinstance(data, dict) else "a body that is not a JSON object"


def _validate_list_page(data: Any) -> str | None:
    if not isinstance(data, dict):
        return "a body that is not a JSON object"
    if not isinstance(data.get("data"), list):
        return "a body without a `data` list"
    return None
