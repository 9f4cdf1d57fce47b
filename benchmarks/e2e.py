"""End to end: the contenders against one simulator process per latency; and the scale runs
(peak RSS at 100k and 1M messages, incremental sync over a 1M- vs a 100k-message history)."""

from __future__ import annotations

import json
import re
import shutil
import sys
import uuid
from contextlib import ExitStack
from datetime import date, timedelta
from pathlib import Path

from bsg_analytics.streams.campaigns import WINDOW_DAYS as CAMPAIGN_WINDOW_DAYS

from .procs import ROOT, TOKEN, VENV_BIN, child_env, prefect_server, run_measured, simulator

CONTENDERS = (
    "floor",
    "pipeline",
    "pipeline_prefect",
    "pipeline_prefect_server",
    "dlt",
    "dlt_parquet",
    "naive",
)
PEERS = ("dlt", "dlt_parquet", "naive")  # the slow ones: `peer_reps` runs
# (A, B) pairs reported as A/B, seconds per message
RATIOS = (
    ("pipeline", "floor"),
    ("pipeline", "naive"),
    ("dlt", "pipeline"),
    ("dlt_parquet", "pipeline"),
    ("naive", "pipeline"),
    ("pipeline_prefect", "pipeline"),
    ("pipeline_prefect_server", "pipeline"),
    ("pipeline_prefect", "floor"),
)
_SUMMARY = re.compile(
    r"synced(?: .*? UTC)? in ([\d.]+)s(?: \(the sync itself [\d.]+s\))?: ([^;]*);"
)
_NEW = re.compile(r" \((?:all|\d+) new\)")  # "messages 448 (361 new)": the count is 448


def _defaults() -> dict:
    from bsg_analytics.settings import Settings

    f = Settings.model_fields
    return {
        "concurrency": f["concurrency"].default,
        "page_limit": f["page_limit"].default,
        "window_days": f["window_days"].default,
    }


def windows_for(since: date, until: date, sim_now, window_days: int) -> list[list[str]]:
    from bsg_client.windows import split_windows

    return [
        [w.api_from, w.api_to] for w in split_windows(since, until, window_days, "UTC", sim_now)
    ]


def _pipeline_env(
    base_url: str, data_dir: Path, prefect_home: Path, prefect_api: str | None = None
) -> dict[str, str]:
    env = child_env(
        {
            "BSG_API_URL": base_url,
            "BSG_REST_URL": base_url,
            "BSG_API_TOKEN": TOKEN,
            "BSG_DATA_DIR": str(data_dir),
            "PREFECT_HOME": str(prefect_home),
            "PREFECT_LOGGING_LEVEL": "WARNING",
            # the peers read /api/messages only: so does the sync here (the export's own
            # cost is the `exports` section)
            "BSG_EXPORT_COSTS": "false",
        }
    )
    env.pop("PREFECT_API_URL", None)  # no server: `auto` runs the plain pipeline
    if prefect_api is not None:
        env["PREFECT_API_URL"] = prefect_api  # a running server, as a deployment has
    return env


def parse_sync_output(text: str) -> dict:
    m = _SUMMARY.search(text)
    if not m:
        return {}
    rows = {}
    for part in _NEW.sub("", m.group(2)).split(", "):
        name, _, n = part.rpartition(" ")
        if n.isdigit():
            rows[name] = int(n)
    return {"report_seconds": float(m.group(1)), "rows": rows, "messages": rows.get("messages", 0)}


def sync_command(
    sim,
    data_dir: Path,
    prefect_home: Path,
    since: date | None,
    until: date | None,
    cwd: Path,
    orchestrator: str = "auto",
    prefect_api: str | None = None,
) -> dict:
    """`bsg-analytics sync` as a measured subprocess: as a user runs it (`auto`: no Prefect
    server configured, so the plain pipeline) or forced through a Prefect flow (`prefect`:
    a temporary API server per run, or the running server at `prefect_api`)."""
    cmd = [str(VENV_BIN / "bsg-analytics"), "sync", "--no-progress", "--orchestrator", orchestrator]
    if since:
        cmd += ["--since", since.isoformat()]
    if until:
        cmd += ["--until", until.isoformat()]
    cpu0 = sim.cpu_s()
    env = _pipeline_env(sim.base_url, data_dir, prefect_home, prefect_api)
    m = run_measured(cmd, env, cwd=cwd)
    kind = "pipeline" if orchestrator != "prefect" else "pipeline_prefect"
    if prefect_api is not None:
        kind += "_server"
    out = {"kind": kind, **m.as_dict(), "sim_cpu_s": round(sim.cpu_s() - cpu0, 3)}
    out.update(parse_sync_output(m.stdout))
    if m.returncode != 0:
        out["error"] = (m.stderr or m.stdout).strip().splitlines()[-3:]
    return out


