"""What an hourly incremental sync costs, adaptive look-back against the fixed one, side by side
on copies of one data directory.

A simulator of `messages` messages over `days` days (most of them final within minutes: the
simulator's latencies; Viber / RCS / WhatsApp deliveries may still turn `read` for up to
three days) is backfilled at a frozen moment T0 (the run is a full look-back: the safety net
counts from it). The data directory is copied, the clock moves one hour to T1 (one more hour
of traffic), and each copy syncs once: ``BSG_LOOKBACK=adaptive`` and ``fixed``. Reported per
mode: requests, messages served by ``/api/messages`` (re-read = served less the new ones),
seconds and CPU-seconds (this process: the client *and* the in-process simulator serving it),
and whether every message equals the simulator's truth at T1 afterwards, with the messages
whose status is stale (of those created before T1 less the windows' safety margin: the
newest two minutes are read by the next sync). The yardstick is the messages that are new
or can still change: those created since the backfill's read began plus the open ones of
the backfill (`OpenIndex`); ``changed`` counts those whose status moved between T0 and T1
in the truth.

The simulator runs in this process (`inprocess_transport`) so that its clock is set exactly;
`--scale`'s large size is the 1M-message history of issue 16.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import httpx
import orjson
import polars as pl

from bsg_analytics.lookback import load_index
from bsg_analytics.pipeline import run_sync
from bsg_analytics.settings import load_settings
from bsg_analytics.storage import DataDir
from bsg_client.windows import SAFETY_MARGIN
from bsg_simulator.testing import TEST_ANCHOR, TEST_NOW, inprocess_transport, make_simulator

TOKEN = "bench-token"
MESSAGES_PATH = "/api/messages"


class Counting(httpx.BaseTransport):
    """Forwards to the simulator; counts requests and the records /api/messages served."""

    def __init__(self, sim):
        self.inner = inprocess_transport(sim)
        self.requests = 0
        self.served = 0
        self.by_id = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        self.requests += 1
        if request.url.path == MESSAGES_PATH and response.status_code == 200:
            body = response.read()
            data = orjson.loads(body).get("data") or []
            self.served += len(data)
            if "filter[id]" in request.url.params:
                self.by_id += 1
        return response

    def close(self) -> None:
        self.inner.close()


def _settings(data: Path, lookback: str):
    return load_settings(
        api_url="http://bsg.test", rest_url="http://bsg.test", api_token=TOKEN,
        data_dir=str(data), export_costs=False, lookback=lookback, concurrency=4,
        max_retries=3, backoff_max_seconds=0.05,
    )  # fmt: skip


def _table(data: Path) -> pl.DataFrame:
    files = sorted((data / "parquet" / "messages").rglob("*.parquet"))
    return pl.concat([pl.read_parquet(f) for f in files], how="vertical")


def _sync(sim, data: Path, lookback: str, since=None) -> dict:
    transport = Counting(sim)
    try:
        cpu, wall = time.process_time(), time.perf_counter()
        report = run_sync(
            _settings(data, lookback), since, transport=transport, now=sim.clock.now_dt()
        )
        return {
            "wall_s": round(time.perf_counter() - wall, 3),
            "cpu_s": round(time.process_time() - cpu, 3),
            "requests": transport.requests,
            "served": transport.served,
            "by_id_requests": transport.by_id,
            "windows": report.windows_total,
            "lookback": report.lookback,
        }
    finally:
        transport.close()


def run_incremental(messages: int, log, days: int = 14, hours: int = 1, seed: int = 7) -> dict:
    """One backfill at T0, then an hour later one sync per look-back mode (module doc)."""
    t0 = TEST_NOW
    sim = make_simulator(
        messages=messages, seed=seed, days=days, anchor=TEST_ANCHOR, start=t0, token=TOKEN,
        future_hours=48, collapses=0,
    )  # fmt: skip
    sim.clock.freeze()
    out: dict = {"messages": messages, "days": days, "hours": hours}
    with tempfile.TemporaryDirectory(prefix="bsg-bench-incr-") as tmp:
        base = Path(tmp) / "base"
        back = _sync(sim, base, "adaptive", since=(t0 - timedelta(days=days + 1)).date())
        index = load_index(DataDir(str(base)))
        history = _table(base)
        out["backfill"] = {**back, "messages": history.height}
        out["open_after_backfill"] = index.open if index is not None else None
        log(f"  incremental: backfill {history.height} messages in {back['wall_s']}s, "
            f"{out['open_after_backfill']} can still change")  # fmt: skip
        t1 = t0 + timedelta(hours=hours)
        truth0 = sim.ground_truth_messages(t0).select("message_id", "status")
        sim.clock.set(t1)
        sim.clock.freeze()
        # what a sync at T1 can read: windows end SAFETY_MARGIN before it
        truth = sim.ground_truth_messages(t1).filter(pl.col("created_at") < t1 - SAFETY_MARGIN)
        new = truth.height - history.height
        changed = (
            truth.select("message_id", "status")
            .join(truth0, on="message_id", suffix="_t0")
            .filter(pl.col("status") != pl.col("status_t0"))
            .height
        )
        yardstick = new + (out["open_after_backfill"] or 0)
        out.update(new=new, changed=changed, new_or_can_change=yardstick)
        for mode in ("adaptive", "fixed"):
            data = Path(tmp) / mode
            shutil.copytree(base, data)
            r = _sync(sim, data, mode)
            got = _table(data).filter(pl.col("created_at") < t1 - SAFETY_MARGIN)
            got = got.select("message_id", "status")
            want = truth.select("message_id", "status")
            stale = got.join(want, on="message_id", how="full", suffix="_truth").filter(
                pl.col("status").ne_missing(pl.col("status_truth"))
            )
            r["reread"] = r["served"] - new
            r["stale"] = stale.height
            r["equal_to_truth"] = stale.height == 0
            r["reread_ratio"] = round(r["served"] / max(1, yardstick), 2)
            out[mode] = r
            log(f"  incremental {mode}: {r['requests']} requests, {r['served']} served "
                f"({r['reread_ratio']}x new-or-can-change {yardstick}), {r['wall_s']}s wall "
                f"{r['cpu_s']}s cpu, stale {r['stale']}")  # fmt: skip
    a, f = out["adaptive"], out["fixed"]
    out["ratio_requests"] = round(a["requests"] / max(1, f["requests"]), 3)
    out["ratio_served"] = round(a["served"] / max(1, f["served"]), 3)
    out["ratio_cpu"] = round(a["cpu_s"] / max(1e-9, f["cpu_s"]), 3)
    return out
