"""`bsg-analytics simulate` keeps serving a sync for as long as it runs: its default clock is
live (real time, speed 1), so a window planned up to "real now minus 2 minutes" is accepted
minutes after start-up, where a frozen clock (`--frozen`) refuses it with a 422. It prints the
lines that point `sync` at it, and those lines work."""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

import bsg_simulator.clock as clock_module
import bsg_simulator.server as server_module
from bsg_analytics.cli import app
from bsg_analytics.settings import Settings
from bsg_client import BSGClient
from bsg_client.errors import BSGAPIError
from bsg_client.windows import SAFETY_MARGIN, parse_api_time, split_windows

REPO = Path(__file__).resolve().parents[2]
MESSAGES = 2_000
STAMP = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC")


# --- what the command prints, and a request the way `sync` makes it ----------------------


def parse_banner(out: str) -> tuple[str, dict[str, str], str]:
    """(url, the exported settings, the clock line) from what `simulate` printed; the id of
    its legacy REST example joins the settings as `sms_id`."""
    url = re.search(r"Serving on (\S+)", out)
    exports = [line.strip() for line in out.splitlines() if line.strip().startswith("export ")]
    clock = [line for line in out.splitlines() if line.startswith("Clock: ")]
    sms = re.search(r"X-API-KEY: .*/rest/sms/(\d+)'", out)
    assert url and len(exports) == 1 and len(clock) == 1 and sms, out
    env = dict(item.split("=", 1) for item in shlex.split(exports[0])[1:])
    return url.group(1), {**env, "sms_id": sms[1]}, clock[0]


def settings_from(env: dict[str, str]) -> Settings:
    assert {"BSG_API_URL", "BSG_REST_URL", "BSG_API_TOKEN", "BSG_API_KEY"} <= set(env), env
    fields = {k.removeprefix("BSG_").lower(): v for k, v in env.items() if k.startswith("BSG_")}
    return Settings(_env_file=None, max_retries=0, **fields)


def sync_request(env: dict[str, str], now: datetime) -> tuple[int, str | None]:
    """The last window a sync plans at `now` (it ends at now - 2 minutes), asked for the way
    the client asks for it: (status, the API's message when refused)."""
    settings = settings_from(env)
    windows = split_windows(now - timedelta(days=1), None, settings.window_days, settings.zone,
                            now=now)  # fmt: skip
    window = windows[-1]
    assert window.end == (now - SAFETY_MARGIN).replace(microsecond=0)
    with BSGClient.from_settings(settings) as client:
        try:
            resp = client.get_list_page("/api/messages", {**window.params(), "page[limit]": 15})
        except BSGAPIError as exc:
            return exc.status_code or 0, exc.api_message
        assert client.legacy_sms(env["sms_id"]).status_code == 200  # the REST key works too
    return resp.status_code, None


# --- the command's defaults ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "live", "speed"),
    [
        ([], True, None),
        (["--live"], True, None),
        (["--speed", "600"], True, 600.0),
        (["--live", "--speed", "2.5"], True, 2.5),
        (["--frozen"], False, None),
    ],
)
def test_the_command_defaults_to_a_moving_clock(monkeypatch, args, live, speed):
    seen: dict = {}

    def fake_main(**kwargs):
        seen.update(kwargs)
        return 0

    monkeypatch.setattr(server_module, "main", fake_main)
    result = CliRunner().invoke(app, ["simulate", *args])
    assert result.exit_code == 0, result.output
    assert (seen["live"], seen["speed"]) == (live, speed)
    assert seen["port"] == 8799 and seen["host"] == "127.0.0.1"


def test_frozen_with_a_speed_or_a_bad_speed_is_refused(capsys):
    assert server_module.main(port=0, messages=10, live=False, speed=5.0) == 2
    assert "--frozen" in capsys.readouterr().err
    assert server_module.main(port=0, messages=10, speed=0) == 2
    assert "--speed" in capsys.readouterr().err
    result = CliRunner().invoke(app, ["simulate", "--frozen", "--speed", "5", "--port", "0"])
    assert result.exit_code == 2


