"""Serving the simulator over loopback: `main` (the `bsg-analytics simulate` command) and
`run_in_thread` (a background server for tests and the demo)."""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import shlex
import socket
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from .app import SimulatorApp, create_app
from .config import QuirkConfig, SimulatorConfig
from .data import MESSAGE_ID_BASE
from .simulator import Simulator


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _SocketMarked:
    """Tells the app it is behind a real socket (a dropped connection then really drops)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["bsg.socket"] = True
        await self.app(scope, receive, send)


class _QuietDrops(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "without completing response" not in record.getMessage()


def _as_app(app_or_config: SimulatorApp | SimulatorConfig | Simulator | None) -> SimulatorApp:
    if app_or_config is None or isinstance(app_or_config, (SimulatorConfig, Simulator)):
        return create_app(app_or_config)
    return app_or_config


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on accepted sockets whose
    # listener says TCP, and without it a small answer (headers, then body) waits ~40 ms on
    # Nagle and the client's delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host if host != "localhost" else "127.0.0.1", port))
    sock.set_inheritable(True)
    return sock


def _server(app: ASGIApp, log_level: str = "warning") -> uvicorn.Server:
    logging.getLogger("uvicorn.error").addFilter(_QuietDrops())
    config = uvicorn.Config(
        _SocketMarked(app),
        log_level=log_level,
        lifespan="off",
        access_log=False,
        date_header=False,  # the app stamps Date by the simulator's clock
        timeout_graceful_shutdown=2,
        timeout_keep_alive=30,
    )
    return uvicorn.Server(config)


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


@contextlib.contextmanager
def run_in_thread(
    app_or_config: SimulatorApp | SimulatorConfig | Simulator | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
) -> Iterator[str]:
    """Serve the simulator (an app, a Simulator or a config) on a loopback port in a background
    thread; yields the base URL once the server accepts connections, stops it on exit."""
    if not is_loopback(host):
        raise ValueError(f"the simulator binds loopback only, not {host!r}")
    app = _as_app(app_or_config)
    sock = _bind(host, port)
    server = _server(app)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="bsg-simulator", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError("the simulator server did not start")
        time.sleep(0.01)
    try:
        yield _url(host, sock.getsockname()[1])
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def _exports(url: str, token: str | None, api_key: str | None, timezone: str) -> str:
    """The shell line that points `bsg-analytics sync` (its settings) at this simulator: both
    API families are served on the one base URL."""
    env = {
        "BSG_API_URL": url,
        "BSG_REST_URL": url,
        "BSG_API_TOKEN": token or "any-token",
        "BSG_API_KEY": api_key or "test_any",
        "BSG_TIMEZONE": timezone,
    }
    return "export " + " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())


def _clock_line(sim: Simulator) -> str:
    clock = sim.clock
    at = f"{clock.now_dt():%Y-%m-%d %H:%M:%S} UTC"
    if not clock.live:
        return f"Clock: frozen at {at} (filter[to] later than that is refused)"
    pace = "real time" if clock.speed == 1 else f"x{clock.speed:g} real time"
    return f"Clock: live ({pace}), now {at}"


def _print_banner(sim: Simulator, url: str, generated_s: float) -> None:
    """What `bsg-analytics simulate` prints on start: the data, the clock, the URL, the settings
    to paste and two requests to try."""
    cfg, ds = sim.config, sim.data
    bearer = cfg.token or "any-token"
    key = cfg.api_key or "test_any"
    print(
        f"BSG simulator: {ds.n_messages} messages in {ds.n_campaigns} campaigns "
        f"(seed {cfg.seed}, {cfg.days} days, generated in {generated_s:.2f}s)"
    )
    print(_clock_line(sim))
    planted = sim.planted_anomalies()
    if len(planted):
        cells = ", ".join(
            f"{r['operator']} ({r['country_name']}) {r['channel']} {r['day']}: "
            f"{r['delivered_without_collapse']} -> {r['delivered']} of {r['messages']} delivered"
            for r in planted.iter_rows(named=True)
        )
        print(f"Planted delivery collapses (--collapses 0: none): {cells}")
    print(f"Serving on {url}  (Ctrl-C stops)")
    print("Point `bsg-analytics sync` at it:")
    print(f"  {_exports(url, cfg.token, cfg.api_key, cfg.timezone)}")
    print("Or ask it directly:")
    print(f"  curl -g -H 'Authorization: Bearer {bearer}' '{url}/api/messages?page[limit]=15'")
    sms = (ds.m_channel[: sim.visible_count(sim.clock.now_s())] == 0).nonzero()[0]
    if len(sms):  # legacy REST: an SMS (Viber ones answer on /rest/viber/{id})
        print(f"  curl -H 'X-API-KEY: {key}' '{url}/rest/sms/{MESSAGE_ID_BASE + int(sms[0])}'")


def main(
    host: str = "127.0.0.1",
    port: int = 8799,
    messages: int = 20_000,
    seed: int = 7,
    days: int = 183,
    timezone: str = "UTC",
    token: str | None = None,
    api_key: str | None = None,
    live: bool = True,
    speed: float | None = None,
    fault_rate: float = 0.0,
    latency_ms: float = 0.0,
    rate_limit: float = 0.0,
    quirks: list[str] | None = None,
    collapses: int = 3,
    export_ready_seconds: float = 1.0,
    behind_hours: float = 0.0,
) -> int:
    """Run the simulator in the foreground until interrupted; 0 on a clean stop.

    The clock is live by default: it starts at the real now and moves `speed` (default 1:
    real time) simulated seconds per second, so a client asking for windows up to its own
    "now" keeps being served however long this runs. `live=False` freezes it at the start
    (`speed` then makes no sense and is refused). `behind_hours` starts the clock that many
    hours before the real now: with a `speed` above 1 it catches up (one simulated hour in a
    real minute: ``behind_hours=1, speed=61``), so the traffic of that hour arrives while a
    user watches, up to a now a sync can ask for. Port 0 picks a free port; the URL printed
    says which."""
    quirks = list(quirks or [])
    if "list" in quirks:
        print(QuirkConfig.describe())
        return 0
    if not is_loopback(host):
        print(f"bsg-simulator: refusing to bind {host!r}: loopback only", file=sys.stderr)
        return 2
    if speed is not None and not live:
        print(
            "bsg-simulator: --speed sets a live clock; it cannot go with --frozen", file=sys.stderr
        )
        return 2
    speed = 1.0 if speed is None else speed
    if not speed > 0:
        print(f"bsg-simulator: --speed must be > 0, not {speed}", file=sys.stderr)
        return 2
    if not 0 <= behind_hours <= 24 * 30:
        print(
            f"bsg-simulator: --behind-hours must be between 0 and 720, not {behind_hours:g}",
            file=sys.stderr,
        )
        return 2
    start = datetime.now(UTC) - timedelta(hours=behind_hours) if behind_hours else None
    try:
        config = SimulatorConfig(
            messages=messages, seed=seed, days=days, timezone=timezone, token=token,
            api_key=api_key, live=live, speed=speed, fault_rate=fault_rate,
            latency_ms=latency_ms, rate_limit=rate_limit, quirks=QuirkConfig.parse(quirks),
            collapses=collapses, export_ready_seconds=export_ready_seconds, start=start,
        )  # fmt: skip
        t = time.perf_counter()
        sim = Simulator(config)
    except (ValueError, KeyError) as exc:
        print(f"bsg-simulator: {exc}", file=sys.stderr)
        return 2
    try:
        sock = _bind(host, port)
    except OSError as exc:
        print(f"bsg-simulator: cannot bind {host}:{port}: {exc}", file=sys.stderr)
        return 2
    url = _url(host, sock.getsockname()[1])
    _print_banner(sim, url, time.perf_counter() - t)
    sys.stdout.flush()
    server = _server(sim.app, log_level="info")
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    return 0
