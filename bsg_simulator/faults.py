"""What the ASGI layer does to a request before (or instead of) answering it: the rate limit
(`TokenBucket`), the deterministic fault draws (`FaultPlan`) and the fault answers themselves
(`serve_fault`: 429s, 5xx with JSON or nginx HTML bodies, slow answers, truncated bodies and
dropped connections).

Faults are decided by hashing (seed, method, path + sorted query, attempt number of that same
request), so a retry of the same request gets a fresh draw and every run sees the same sequence,
whatever the thread timing.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .config import SimulatorConfig

Headers = list[tuple[bytes, bytes]]

HTML_5XX = (
    "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{code} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)


class SimulatedDisconnect(Exception):
    """Raised in-process where a real server would drop the connection mid-body."""


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


# ------------------------------------------------------------------ sending
async def send_raw(send: Send, status: int, body: bytes, headers: dict[str, str]) -> None:
    hdrs = [(k.encode(), v.encode()) for k, v in headers.items()]
    hdrs.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": hdrs})
    await send({"type": "http.response.body", "body": body})


async def send_json(
    send: Send, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> None:
    h = {"content-type": "application/json", **(headers or {})}
    await send_raw(send, status, orjson.dumps(body), h)


async def capture(app: ASGIApp, scope: Scope, receive: Receive) -> tuple[int, Headers, bytes]:
    """The app's whole answer (status, headers, body) instead of sending it."""
    out: dict[str, Any] = {"status": 500, "headers": [], "body": b""}

    async def keep(message: Message) -> None:
        if message["type"] == "http.response.start":
            out["status"], out["headers"] = message["status"], list(message["headers"])
        elif message["type"] == "http.response.body":
            out["body"] += message.get("body", b"")

    await app(scope, receive, keep)
    return out["status"], out["headers"], out["body"]


async def too_many(send: Send, headers: dict[str, str] | None = None) -> None:
    await send_json(send, 429, {"message": "Too Many Attempts."}, headers)


# ------------------------------------------------------------------- faults
async def serve_fault(
    kind: str,
    app: ASGIApp,
    scope: Scope,
    receive: Receive,
    send: Send,
    slow_ms: float,
    now: float | None = None,
) -> None:
    """Answer a request the fault plan drew `kind` for (`app` gives the real answer); `now`
    is the simulator's clock (a Retry-After date is by it, like the answer's Date)."""
    if kind == "slow":
        await asyncio.sleep(slow_ms / 1000)
        await app(scope, receive, send)
    elif kind.startswith("429"):
        headers = {}
        if kind == "429_retry_after":
            headers["retry-after"] = "1"
        elif kind == "429_retry_after_date":
            headers["retry-after"] = formatdate((now or time.time()) + 2, usegmt=True)
        await too_many(send, headers)
    elif kind == "500":
        await send_json(send, 500, {"message": "Server Error"})
    elif kind in ("502_html", "503_html"):
        code = int(kind[:3])
        reason = "Bad Gateway" if code == 502 else "Service Temporarily Unavailable"
        headers = {"content-type": "text/html"}
        if code == 503:
            headers["retry-after"] = "1"
        body = HTML_5XX.format(code=code, reason=reason).encode()
        await send_raw(send, code, body, headers)
    else:  # drop, truncated: produce the real answer, then spoil it
        await _spoil(kind, app, scope, receive, send)


async def _spoil(kind: str, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """`truncated`: a 200 with the first half of the body (and its length); `drop`: the real
    headers, half the body, then the connection goes (in process: SimulatedDisconnect)."""
    status, headers, body = await capture(app, scope, receive)
    if kind == "truncated":
        cut = body[: len(body) // 2]
        hdrs = [(k, v) for k, v in headers if k.lower() != b"content-length"]
        hdrs.append((b"content-length", str(len(cut)).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": hdrs})
        await send({"type": "http.response.body", "body": cut})
        return
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