# --- the real command in a subprocess ------------------------------------------------------


@contextlib.contextmanager
def simulate_process(tmp_path: Path, name: str, *flags: str):
    """`bsg-analytics simulate --port 0 ...` in a subprocess; yields (url, env, clock line,
    the monotonic time its banner appeared); always killed on exit."""
    out, err = tmp_path / f"{name}.out", tmp_path / f"{name}.err"
    cmd = [sys.executable, "-c", "from bsg_analytics.cli import app; app()",
           "simulate", "--port", "0", "--messages", str(MESSAGES), *flags]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with out.open("wb") as so, err.open("wb") as se:
        proc = subprocess.Popen(cmd, stdout=so, stderr=se, cwd=REPO, env=env)
    try:
        deadline = time.monotonic() + 15
        while "export " not in out.read_text():
            assert proc.poll() is None, f"simulate exited {proc.returncode}: {err.read_text()}"
            assert time.monotonic() < deadline, "simulate printed no URL in 15 s"
            time.sleep(0.02)
        seen_at = time.monotonic()
        url, exported, clock = parse_banner(out.read_text())
        assert url.startswith("http://127.0.0.1:"), url
        while True:  # the socket is bound before the banner; wait for uvicorn to listen
            try:
                httpx.get(url + "/api/messages", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, err.read_text()
                assert time.monotonic() < deadline, "simulate did not answer in 15 s"
                time.sleep(0.02)
        yield url, exported, clock, seen_at
    finally:
        proc.kill()
        proc.wait(10)


@pytest.mark.slow  # (the default pass keeps a quicker sibling)
def test_a_live_command_accepts_what_a_later_sync_asks_and_a_frozen_one_refuses(tmp_path):
    """At --speed 600 five simulated minutes pass in half a second: the live simulator then
    accepts the windows a sync plans five minutes after start-up (ending at that time minus
    2 minutes), which the frozen one, still at its start, refuses with a 422."""
    with (
        simulate_process(tmp_path, "live", "--speed", "600") as (_, live_env, live_clock, t0),
        simulate_process(tmp_path, "frozen", "--frozen") as (_, frozen_env, frozen_clock, _t),
    ):
        assert live_clock.startswith("Clock: live (x600"), live_clock
        assert frozen_clock.startswith("Clock: frozen at "), frozen_clock
        for env in (live_env, frozen_env):
            assert env["BSG_API_URL"] == env["BSG_REST_URL"]
            assert (env["BSG_API_TOKEN"], env["BSG_API_KEY"]) == ("any-token", "test_any")
            # right after start-up both accept a sync planned at the real now
            assert sync_request(env, datetime.now(UTC)) == (200, None)
        live_start = datetime.strptime(STAMP.search(live_clock)[1], "%Y-%m-%d %H:%M:%S")
        frozen_start = datetime.strptime(STAMP.search(frozen_clock)[1], "%Y-%m-%d %H:%M:%S")
        time.sleep(max(0.0, t0 + 0.6 - time.monotonic()))  # >= 6 simulated minutes
        later = timedelta(minutes=5)
        assert sync_request(live_env, live_start.replace(tzinfo=UTC) + later) == (200, None)
        status, message = sync_request(frozen_env, frozen_start.replace(tzinfo=UTC) + later)
        assert status == 422, (status, message)
        assert "filter[to]" in (message or "") and "now" in (message or ""), message


# --- `main` with its defaults, five minutes of real time later -----------------------------


class ShiftedTime:
    """Stands in for the `time` module of the simulator's clock: `monotonic` runs `offset`
    seconds ahead, as if that much real time had passed."""

    def __init__(self) -> None:
        self.offset = 0.0

    def monotonic(self) -> float:
        return time.monotonic() + self.offset

    def __getattr__(self, name: str):
        return getattr(time, name)


@contextlib.contextmanager
def serve_main(monkeypatch, capsys, **kwargs):
    """`server.main(port=0, ...)` (what the command runs) in a thread; yields (url, env,
    clock line) from what it printed and stops its server on exit."""
    servers = []
    real_server = server_module._server

    def spy(app, log_level="warning"):
        servers.append(real_server(app))  # quiet: no per-request log lines
        return servers[-1]

    monkeypatch.setattr(server_module, "_server", spy)
    codes: list[int] = []
    thread = threading.Thread(
        target=lambda: codes.append(server_module.main(port=0, **{"messages": MESSAGES, **kwargs})),
        daemon=True,
    )
    thread.start()
    try:
        deadline = time.monotonic() + 15
        while not (servers and servers[0].started):
            assert thread.is_alive(), capsys.readouterr().err
            assert time.monotonic() < deadline, "the simulator did not start in 15 s"
            time.sleep(0.01)
        yield parse_banner(capsys.readouterr().out)
    finally:
        if servers:
            servers[0].should_exit = True
        thread.join(10)
    assert codes == [0]


def test_the_default_clock_serves_a_sync_five_minutes_after_start_up(monkeypatch, capsys):
    shifted = ShiftedTime()
    monkeypatch.setattr(clock_module, "time", shifted)
    with serve_main(monkeypatch, capsys) as (url, env, clock):
        assert clock.startswith("Clock: live (real time), now "), clock
        assert sync_request(env, datetime.now(UTC)) == (200, None)
        shifted.offset += 300  # five minutes of real time pass
        now = datetime.now(UTC) + timedelta(seconds=shifted.offset)
        assert sync_request(env, now) == (200, None)
        # data anchored on today: the newest message is recent, none is in the future
        resp = httpx.get(
            url + "/api/messages",
            params={"sort": "id", "way": "desc", "page[limit]": 15},
            headers={"Authorization": f"Bearer {env['BSG_API_TOKEN']}"},
        )
        assert resp.status_code == 200, resp.text
        newest = parse_api_time(resp.json()["data"][0]["created_at"], UTC)
        assert now - timedelta(days=4) < newest <= now, newest


def test_a_frozen_main_refuses_the_same_sync(monkeypatch, capsys):
    shifted = ShiftedTime()
    monkeypatch.setattr(clock_module, "time", shifted)
    with serve_main(monkeypatch, capsys, live=False) as (_, env, clock):
        assert clock.startswith("Clock: frozen at "), clock
        assert sync_request(env, datetime.now(UTC)) == (200, None)
        shifted.offset += 300
        status, message = sync_request(env, datetime.now(UTC) + timedelta(seconds=300))
        assert status == 422, (status, message)
        assert "must be a date before or equal to now" in (message or ""), message


def test_behind_hours_plays_an_hour_of_traffic_in_a_minute(monkeypatch, capsys):
    """`--behind-hours 1 --speed 61`: the clock starts an hour ago and meets the real now a
    real minute later (what the hour created arrives meanwhile; the traffic comes in
    campaign bursts, so which messages that is depends on the day)."""
    shifted = ShiftedTime()
    monkeypatch.setattr(clock_module, "time", shifted)

    opts = {"speed": 61.0, "behind_hours": 1.0}
    with serve_main(monkeypatch, capsys, **opts) as (_url, env, clock):
        started = datetime.strptime(STAMP.search(clock)[1], "%Y-%m-%d %H:%M:%S")
        behind = datetime.now(UTC).replace(tzinfo=None) - started
        assert timedelta(minutes=59) < behind <= timedelta(minutes=60, seconds=5), clock
        assert clock.startswith("Clock: live (x61 real time)"), clock
        # behind: a sync planned up to the real now is refused, as from a client whose clock
        # runs ahead of the API's; a real minute later the clock has caught up
        assert sync_request(env, datetime.now(UTC))[0] == 422
        shifted.offset += 60
        assert sync_request(env, datetime.now(UTC) + timedelta(seconds=60)) == (200, None)


def test_a_bad_behind_hours_is_refused(capsys):
    assert server_module.main(port=0, messages=10, behind_hours=-1) == 2
    assert "--behind-hours must be between 0 and 720, not -1" in capsys.readouterr().err
