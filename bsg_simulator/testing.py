"""Helpers for tests (any team's): a simulator, an in-process httpx transport to it, and a
simulator on a loopback port.

    sim = make_simulator(messages=5_000, quirks=["all=pages"])  # default: the published shapes
    with httpx.Client(transport=inprocess_transport(sim), base_url="http://bsg.test") as c:
        c.get("/api/messages", headers={"Authorization": "Bearer t"})

    with running_simulator(messages=5_000, fault_rate=0.2) as (base_url, sim):
        ...
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import UTC, date, datetime
from typing import Any

import anyio.from_thread
import httpx
from anyio.from_thread import BlockingPortal
from starlette.types import Message, Scope

from .app import SimulatedDisconnect, SimulatorApp, create_app
from .config import QuirkConfig, SimulatorConfig
from .server import run_in_thread
from .simulator import Simulator

# A fixed day and clock for tests that need stable data across days.
TEST_ANCHOR = date(2026, 11, 20)
TEST_NOW = datetime(2026, 11, 20, 12, 0, 0, tzinfo=UTC)


def make_simulator(**cfg: Any) -> Simulator:
    """A Simulator from SimulatorConfig fields; `quirks` may be a QuirkConfig or NAME=VARIANT
    strings. Unless given, `anchor`/`start` are TEST_ANCHOR/TEST_NOW (stable across days)
    and `messages` is 5 000; an export job is ready at once (`export_ready_seconds` 0)."""
    cfg.setdefault("messages", 5_000)
    cfg.setdefault("anchor", TEST_ANCHOR)
    cfg.setdefault("start", TEST_NOW)
    cfg.setdefault("export_ready_seconds", 0.0)  # an export is ready at its first poll
    q = cfg.get("quirks")
    if q is not None and not isinstance(q, QuirkConfig):
        cfg["quirks"] = QuirkConfig.parse(q)
    return Simulator(SimulatorConfig(**cfg))


class InProcessTransport(httpx.BaseTransport):
    """A sync httpx transport that calls the ASGI app in a private event loop thread."""

    def __init__(self, app: SimulatorApp) -> None:
        self.app = app
        self._cm: AbstractContextManager[BlockingPortal] | None = (
            anyio.from_thread.start_blocking_portal()
        )
        self._portal = self._cm.__enter__()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        url = request.url
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": request.method,
            "scheme": url.scheme,
            "path": url.path,
            "raw_path": url.raw_path.split(b"?")[0],
            "query_string": url.query,
            "root_path": "",
            "headers": [(k.lower(), v) for k, v in request.headers.raw],
            "client": ("127.0.0.1", 50000),
            "server": (url.host, url.port or 80),
        }
        try:
            status, headers, content = self._portal.call(self._run, scope, body)
        except SimulatedDisconnect as exc:
            raise httpx.RemoteProtocolError(str(exc), request=request) from exc
        return httpx.Response(status, headers=headers, content=content, request=request)

    async def _run(self, scope: Scope, body: bytes) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        out: dict[str, Any] = {"status": 500, "headers": [], "body": bytearray()}
        sent = False

        async def receive() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await anyio.sleep_forever()  # the body was sent: wait until cancelled
            return {"type": "http.disconnect"}  # not reached

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                out["status"] = message["status"]
                out["headers"] = list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                out["body"] += message.get("body", b"")

        await self.app(scope, receive, send)
        return out["status"], out["headers"], bytes(out["body"])

    def close(self) -> None:
        if self._cm is not None:
            self._cm.__exit__(None, None, None)
            self._cm = None


def inprocess_transport(
    sim_or_app: Simulator | SimulatorApp | SimulatorConfig,
) -> InProcessTransport:
    """`httpx.Client(transport=inprocess_transport(sim), base_url="http://bsg.test")`. Close
    the client (or the transport) when done: it owns an event loop thread."""
    app = sim_or_app if isinstance(sim_or_app, SimulatorApp) else create_app(sim_or_app)
    return InProcessTransport(app)


@contextlib.contextmanager
def running_simulator(realtime: bool = True, **cfg: Any) -> Iterator[tuple[str, Simulator]]:
    """A simulator served on a free loopback port: (base_url, sim). With `realtime` (default)
    its data is anchored on today and its clock starts at the real now, like `bsg-analytics
    simulate`, so clients asking up to "now" are not refused; `realtime=False` gives
    make_simulator's fixed TEST_ANCHOR/TEST_NOW."""
    if realtime:
        cfg.setdefault("anchor", None)
        cfg.setdefault("start", None)
    sim = make_simulator(**cfg)
    with run_in_thread(sim.app) as base_url:
        yield base_url, sim