def run_contender(
    kind: str,
    sim,
    work: Path,
    prefect_home: Path,
    since: date,
    until: date,
    spec: dict,
    prefect_api: str | None = None,
) -> dict:
    run_dir = work / f"{kind}-{uuid.uuid4().hex[:8]}"
    run_dir.mkdir(parents=True)
    try:
        if kind.startswith("pipeline"):
            orchestrator = "auto" if kind == "pipeline" else "prefect"
            api = prefect_api if kind == "pipeline_prefect_server" else None
            return sync_command(
                sim, run_dir / "data", prefect_home, since, until, run_dir, orchestrator, api
            )
        child_spec = {**spec, "out_dir": str(run_dir), "since": str(since), "until": str(until)}
        env = _pipeline_env(sim.base_url, run_dir / "data", prefect_home)
        env["EXTRACT__WORKERS"] = str(spec["concurrency"])  # dlt's extract thread pool
        spec_file = run_dir / "spec.json"
        spec_file.write_text(json.dumps(child_spec))
        cmd = [sys.executable, "-m", "benchmarks.contenders", kind, str(spec_file)]
        cpu0 = sim.cpu_s()
        env["PYTHONPATH"] = str(ROOT) + ":" + env.get("PYTHONPATH", "")
        m = run_measured(cmd, env, cwd=run_dir)
        out = {"kind": kind, **m.as_dict(), "sim_cpu_s": round(sim.cpu_s() - cpu0, 3)}
        if m.returncode == 0:
            out.update(json.loads(m.stdout.strip().splitlines()[-1]))
        else:
            out["error"] = m.stderr.strip().splitlines()[-5:]
        return out
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


def summarize(runs: list[dict]) -> dict:
    ok = [r for r in runs if r.get("returncode") == 0 and r.get("messages")]
    if not ok:
        return {"runs": len(runs), "ok": 0, "errors": [r.get("error") for r in runs]}
    best = min(ok, key=lambda r: r["wall_s"])
    walls = [r["wall_s"] for r in ok]
    return {
        "runs": len(runs),
        "ok": len(ok),
        "messages": best["messages"],
        "wall_s": best["wall_s"],
        "wall_s_all": walls,
        "spread_pct": round(100 * (max(walls) - min(walls)) / min(walls), 1),
        "inner_s": min(r.get("inner_s", r["wall_s"]) for r in ok),
        "messages_per_s": round(best["messages"] / best["wall_s"]),
        "cpu_s": best["cpu_s"],
        "sim_cpu_s": best["sim_cpu_s"],
        "peak_rss_mb": max(r["peak_rss_mb"] for r in ok),
        "peak_tree_rss_mb": max(r["peak_tree_rss_mb"] for r in ok),
    }


def per_message_ratio(a: dict, b: dict, measure: str = "wall_s") -> float | None:
    """(seconds per message of a) / (seconds per message of b): wall seconds, or with
    ``measure="cpu_s"`` the CPU seconds of the contender's own process tree."""
    if not a.get("messages") or not b.get("messages") or not b.get(measure):
        return None
    return round((a[measure] / a["messages"]) / (b[measure] / b["messages"]), 2)


def run_e2e(
    messages: int,
    latencies: list[float],
    contenders: list[str],
    reps: int,
    work: Path,
    prefect_home: Path,
    log,
    peer_reps: int | None = None,
) -> dict:
    """`peer_reps` (default `reps`) bounds the runs of dlt and naive, the slow ones."""
    with ExitStack() as stack:
        api = None
        if "pipeline_prefect_server" in contenders:
            api = stack.enter_context(prefect_server(prefect_home / "server"))
            log(f"prefect server: {api}")
            warm_prefect(prefect_home, work, log, api)
        return _run_e2e(
            messages, latencies, contenders, reps, work, prefect_home, log, peer_reps, api
        )


def _run_e2e(messages, latencies, contenders, reps, work, prefect_home, log, peer_reps, api):
    d = _defaults()
    results: dict = {"messages_asked": messages, "settings": d, "latencies": {}}
    for latency in latencies:
        with simulator(messages, latency_ms=latency) as sim:
            until = sim.now.date()
            since = until - timedelta(days=184)
            spec = {
                "base_url": sim.base_url,
                "token": TOKEN,
                "windows": windows_for(since, until, sim.now, d["window_days"]),
                # the floor also downloads what the pipeline does besides messages
                "campaign_windows": windows_for(since, until, sim.now, CAMPAIGN_WINDOW_DAYS),
                "concurrency": d["concurrency"],
                "page_limit": d["page_limit"],
            }
            log(f"e2e: {sim.banner}; latency {latency} ms; {len(spec['windows'])} windows")
            runs: dict[str, list[dict]] = {k: [] for k in contenders}
            for rep in range(reps):
                for kind in contenders:  # interleaved, so drift hits every contender alike
                    if kind in PEERS and rep >= (peer_reps or reps):
                        continue
                    r = run_contender(kind, sim, work, prefect_home, since, until, spec, api)
                    runs[kind].append(r)
                    log(
                        f"  rep {rep + 1} {kind:15s} {r['wall_s']:8.2f}s "
                        f"{r.get('messages', 0):>9} msgs  rss {r['peak_rss_mb']:7.0f} MB  "
                        f"cpu {r['cpu_s']:7.2f}s  sim cpu {r['sim_cpu_s']:6.2f}s"
                        + (f"  ERROR {r['error']}" if r.get("error") else "")
                    )
            summary = {k: summarize(v) for k, v in runs.items()}
            ratios, cpu_ratios = {}, {}
            for a, b in RATIOS:
                if a in summary and b in summary:
                    ratios[f"{a}/{b}"] = per_message_ratio(summary[a], summary[b])
                    cpu_ratios[f"{a}/{b}"] = per_message_ratio(summary[a], summary[b], "cpu_s")
            results["latencies"][str(int(latency))] = {
                "windows": len(spec["windows"]),
                "since": str(since),
                "until": str(until),
                "simulator": sim.banner,
                "summary": summary,
                "ratios": ratios,
                "cpu_ratios": cpu_ratios,
                "runs": runs,
            }
    return results


