"""The HTTP face of the simulator: a Starlette app for the routes (`Handlers`: auth, One API,
legacy REST), wrapped in a plain ASGI layer (`SimulatorApp`) that adds latency, the rate limit
and injected faults before routing. The rate limit and the faults are in `faults.py`.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from email.utils import formatdate
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from .config import SimulatorConfig
from .faults import (
    HTML_5XX,
    FaultPlan,
    SimulatedDisconnect,
    TokenBucket,
    serve_fault,
    too_many,
)
from .simulator import ApiError, Simulator, token_payload

__all__ = [
    "AUTH_PATHS",
    "HTML_5XX",
    "FaultPlan",
    "Handlers",
    "SimulatedDisconnect",
    "SimulatorApp",
    "TokenBucket",
    "create_app",
    "json_response",
    "routes_of",
]

AUTH_PATHS = ("/api/auth/login", "/api/auth/refresh")


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json",
                    headers=headers)  # fmt: skip


def _unauthorized(message: str) -> Response:
    return json_response({"message": message}, 401)


class Handlers:
    """The route endpoints: credentials checked, then the simulator's answer as JSON."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    # --------------------------------------------------------------- auth
    @staticmethod
    def _bearer(request: Request) -> str | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        token = token.strip()
        return token if scheme.lower() == "bearer" and token else None

    def bearer_error(self, request: Request) -> Response | None:
        """None when the request's bearer is accepted: one this simulator issued, unexpired
        (its `exp` against the simulator's clock) and with requests left
        (`token_ttl_requests`); else the configured `token`, or - with none configured - any
        bearer but a JWT whose `exp` has passed."""
        token = self._bearer(request)
        if token is None:
            return _unauthorized("Unauthenticated.")
        sim = self.sim
        now = sim.clock.now_s()
        if token in sim.issued_tokens:
            if now >= sim.token_expiry[token]:
                return _unauthorized("Token expired.")
            left = sim.issued_tokens[token]
            if left is None:
                return None
            if left <= 0:
                return _unauthorized("Token expired.")
            sim.issued_tokens[token] = left - 1
            return None
        want = sim.config.token
        if want is not None:
            return None if token == want else _unauthorized("Unauthenticated.")
        payload = token_payload(token)
        if payload is not None and now >= payload["exp"]:
            return _unauthorized("Token expired.")
        return None

    async def login(self, request: Request) -> Response:
        try:
            payload = orjson.loads(await request.body())
            key = payload["api_key"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            msg = "The api key field is required."
            return json_response({"message": msg, "errors": {"api_key": [msg]}}, 422)
        want = self.sim.config.api_key
        if (
            not isinstance(key, str)
            or not key.startswith(("test_", "live_"))
            or (want is not None and key != want)
        ):
            return _unauthorized("Invalid API key.")
        return json_response({"bearer": self.sim.issue_token()})

    async def refresh(self, request: Request) -> Response:
        """A new bearer for one that is still valid: issued here and before its `exp` (one
        out of `token_ttl_requests` may be refreshed), the configured `token`, or - with none
        configured - any bearer but a JWT past its `exp`."""
        token = self._bearer(request)
        sim = self.sim
        if token is None:
            return _unauthorized("Unauthenticated.")
        now = sim.clock.now_s()
        if token in sim.issued_tokens:
            if now >= sim.token_expiry[token]:
                return _unauthorized("Token expired.")
        elif sim.config.token is not None:
            if token != sim.config.token:
                return _unauthorized("Unauthenticated.")
        elif (payload := token_payload(token)) is not None and now >= payload["exp"]:
            return _unauthorized("Token expired.")
        return json_response({"bearer": sim.issue_token()})

    # ------------------------------------------------------------ one API
    def _api(self, request: Request, fn: Callable[[], dict[str, Any]]) -> Response:
        if (err := self.bearer_error(request)) is not None:
            return err
        try:
            return json_response(fn())
        except ApiError as e:
            return json_response(e.body, e.status)

    async def messages(self, request: Request) -> Response:
        return self._api(request, lambda: self.sim.messages_page(request.query_params))

    async def campaigns(self, request: Request) -> Response:
        path = request.url.path
        if not self.sim.campaign_path_served(path):
            return json_response({"message": "Not Found"}, 404)
        return self._api(request, lambda: self.sim.campaigns_page(request.query_params, path=path))

    async def campaign_detail(self, request: Request) -> Response:
        raw = request.path_params["id"]
        if not raw.isdigit():
            return self._api(request, lambda: _not_found(raw))
        return self._api(request, lambda: self.sim.campaign_detail(int(raw)))

    # ------------------------------------------------------ exports, balance
    async def stat_jobs(self, request: Request) -> Response:
        if request.method == "GET":
            return self._api(request, self.sim.stat_jobs_list)
        body = await request.body()
        try:
            payload: Any = orjson.loads(body)
        except orjson.JSONDecodeError:
            payload = None
        return self._api(request, lambda: self.sim.stat_jobs_create(payload))

    async def stat_job(self, request: Request) -> Response:
        key = request.path_params["key"]
        if request.method == "DELETE":
            return self._api(request, lambda: self.sim.stat_jobs_delete(key))
        if (err := self.bearer_error(request)) is not None:
            return err
        return Response(self.sim.stat_job_body(key), media_type="application/json")

    async def balance(self, request: Request) -> Response:
        return self._api(request, self.sim.account_balance)

    # ------------------------------------------------------------- legacy
    async def legacy_sms(self, request: Request) -> Response:
        return self._legacy(request, lambda: self.sim.legacy_lookup(request.path_params["id"]))

    async def legacy_task(self, request: Request) -> Response:
        raw = request.path_params["taskId"]
        return self._legacy(request, lambda: self.sim.legacy_lookup(raw, task_path=True))

    async def legacy_reference(self, request: Request) -> Response:
        ref = request.path_params["reference"]
        return self._legacy(request, lambda: self.sim.legacy_by_reference(ref))

    async def legacy_get_status(self, request: Request) -> Response:
        body = await request.body()
        try:
            payload: Any = orjson.loads(body)
        except orjson.JSONDecodeError:
            payload = None
        return self._legacy(request, lambda: self.sim.legacy_get_status(payload))

    async def viber(self, request: Request) -> Response:
        return self._legacy(request, lambda: self.sim.viber_lookup(request.path_params["id"]))

    async def viber_reference(self, request: Request) -> Response:
        ref = request.path_params["reference"]
        return self._legacy(request, lambda: self.sim.viber_by_reference(ref))

    def _legacy(self, request: Request, fn: Callable[[], dict[str, Any]]) -> Response:
        """Every legacy answer is HTTP 200; a refused key is error 2."""
        try:
            if (err := self.sim.key_error(request.headers.get("x-api-key"))) is not None:
                raise err
            return json_response(fn())
        except ApiError as e:
            return json_response(e.body, e.status)


def _not_found(raw: str) -> dict[str, Any]:
    raise ApiError(404, {"message": f"Campaign {raw} not found."})


def routes_of(h: Handlers) -> list[Route]:
    return [
        Route("/api/auth/login", h.login, methods=["POST"]),
        Route("/api/auth/refresh", h.refresh, methods=["POST"]),
        Route("/api/messages", h.messages, methods=["GET"]),
        Route("/api/campaigns", h.campaigns, methods=["GET"]),
        Route("/api/campaign", h.campaigns, methods=["GET"]),
        Route("/api/campaigns/{id}/detail", h.campaign_detail, methods=["GET"]),
        Route("/api/stat/jobs", h.stat_jobs, methods=["GET", "POST"]),
        Route("/api/stat/jobs/{key}", h.stat_job, methods=["GET", "DELETE"]),
        Route("/api/accounts/balance", h.balance, methods=["GET"]),
        Route("/rest/sms/getStatus", h.legacy_get_status, methods=["POST"]),
        Route("/rest/sms/reference/{reference}", h.legacy_reference, methods=["GET"]),
        Route("/rest/sms/task/{taskId}", h.legacy_task, methods=["GET"]),
        Route("/rest/sms/{id}", h.legacy_sms, methods=["GET"]),
        Route("/rest/viber/reference/{reference}", h.viber_reference, methods=["GET"]),
        Route("/rest/viber/{id}", h.viber, methods=["GET"]),
    ]


class SimulatorApp:
    """The ASGI app: `sim`, `starlette` (the routes) and `faults` are public for tests."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.handlers = Handlers(sim)
        self.starlette = Starlette(routes=routes_of(self.handlers))
        self.routes = self.starlette.routes
        self.faults = FaultPlan(sim.config)
        rate = sim.config.rate_limit
        self.bucket = TokenBucket(rate) if rate and rate > 0 else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.starlette(scope, receive, send)
            return
        send = self._dated(send)
        cfg = self.sim.config
        path = scope["path"]
        if cfg.latency_ms > 0:
            await asyncio.sleep(cfg.latency_ms / 1000)
        if not path.startswith(("/api/", "/rest/")) or (
            cfg.faults_exempt_auth and path in AUTH_PATHS
        ):
            await self.starlette(scope, receive, send)
            return
        if self.bucket is not None and (wait := self.bucket.take()) > 0:
            await too_many(send, {"retry-after": str(max(1, math.ceil(wait)))})
            return
        key = FaultPlan.request_key(scope["method"], path, scope.get("query_string", b""))
        kind = self.faults.draw(key)
        if kind is None:
            await self.starlette(scope, receive, send)
        else:
            now = self.sim.clock.now()
            await serve_fault(kind, self.starlette, scope, receive, send, cfg.slow_ms, now)

    def _dated(self, send: Send) -> Send:
        """`send` with a ``Date`` header by the simulator's clock on every answer, as a server
        stamps its own (uvicorn's, by the machine's clock, is off: `server._server`)."""
        clock = self.sim.clock

        async def dated(message: Message) -> None:
            if message["type"] == "http.response.start":
                stamp = formatdate(clock.now_s(), usegmt=True).encode()
                message = {**message, "headers": [*message.get("headers", []), (b"date", stamp)]}
            await send(message)

        return dated


def create_app(config: SimulatorConfig | Simulator | None = None, **overrides: Any) -> SimulatorApp:
    """The ASGI app for a config (a new Simulator) or for an existing Simulator."""
    if isinstance(config, Simulator):
        sim = config
    else:
        sim = Simulator((config or SimulatorConfig()).replace(**overrides))
    if sim._app is None:
        sim._app = SimulatorApp(sim)
    return sim._app
