"""The HTTP face of the simulator: a Starlette app for the routes, wrapped in a plain ASGI layer
that adds latency, the rate limit and injected faults before routing.

Faults are decided by hashing (seed, method, path + sorted query, attempt number of that same
request), so a retry of the same request gets a fresh draw and every run sees the same sequence,
whatever the thread timing.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import threading
import time
from email.utils import formatdate
from urllib.parse import parse_qsl

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .config import SimulatorConfig
from .simulator import ApiError, Simulator

AUTH_PATHS = ("/api/auth/login", "/api/auth/refresh")
HTML_5XX = (
    "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{code} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)


class SimulatedDisconnect(Exception):
    """Raised in-process where a real server would drop the connection mid-body."""


def json_response(body, status: int = 200, headers: dict | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json",
                    headers=headers)  # fmt: skip


def _unauthorized(message: str) -> Response:
    return json_response({"message": message}, 401)


class Handlers:
    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    # --------------------------------------------------------------- auth
    def bearer_error(self, request: Request) -> Response | None:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return _unauthorized("Unauthenticated.")
        issued = self.sim.issued_tokens
        if token in issued:
            left = issued[token]
            if left is None:
                return None
            if left <= 0:
                return _unauthorized("Token expired.")
            issued[token] = left - 1
            return None
        want = self.sim.config.token
        if want is not None and token != want:
            return _unauthorized("Unauthenticated.")
        return None

    def api_key_error(self, request: Request) -> Response | None:
        key = request.headers.get("x-api-key", "")
        want = self.sim.config.api_key
        if not key.startswith(("test_", "live_")) or (want is not None and key != want):
            return _unauthorized("Unauthorized: X-API-KEY missing or invalid.")
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
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        want = self.sim.config.token
        if scheme.lower() != "bearer" or not token:
            return _unauthorized("Unauthenticated.")
        if token not in self.sim.issued_tokens and want is not None and token != want:
            return _unauthorized("Unauthenticated.")
        return json_response({"bearer": self.sim.issue_token()})

    # ------------------------------------------------------------ one API
    async def messages(self, request: Request) -> Response:
        if (err := self.bearer_error(request)) is not None:
            return err
        try:
            return json_response(self.sim.messages_page(request.query_params))
        except ApiError as e:
            return json_response(e.body, e.status)

    async def campaigns(self, request: Request) -> Response:
        if (err := self.bearer_error(request)) is not None:
            return err
        try:
            return json_response(self.sim.campaigns_page(request.query_params))
        except ApiError as e:
            return json_response(e.body, e.status)

    async def campaign_detail(self, request: Request) -> Response:
        if (err := self.bearer_error(request)) is not None:
            return err
        raw = request.path_params["id"]
        if not raw.isdigit():
            return json_response({"message": f"Campaign {raw} not found."}, 404)
        try:
            return json_response(self.sim.campaign_detail(int(raw)))
        except ApiError as e:
            return json_response(e.body, e.status)

    # ------------------------------------------------------------- legacy
    async def legacy_sms(self, request: Request) -> Response:
        return self._legacy(request, lambda: self.sim.legacy_lookup(request.path_params["id"]))

    async def legacy_task(self, request: Request) -> Response:
        raw = request.path_params["task_id"]
        return self._legacy(request, lambda: self.sim.legacy_lookup(raw, task_path=True))

    async def legacy_reference(self, request: Request) -> Response:
        ref = request.path_params["reference"]
        return self._legacy(request, lambda: self.sim.legacy_by_reference(ref))

    def _legacy(self, request: Request, fn) -> Response:
        if (err := self.api_key_error(request)) is not None:
            return err
        try:
            return json_response(fn())
        except ApiError as e:
            return json_response(e.body, e.status)


def routes_of(h: Handlers) -> list[Route]:
    return [
        Route("/api/auth/login", h.login, methods=["POST"]),
        Route("/api/auth/refresh", h.refresh, methods=["POST"]),
        Route("/api/messages", h.messages, methods=["GET"]),
        Route("/api/campaign", h.campaigns, methods=["GET"]),
        Route("/api/campaigns", h.campaigns, methods=["GET"]),
        Route("/api/campaigns/{id}/detail", h.campaign_detail, methods=["GET"]),
        Route("/rest/sms/reference/{reference}", h.legacy_reference, methods=["GET"]),
        Route("/rest/sms/task/{task_id}", h.legacy_task, methods=["GET"]),
        Route("/rest/sms/{id}", h.legacy_sms, methods=["GET"]),
    ]


class TokenBucket:
    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self.tokens = self.capacity
        self.t = time.monotonic()
        self.lock = threading.Lock()

    def take(self) -> float:
        """0 if a request may pass, else seconds until one may."""
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.capacity, self.tokens + (now - self.t) * self.rate)
            self.t = now
            if self.tokens >= 1:
                self.tokens -= 1
                return 0.0
            return (1 - self.tokens) / self.rate


class FaultPlan:
    """Deterministic fault draws keyed by the request and its attempt number."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.attempts: dict[str, int] = {}
        self.lock = threading.Lock()
        self.log: list[tuple[str, int, str | None]] = []

    @staticmethod
    def request_key(method: str, path: str, query: bytes) -> str:
        pairs = sorted(parse_qsl(query.decode("latin-1"), keep_blank_values=True))
        return f"{method} {path}?" + "&".join(f"{k}={v}" for k, v in pairs)

    def draw(self, key: str) -> str | None:
        cfg = self.config
        with self.lock:
            attempt = self.attempts.get(key, 0)
            self.attempts[key] = attempt + 1
        if cfg.fault_rate <= 0 or not cfg.fault_kinds:
            return None
        digest = hashlib.blake2b(f"{cfg.seed}|{key}|{attempt}".encode(), digest_size=16).digest()
        u = int.from_bytes(digest[:8], "big") / 2.0**64
        kind = None
        if u < cfg.fault_rate:
            kind = cfg.fault_kinds[int.from_bytes(digest[8:], "big") % len(cfg.fault_kinds)]
        with self.lock:
            self.log.append((key, attempt, kind))
        return kind


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

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.starlette(scope, receive, send)
            return
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
            await self._send(send, 429, {"message": "Too Many Attempts."},
                             {"retry-after": str(max(1, math.ceil(wait)))})  # fmt: skip
            return
        key = FaultPlan.request_key(scope["method"], path, scope.get("query_string", b""))
        kind = self.faults.draw(key)
        if kind is None:
            await self.starlette(scope, receive, send)
        elif kind == "slow":
            await asyncio.sleep(cfg.slow_ms / 1000)
            await self.starlette(scope, receive, send)
        elif kind.startswith("429"):
            headers = {}
            if kind == "429_retry_after":
                headers["retry-after"] = "1"
            elif kind == "429_retry_after_date":
                headers["retry-after"] = formatdate(time.time() + 2, usegmt=True)
            await self._send(send, 429, {"message": "Too Many Attempts."}, headers)
        elif kind == "500":
            await self._send(send, 500, {"message": "Server Error"})
        elif kind in ("502_html", "503_html"):
            code = int(kind[:3])
            reason = "Bad Gateway" if code == 502 else "Service Temporarily Unavailable"
            headers = {"content-type": "text/html"}
            if code == 503:
                headers["retry-after"] = "1"
            body = HTML_5XX.format(code=code, reason=reason).encode()
            await self._raw(send, code, body, headers)
        else:  # drop, truncated: produce the real answer, then spoil it
            status, headers, body = await self._capture(scope, receive)
            if kind == "truncated":
                cut = body[: len(body) // 2]
                hdrs = [(k, v) for k, v in headers if k.lower() != b"content-length"]
                hdrs.append((b"content-length", str(len(cut)).encode()))
                await send({"type": "http.response.start", "status": 200, "headers": hdrs})
                await send({"type": "http.response.body", "body": cut})
            else:
                await send({"type": "http.response.start", "status": status, "headers": headers})
                await send(
                    {
                        "type": "http.response.body",
                        "body": body[: len(body) // 2],
                        "more_body": True,
                    }
                )
                if scope.get("bsg.socket"):
                    return  # the server closes the connection: the body stays incomplete
                raise SimulatedDisconnect(f"connection dropped after {len(body) // 2} bytes")

    async def _capture(self, scope, receive):
        out = {"status": 500, "headers": [], "body": b""}

        async def capture(message):
            if message["type"] == "http.response.start":
                out["status"], out["headers"] = message["status"], list(message["headers"])
            elif message["type"] == "http.response.body":
                out["body"] += message.get("body", b"")

        await self.starlette(scope, receive, capture)
        return out["status"], out["headers"], out["body"]

    @staticmethod
    async def _send(send, status: int, body: dict, headers: dict | None = None) -> None:
        h = {"content-type": "application/json", **(headers or {})}
        await SimulatorApp._raw(send, status, orjson.dumps(body), h)

    @staticmethod
    async def _raw(send, status: int, body: bytes, headers: dict) -> None:
        hdrs = [(k.encode(), v.encode()) for k, v in headers.items()]
        hdrs.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": hdrs})
        await send({"type": "http.response.body", "body": body})


def create_app(config: SimulatorConfig | Simulator | None = None, **overrides) -> SimulatorApp:
    """The ASGI app for a config (a new Simulator) or for an existing Simulator."""
    if isinstance(config, Simulator):
        sim = config
    else:
        sim = Simulator((config or SimulatorConfig()).replace(**overrides))
    if sim._app is None:
        sim._app = SimulatorApp(sim)
    return sim._app