def warm_prefect(prefect_home: Path, work: Path, log, prefect_api: str | None = None) -> None:
    """One small sync so Prefect's database exists before anything is timed (that of the
    temporary server, or of the running one at `prefect_api`)."""
    with simulator(2_000) as sim:
        run_dir = work / "warmup"
        run_dir.mkdir(parents=True, exist_ok=True)
        until = sim.now.date()
        r = sync_command(
            sim, run_dir / "data", prefect_home, until - timedelta(days=3), until, run_dir,
            orchestrator="prefect", prefect_api=prefect_api,
        )  # fmt: skip
        shutil.rmtree(run_dir, ignore_errors=True)
        log(f"prefect warm-up{' (server)' if prefect_api else ''}: {r['wall_s']:.1f}s "
            f"rc={r['returncode']}")  # fmt: skip


def _incremental(n: int, days: int, data: Path, run_dir: Path, prefect_home: Path, reps, log):
    runs = []
    for _ in range(reps):
        # a fresh simulator (same seed: same data) so its frozen clock is "now" again
        with simulator(n, days=days) as sim:
            r = sync_command(sim, data, prefect_home, None, None, run_dir)
        runs.append(r)
        err = f" ERROR {r['error']}" if r.get("error") else ""
        log(f"  incremental over {n}: {r['wall_s']:.2f}s {r.get('messages')} msgs{err}")
    return runs


def run_scale(small: int, large: int, reps: int, work: Path, prefect_home: Path, log) -> dict:
    """Peak RSS of `bsg-analytics sync` backfilling `small` and `large` messages (183 days
    each), and an incremental sync (no --since, after a backfill) over the `large`-message
    history against one over a `small`-message history at the same density (183 * small /
    large days), so the look-back window holds about as many messages and only the history
    differs."""
    out: dict = {"backfill": {}, "incremental": {}}
    for n, days in ((small, 183), (large, 183), (small, max(1, round(183 * small / large)))):
        kept = n == large or days != 183
        runs = []
        for _ in range(1 if kept else reps):
            run_dir = work / f"scale-{n}-{days}-{uuid.uuid4().hex[:6]}"
            run_dir.mkdir(parents=True)
            with simulator(n, days=days) as sim:
                until = sim.now.date()
                r = sync_command(
                    sim, run_dir / "data", prefect_home, until - timedelta(days=days + 1), until,
                    run_dir,
                )  # fmt: skip
            runs.append(r)
            log(f"  backfill {n} msgs / {days} days: {r['wall_s']:.2f}s {r.get('messages')} msgs "
                f"rss {r['peak_rss_mb']:.0f} MB (tree {r['peak_tree_rss_mb']:.0f} MB)")  # fmt: skip
            if not kept:
                shutil.rmtree(run_dir, ignore_errors=True)
        if days == 183:
            out["backfill"][str(n)] = {"summary": summarize(runs), "runs": runs}
        if kept:
            inc = _incremental(n, days, run_dir / "data", run_dir, prefect_home, reps, log)
            shutil.rmtree(run_dir, ignore_errors=True)
            out["incremental"][str(n)] = {
                "history_messages": runs[0].get("messages"),
                "days": days,
                "backfill": runs[0],
                "summary": summarize(inc),
                "runs": inc,
            }
    inc = out["incremental"]
    s, b = inc[str(small)]["summary"], inc[str(large)]["summary"]
    if s.get("wall_s") and b.get("wall_s"):
        out["incremental_ratio"] = round(b["wall_s"] / s["wall_s"], 2)
    bs, bl = out["backfill"][str(small)]["summary"], out["backfill"][str(large)]["summary"]
    if bs.get("peak_rss_mb") and bl.get("peak_rss_mb"):
        out["rss_ratio"] = round(bl["peak_rss_mb"] / bs["peak_rss_mb"], 2)
    return out
