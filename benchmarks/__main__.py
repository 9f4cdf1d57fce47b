"""`python -m benchmarks [--messages 200000] [--large] [--quick]`: see benchmarks/__init__.py."""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from . import machine, report
from .e2e import CONTENDERS, run_e2e, run_scale, warm_prefect

HERE = Path(__file__).resolve().parent
SECTIONS = ("e2e", "transform", "views", "scale", "exports", "incremental")


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    p.add_argument("--messages", type=int, default=200_000, help="end to end messages")
    p.add_argument("--large", action="store_true", help="end to end at 1M messages")
    p.add_argument("--quick", action="store_true", help="tiny sizes, one run each (smoke)")
    p.add_argument("--reps", type=int, default=None, help="runs per measurement (default 2)")
    p.add_argument(
        "--peer-reps", type=int, default=None, help="runs of dlt, dlt_parquet and naive (default 1)"
    )
    p.add_argument("--latencies", default="0,50", help="simulated latencies in ms")
    p.add_argument("--contenders", default=",".join(CONTENDERS))
    p.add_argument("--sections", default=",".join(SECTIONS))
    p.add_argument("--transform-messages", type=int, default=1_000_000)
    p.add_argument("--view-messages", type=int, default=10_000_000)
    p.add_argument("--scale", default="100000,1000000", help="small,large for RSS/incremental")
    p.add_argument("--export-messages", type=int, default=100_000, help="the export's run")
    p.add_argument(
        "--incremental-messages", type=int, default=1_000_000, help="the hourly sync's history"
    )
    p.add_argument("--out", type=Path, default=HERE / "out", help="results.json goes here")
    p.add_argument("--results", type=Path, default=HERE / "RESULTS.md")
    p.add_argument("--notes", type=Path, default=HERE / "NOTES.md", help="appended to RESULTS")
    a = p.parse_args(argv)
    if a.large:
        a.messages = 1_000_000
    if a.quick:
        a.messages = min(a.messages, 3_000)
        a.transform_messages = min(a.transform_messages, 20_000)
        a.view_messages = min(a.view_messages, 200_000)
        a.scale = "3000,10000"
        a.export_messages = min(a.export_messages, 3_000)
        a.incremental_messages = min(a.incremental_messages, 5_000)
        a.reps = a.reps or 1
    a.reps = a.reps or 2
    return a


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the simulators are stopped
    a = parse(argv)
    sections = [s for s in a.sections.split(",") if s]
    contenders = [c for c in a.contenders.split(",") if c]
    unknown = (set(sections) - set(SECTIONS)) | (set(contenders) - set(CONTENDERS))
    if unknown:
        print(f"unknown sections/contenders: {sorted(unknown)}", file=sys.stderr)
        return 2
    a.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    def log(text: str) -> None:
        print(f"[{time.perf_counter() - started:7.1f}s] {text}", flush=True)

    results: dict = {
        "argv": " ".join(argv),
        "machine": machine.describe(),
        "skipped": [s for s in SECTIONS if s not in sections],
    }
    json_path = a.out / "results.json"

    def save() -> None:
        json_path.write_text(json.dumps(results, indent=1, default=str))
        report.write(results, a.results, a.notes if not a.quick else None)

    work = Path(tempfile.mkdtemp(prefix="bsg-bench-"))
    prefect_home = work / "prefect-home"
    try:
        if "e2e" in sections and "pipeline_prefect" in contenders:
            warm_prefect(prefect_home, work, log)
        if "e2e" in sections:
            latencies = [float(x) for x in a.latencies.split(",") if x]
            results["e2e"] = run_e2e(
                a.messages,
                latencies,
                contenders,
                a.reps,
                work,
                prefect_home,
                log,
                peer_reps=a.peer_reps or 1,
            )
            save()
        if "transform" in sections:
            from .transform import run_transform

            results["transform"] = run_transform(a.transform_messages, a.reps, log)
            save()
        if "views" in sections:
            from .views import run_views

            results["views"] = run_views(a.view_messages, max(3, a.reps), log)
            save()
        if "scale" in sections:
            small, large = (int(x) for x in a.scale.split(","))
            results["scale"] = run_scale(small, large, a.reps, work, prefect_home, log)
            save()
        if "exports" in sections:
            from .exports import run_exports

            results["exports"] = run_exports(a.export_messages, a.reps, log)
            save()
        if "incremental" in sections:
            from .incremental import run_incremental

            results["incremental"] = run_incremental(a.incremental_messages, log)
            save()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["total_seconds"] = round(time.perf_counter() - started, 1)
    save()
    log(f"wrote {a.results} and {json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
