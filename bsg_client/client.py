"""`BSGClient`: the one HTTP client of the BSG One API and the legacy REST API.

A sync `httpx.Client` (pooled keep-alive connections, timeouts, TLS verified by default,
redirects not followed by httpx) shared by every thread of a run, with:

- auth: a static bearer token, or an API key exchanged at ``POST /api/auth/login`` and
  renewed once per request on a 401 (``POST /api/auth/refresh``, else a new login);
  ``X-API-KEY`` for legacy REST. A header goes only to its own base URL's origin;
- retries (stamina) of 429 (``Retry-After`` seconds or HTTP date, capped), 5xx, timeouts,
  dropped connections and truncated / non-JSON bodies, bounded by ``max_retries``;
- a shared `AIMDLimiter` bounding requests in flight across threads;
- a `Scrubber` through which every error text passes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
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
from bsg_client.limiter import AIMDLimiter

log = logging.getLogger("bsg_client")

DEFAULT_API_URL = "https://one-api.bsg.world"
DEFAULT_REST_URL = "https://api.bsg.world"
RETRY_STATUSES = frozenset({500, 502, 503, 504})
# legacy REST "not found" codes: a normal answer, not a failure
LEGACY_NOT_FOUND = frozenset({20, 30})
MAX_REDIRECTS = 3
USER_AGENT = "bsg-analytics/0.1 (+httpx)"

Validator = Callable[[Any], str | None]


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
    responses: Counter = field(default_factory=Counter)  # status code -> count
    retries: Counter = field(default_factory=Counter)  # reason -> count
    waits: list[float] = field(default_factory=list)  # waits chosen from Retry-After
    renewals: int = 0
    logins: int = 0


class _Secret:
    """Holds one credential; prints as ***."""

    __slots__ = ("value",)

    def __init__(self, value: str | None):
        self.value = value or None

    def __repr__(self) -> str:
        return "***"

    def __bool__(self) -> bool:
        return bool(self.value)


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    port = url.port or {"http": 80, "https": 443}.get(url.scheme)
    return (url.scheme, url.host, port)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds: a number, or an HTTP date (seconds from now, >= 0)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def api_message(data: Any) -> str | None:
    """The API's own words from an error body: ``message`` and ``errors`` (422), or the
    legacy ``errorDescription``."""
    if not isinstance(data, Mapping):
        return None
    parts = []
    for key in ("message", "error_description", "errorDescription", "detail"):
        if data.get(key):
            parts.append(str(data[key]))
    errors = data.get("errors")
    if errors:
        if isinstance(errors, Mapping):
            parts.extend(
                f"{k}: {'; '.join(map(str, v)) if isinstance(v, list) else v}"
                for k, v in errors.items()
            )
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
        transport: httpx.BaseTransport | None = None,
        http: httpx.Client | None = None,
        limiter: AIMDLimiter | None = None,
    ):
        self.api_url = httpx.URL(api_url.rstrip("/"))
        self.rest_url = httpx.URL(rest_url.rstrip("/"))
        self.timezone = timezone
        self.page_limit = page_limit
        # the campaign list path that answered (the pages spell it two ways)
        self.campaign_list_path: str | None = None
        self.max_retries = max_retries
        self.backoff_max_seconds = backoff_max_seconds
        self.backoff_initial_seconds = backoff_initial_seconds
        self._token = _Secret(api_token)
        self._login_key = _Secret(api_login_key)
        self._rest_key = _Secret(rest_api_key)
        self.scrubber = Scrubber(
            [*secrets, api_token or "", api_login_key or "", rest_api_key or ""]
        )
        self.limiter = limiter or AIMDLimiter(concurrency)
        self.stats = ClientStats()
        self._auth_lock = threading.Lock()
        self._stats_lock = threading.Lock()
        self._token_generation = 0
        self._cancelled = threading.Event()
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

    @classmethod
    def from_settings(
        cls,
        settings,
        transport: httpx.BaseTransport | None = None,
        http: httpx.Client | None = None,
        **overrides,
    ) -> BSGClient:
        creds = settings.credentials()
        kwargs = dict(
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

    def __exit__(self, *exc) -> None:
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

    # auth ----------------------------------------------------------------------------------
    @property
    def has_rest_key(self) -> bool:
        return bool(self._rest_key)

    def _bearer(self) -> tuple[str, int]:
        """The current bearer token and its generation; logs in first if needed."""
        with self._auth_lock:
            if not self._token:
                if not self._login_key:
                    raise BSGAuthError(
                        "no One API credentials: set BSG_API_TOKEN or BSG_API_LOGIN_KEY"
                    )
                self._login_locked()
            return self._token.value, self._token_generation  # type: ignore[return-value]

    def _renew(self, generation: int, label: str, answer: str | None) -> None:
        """After a 401: get a new token, unless another thread already did."""
        with self._auth_lock:
            if generation != self._token_generation:
                return  # renewed meanwhile by another thread
            if not self._login_key:
                reason = f": {answer}" if answer else ""
                raise BSGAuthError(
                    self.scrub(
                        f"{label}: the API refused the bearer token (401){reason}; "
                        "check BSG_API_TOKEN (a static token cannot be renewed; "
                        "set BSG_API_LOGIN_KEY to let the client log in)"
                    ),
                    endpoint=label,
                    status_code=401,
                    api_message=self.scrub(answer) if answer else None,
                )
            if self._token and self._refresh_locked():
                return
            self._login_locked()

    def _auth_post(self, path: str, *, json: dict | None, bearer: str | None) -> httpx.Response:
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
        resp = self._auth_post("/api/auth/refresh", json=None, bearer=self._token.value)
        token = self._take_bearer(resp) if resp.status_code < 300 else None
        if token:
            self._set_token(token)
            with self._stats_lock:
                self.stats.renewals += 1
            return True
        return False

    def _login_locked(self) -> None:
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

    def _set_token(self, token: str) -> None:
        self._token = _Secret(token)
        self._token_generation += 1

    # the request core ----------------------------------------------------------------------
    def _url(self, family: str, path: str) -> httpx.URL:
        base = self.api_url if family == "api" else self.rest_url
        return base.join(base.path.rstrip("/") + path)

    def _backoff_hook(self, exc: Exception) -> bool | float:
        if self._cancelled.is_set():
            return False  # stopped: no more tries
        if isinstance(exc, RateLimited) and exc.retry_after is not None:
            wait = float(min(exc.retry_after, self.backoff_max_seconds))
            with self._stats_lock:
                self.stats.waits.append(wait)
            return wait
        return isinstance(exc, TransientError)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        family: str = "api",
        validate: Validator | None = None,
        accept_status: Callable[[int, Any], bool] | None = None,
    ) -> ApiResponse:
        """One call with retries. `family` is ``api`` (bearer) or ``rest`` (X-API-KEY).

        `validate(data)` returns a reason when a 2xx JSON body is malformed (retried, like a
        truncated body). `accept_status(status, data)` lets legacy REST accept 4xx answers
        that carry an error body.
        """
        params = {k: str(v) for k, v in (params or {}).items()}
        label = f"{method} {path}"
        attempts = 0
        try:
            for attempt in stamina.retry_context(
                on=self._backoff_hook,
                attempts=self.max_retries + 1,
                timeout=None,
                wait_initial=self.backoff_initial_seconds,
                wait_max=self.backoff_max_seconds,
                wait_jitter=self.backoff_initial_seconds,
            ):
                with attempt:
                    if self._cancelled.is_set():
                        raise BSGCancelled(f"{label}: stopped")
                    attempts += 1
                    resp = self._attempt(
                        method, path, params, json, family, validate, accept_status
                    )
                    resp.attempts = attempts
                    return resp
        except TransientError as exc:
            raise BSGRetryError(
                self.scrub(f"{label}: still failing after {attempts} attempts: {exc.reason}"),
                endpoint=label,
                status_code=exc.status_code,
            ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _attempt(self, method, path, params, json, family, validate, accept_status) -> ApiResponse:
        label = f"{method} {path}"
        url = self._url(family, path)
        renewed = False
        hops = 0
        while True:
            headers: dict[str, str] = {}
            generation = -1
            if family == "api":
                token, generation = self._bearer()
                headers["Authorization"] = f"Bearer {token}"
            elif self._rest_key:
                headers["X-API-KEY"] = self._rest_key.value  # type: ignore[assignment]
            started = time.perf_counter()
            with self.limiter.slot() as slot:
                try:
                    with self._stats_lock:
                        self.stats.requests += 1
                    resp = self.http.request(method, url, params=params, json=json, headers=headers)
                    body = resp.content  # read whole: a cut body raises here
                except httpx.TimeoutException as exc:
                    self._count_retry("timeout")
                    raise TransientError(self.scrub(f"timeout ({type(exc).__name__})")) from None
                except (httpx.TransportError, httpx.DecodingError) as exc:
                    if isinstance(exc, httpx.UnsupportedProtocol | httpx.ProxyError):
                        raise BSGAPIError(
                            self.scrub(f"{label}: {type(exc).__name__}: {exc}"), endpoint=label
                        ) from None
                    self._count_retry("connection")
                    raise TransientError(
                        self.scrub(f"connection failed ({type(exc).__name__}: {exc})")
                    ) from None
                status = resp.status_code
                with self._stats_lock:
                    self.stats.responses[status] += 1
                if status == 429:
                    self.limiter.on_throttle(slot)
                    self._count_retry("429")
                    retry_after = parse_retry_after(resp.headers.get("Retry-After"))
                    msg = api_message(_safe_json(body))
                    raise RateLimited(
                        self.scrub(f"HTTP 429{': ' + msg if msg else ''}"), retry_after=retry_after
                    )
                if 200 <= status < 300 or (
                    accept_status is not None and 400 <= status < 500 and status not in (401, 403)
                ):
                    data, reason = _decode(body, validate if status < 300 else None)
                    if reason is not None:
                        if status >= 300:
                            raise self._error(label, status, body)
                        self._count_retry("bad body")
                        raise TransientError(
                            f"HTTP {status} with {reason} ({len(body)} bytes)", status_code=status
                        )
                    if status >= 300 and not accept_status(status, data):
                        raise self._error(label, status, body)
                    self.limiter.on_success(slot)
                    return ApiResponse(
                        method=method,
                        endpoint=path,
                        params=dict(params),
                        status_code=status,
                        body=body,
                        data=data,
                        fetched_at=datetime.now(UTC),
                        elapsed=time.perf_counter() - started,
                    )
            # outside the slot: decide what to do with a non-success
            if status in RETRY_STATUSES:
                self._count_retry(str(status))
                kind = "HTML" if body.lstrip()[:1] == b"<" else "body"
                raise TransientError(f"HTTP {status} ({kind})", status_code=status)
            if status == 401 and family == "api" and not renewed:
                renewed = True
                self._renew(generation, label, api_message(_safe_json(body)))
                continue
            if status in (301, 302, 303, 307, 308) and hops < MAX_REDIRECTS:
                location = resp.headers.get("Location")
                target = url.join(location) if location else None
                if target is not None and _origin(target) == _origin(url):
                    hops += 1
                    url = target
                    params = {}  # the Location carries its own query
                    if status == 303:
                        method, json = "GET", None
                    continue
                raise BSGAPIError(
                    f"{label}: HTTP {status} redirect to another origin "
                    f"({target.host if target else 'no Location'}); not followed",
                    endpoint=label,
                    status_code=status,
                )
            raise self._error(label, status, body)

    def _count_retry(self, reason: str) -> None:
        with self._stats_lock:
            self.stats.retries[reason] += 1

    def _error(self, label: str, status: int, body: bytes) -> BSGAPIError:
        msg = api_message(_safe_json(body))
        msg = self.scrub(msg) if msg else None
        hint = {
            401: "the API refused the credentials after a renewal",
            403: "forbidden: the credentials lack access",
            404: "not found",
            422: "the API refused the request's parameters",
        }.get(status, "unexpected answer")
        cls = BSGAuthError if status in (401, 403) else BSGAPIError
        text = f"{label}: HTTP {status} ({hint})" + (f": {msg}" if msg else "")
        return cls(self.scrub(text), endpoint=label, status_code=status, api_message=msg)

    # endpoints -----------------------------------------------------------------------------
    def get_list_page(self, path: str, params: Mapping[str, Any]) -> ApiResponse:
        """One page of a One API list endpoint (``/api/messages``, ``/api/campaign``)."""
        return self.request("GET", path, params=params, validate=_validate_list_page)

    def paginate(self, path: str, params: Mapping[str, Any] | None = None, **kwargs):
        """See `bsg_client.pagination.paginate`."""
        from bsg_client.pagination import paginate

        return paginate(self, path, params or {}, **kwargs)

    def get_campaign_detail(self, campaign_id: int | str) -> ApiResponse:
        return self.request(
            "GET", f"/api/campaigns/{campaign_id}/detail", validate=_validate_object
        )

    def legacy_sms(self, sms_id: int | str) -> ApiResponse:
        return self._legacy(f"/rest/sms/{sms_id}")

    def legacy_sms_by_reference(self, reference: str) -> ApiResponse:
        return self._legacy(f"/rest/sms/reference/{reference}")

    def legacy_task(self, task_id: int | str, path_shape: str = "task") -> ApiResponse:
        """``/rest/sms/task/{id}`` (the published clients) or, with ``path_shape="plain"``,
        ``/rest/sms/{id}`` (the seed page)."""
        path = f"/rest/sms/task/{task_id}" if path_shape == "task" else f"/rest/sms/{task_id}"
        return self._legacy(path)

    def _legacy(self, path: str) -> ApiResponse:
        """Legacy REST: the parsed body, errors included (``{"error": "20", ...}`` in a 200 or
        a 4xx); callers land it and read `legacy_error_code`. 401/403 raise."""
        return self.request(
            "GET",
            path,
            family="rest",
            validate=_validate_object,
            accept_status=lambda status, data: legacy_error_code(data) is not None,
        )


def _safe_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


def _decode(body: bytes, validate: Validator | None) -> tuple[Any, str | None]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        kind = "an HTML body" if body.lstrip()[:1] == b"<" else "a truncated or non-JSON body"
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
