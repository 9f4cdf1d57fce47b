"""What the statistics export costs: the same backfill against one simulator process, with the
`exports` stream and without it (`export_costs`), side by side in one run. The difference is
the export's cost: requests (POST, polls, DELETE; the account's "Maximum count" answers and
listings when they happen), wall seconds and client CPU-seconds, each per 100k messages.

The sync runs in this process (the pipeline's `run_sync`, the plain path) over loopback HTTP,
so that the client's own request count (`ClientStats.requests`) and CPU time
(`time.process_time`) can be read; the simulator is its own process, a job ready
`--export-ready-seconds` after its creation (1 s by default, as `bsg-analytics simulate`).
"""

from __future__ import annotations

import tempfile
import time
from datetime import timedelta
from pathlib import Path

from bsg_analytics.pipeline import run_sync
from bsg_analytics.settings import load_settings
from bsg_client import BSGClient

from .procs import TOKEN, simulator

PER = 100_000


def _one(sim, export_costs: bool, days: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="bsg-bench-exports-") as tmp:
        settings = load_settings(
            api_url=sim.base_url, rest_url=sim.base_url, api_token=TOKEN,
            data_dir=str(Path(tmp) / "data"), export_costs=export_costs,
        )  # fmt: skip
        until = sim.now.date()
        with BSGClient.from_settings(settings) as client:
            cpu, wall = time.process_time(), time.perf_counter()
            report = run_sync(
                settings, until - timedelta(days=days + 1), until, client=client, now=sim.now
            )
            out = {
                "export_costs": export_costs,
                "wall_s": round(time.perf_counter() - wall, 3),
                "cpu_s": round(time.process_time() - cpu, 3),
                "requests": client.stats.requests,
                "messages": report.rows.get("messages", 0),
                "message_costs": report.rows.get("message_costs", 0),
                "exports_made": client.exports.created,
                "export_polls": client.exports.polls,
                "windows": report.windows_total,
            }
    return out


def run_exports(messages: int, reps: int, log, days: int = 90) -> dict:
    """`reps` backfills of `days` days with and without the export, alternating."""
    runs: list[dict] = []
    with simulator(messages, days=days) as sim:
        for _ in range(reps):
            for on in (True, False):
                r = _one(sim, on, days)
                runs.append(r)
                log(f"  exports {'on ' if on else 'off'}: {r['wall_s']:.2f}s wall "
                    f"{r['cpu_s']:.2f}s cpu {r['requests']} requests "
                    f"{r['message_costs']} costs / {r['messages']} msgs")  # fmt: skip
    on = [r for r in runs if r["export_costs"]]
    off = [r for r in runs if not r["export_costs"]]

    def best(rs: list[dict], key: str) -> float:
        return min(r[key] for r in rs)

    n = max(1, on[0]["messages"])
    scale = PER / n
    extra_requests = on[0]["requests"] - off[0]["requests"]
    return {
        "messages": n,
        "days": days,
        "runs": runs,
        "per_100k": {
            "export_requests": round(extra_requests * scale, 1),
            "exports_made": round(on[0]["exports_made"] * scale, 1),
            "polls": round(on[0]["export_polls"] * scale, 1),
            "wall_s": round((best(on, "wall_s") - best(off, "wall_s")) * scale, 2),
            "cpu_s": round((best(on, "cpu_s") - best(off, "cpu_s")) * scale, 2),
        },
        "ratio_wall": round(best(on, "wall_s") / best(off, "wall_s"), 2),
        "ratio_cpu": round(best(on, "cpu_s") / best(off, "cpu_s"), 2),
    }
