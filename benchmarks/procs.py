"""Subprocesses measured one by one (wall time, CPU time, peak RSS) and the simulator process."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
TOKEN = "bench-token"


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of every child: no BSG_* from the caller's shell, the repo importable,
    telemetry off (no network beyond loopback)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BSG_")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(
        {
            "PYTHONUNBUFFERED": "1",
            "DO_NOT_TRACK": "1",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "RUNTIME__DLTHUB_TELEMETRY": "false",
            "NO_PROXY": "127.0.0.1,localhost",
        }
    )
    env.update(extra or {})
    return env


@dataclass
class Measured:
    returncode: int
    wall_s: float
    cpu_s: float  # user + system of the child and its reaped descendants
    peak_rss_mb: float  # the child's VmHWM, sampled every 50 ms (growth in its last 50 ms missed)
    peak_tree_rss_mb: float  # sampled sum of RSS over the process tree (every 50 ms)
    stdout: str
    stderr: str
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "returncode": self.returncode,
            "wall_s": round(self.wall_s, 3),
            "cpu_s": round(self.cpu_s, 3),
            "peak_rss_mb": round(self.peak_rss_mb, 1),
            "peak_tree_rss_mb": round(self.peak_tree_rss_mb, 1),
            **self.extra,
        }


def run_measured(
    cmd: list[str], env: dict[str, str], cwd: str | Path, timeout: float = 3600
) -> Measured:
    """Run `cmd` to completion. Peak RSS comes from wait4's rusage (exact, for the child
    itself and descendants it reaped) and from sampling the tree's summed RSS."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=cwd)
        peak_tree = 0
        stop = threading.Event()

        peak_own = 0

        def sample() -> None:
            # VmHWM of the child (its own high-water mark since exec; wait4's ru_maxrss would
            # carry the forking parent's high-water mark over) and the tree's summed RSS
            nonlocal peak_tree, peak_own
            try:
                root = psutil.Process(proc.pid)
            except psutil.Error:
                return
            while not stop.is_set():
                peak_own = max(peak_own, _hwm(proc.pid))
                total = 0
                try:
                    procs = [root, *root.children(recursive=True)]
                except psutil.Error:
                    break
                for p in procs:
                    with suppress(psutil.Error):
                        total += p.memory_info().rss
                peak_tree = max(peak_tree, total)
                stop.wait(0.05)

        def watchdog() -> None:
            if not stop.wait(timeout):
                with suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)

        threads = [threading.Thread(target=f, daemon=True) for f in (sample, watchdog)]
        for t in threads:
            t.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        stop.set()
        proc.returncode = os.waitstatus_to_exitcode(status)
        for t in threads:
            t.join(2)
        out.seek(0)
        err.seek(0)
        return Measured(
            returncode=proc.returncode,
            wall_s=wall,
            cpu_s=usage.ru_utime + usage.ru_stime,
            peak_rss_mb=peak_own / 2**20,
            peak_tree_rss_mb=max(peak_tree, peak_own) / 2**20,
            stdout=out.read().decode("utf-8", "replace"),
            stderr=err.read().decode("utf-8", "replace"),
        )


def _hwm(pid: int) -> int:
    """VmHWM of a process in bytes (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


@dataclass
class SimulatorProcess:
    base_url: str
    now: datetime  # the simulator's (frozen) clock
    banner: str
    proc: subprocess.Popen

    def cpu_s(self) -> float:
        try:
            t = psutil.Process(self.proc.pid).cpu_times()
            return t.user + t.system
        except psutil.Error:
            return float("nan")


@contextmanager
def simulator(messages: int, latency_ms: float = 0, seed: int = 7, days: int = 183):
    """`bsg-analytics simulate` on a free loopback port, in its own process."""
    cmd = [
        str(VENV_BIN / "bsg-analytics"),
        "simulate",
        "--port",
        "0",
        "--messages",
        str(messages),
        "--latency-ms",
        str(latency_ms),
        "--seed",
        str(seed),
        "--days",
        str(days),
        "--token",
        TOKEN,
        "--frozen",  # every contender reads the same data
    ]
    with tempfile.NamedTemporaryFile("w+", suffix=".log") as log:
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, env=child_env(), cwd=tempfile.gettempdir()
        )
        try:
            deadline = time.monotonic() + 300
            text = ""
            while "Serving on" not in text:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the simulator did not start: {Path(log.name).read_text()}")
                time.sleep(0.05)
                text = Path(log.name).read_text()
            url = re.search(r"Serving on (http://\S+)", text).group(1)
            clock = re.search(r"(?:at|now) (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC", text).group(1)
            now = datetime.strptime(clock, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
            _wait_ready(url, deadline)
            yield SimulatorProcess(url, now, text.splitlines()[0], proc)
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_ready(url: str, deadline: float) -> None:
    req = urllib.request.Request(
        f"{url}/api/messages?page%5Blimit%5D=15", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    while True:
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:  # loopback only
                if resp.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@contextmanager
def prefect_server(prefect_home: Path):
    """`prefect server start` on a free loopback port, in its own process (what a deployment's
    worker talks to): yields its API URL once it answers, stops it on exit."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    prefect_home.mkdir(parents=True, exist_ok=True)
    env = child_env({"PREFECT_HOME": str(prefect_home), "PREFECT_SERVER_API_PORT": str(port)})
    env.pop("PREFECT_API_URL", None)
    cmd = [str(VENV_BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    with tempfile.NamedTemporaryFile("w+", suffix=".log") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        url = f"http://127.0.0.1:{port}/api"
        try:
            deadline = time.monotonic() + 180
            while not _answers(f"{url}/health"):
                if proc.poll() is not None or time.monotonic() > deadline:
                    text = Path(log.name).read_text()
                    raise RuntimeError(f"prefect server did not start: {text}")
                time.sleep(0.25)
            yield url
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:  # loopback only
            return resp.status == 200
    except OSError:
        return False
