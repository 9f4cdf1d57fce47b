"""The transform alone on N raw messages, beside polars' `read_ndjson` (the parsing floor) and
`json.loads` + `pandas.json_normalize` of the same pages (the naive peer).

Two floors, both polars' own `read_ndjson` with its default schema inference:

- ``read_ndjson_pages``: the same bytes the transform gets, the API's pages one per line (as
  they are landed under D/raw/), records exploded out of `data`: the floor the target is judged
  against;
- ``read_ndjson_records``: the records re-serialised one per line, a lower bound nobody has for
  free (splitting pages into records is itself a parse); inference reads the first 100 rows,
  so fields absent there (in this data `options`, `rcs_options`, `alternative_channels`) are
  not parsed at all.

The pages are the simulator's own (rendered in-process, serialised as the server does, with
orjson), 500 messages each over the pipeline's 7-day windows. Each measurement runs in a
fresh process (``python -m benchmarks.transform --child KIND FILE``) so its peak RSS is its own;
the timed region starts after the input is in memory.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from .procs import child_env, run_measured

KINDS = ("transform", "read_ndjson_pages", "read_ndjson_records", "json_normalize")


def make_pages(n: int, folder: Path) -> dict:
    import orjson

    from bsg_client.windows import split_windows
    from bsg_simulator.testing import make_simulator

    sim = make_simulator(messages=n, anchor=None, start=None)
    now = sim.clock.now_dt()
    until = now.date()
    windows = split_windows(until - timedelta(days=184), until, 7, "UTC", now)
    pages, records = [], 0
    with open(folder / "records.ndjson", "wb") as nd:
        for w in windows:
            offset = 0
            while True:
                q = {**w.params(), "page[limit]": "500", "page[offset]": str(offset)}
                body = sim.messages_page(q)
                data = body["data"]
                if not data:
                    break
                pages.append(orjson.dumps(body))
                for r in data:
                    nd.write(orjson.dumps(r) + b"\n")
                records += len(data)
                offset += len(data)
                if offset >= body["meta"]["page"]["total"]:
                    break
    (folder / "pages.lines").write_bytes(b"\n".join(pages))
    return {
        "records": records,
        "pages": len(pages),
        "pages_mb": round((folder / "pages.lines").stat().st_size / 1e6, 1),
        "ndjson_mb": round((folder / "records.ndjson").stat().st_size / 1e6, 1),
    }


def _child(kind: str, folder: Path) -> dict:
    if kind == "transform":
        from bsg_analytics.batch import transform_pages
        from bsg_analytics.raw import RawPage

        data = (folder / "pages.lines").read_bytes()
        fetched = datetime.now(UTC)
        raw = [
            RawPage("messages", "/api/messages", {}, fetched, 200, body, "run", "g", i)
            for i, body in enumerate(data.split(b"\n"))
        ]
        del data
        t = time.perf_counter()
        batch = transform_pages(raw, "UTC")
        secs = time.perf_counter() - t
        rows = batch["messages"].height
    elif kind == "read_ndjson_pages":
        import polars as pl

        data = (folder / "pages.lines").read_bytes()
        t = time.perf_counter()
        pages = pl.read_ndjson(data)
        rows = pages.select(pl.col("data").explode()).unnest("data").height
        secs = time.perf_counter() - t
    elif kind == "read_ndjson_records":
        import polars as pl

        data = (folder / "records.ndjson").read_bytes()
        t = time.perf_counter()
        rows = pl.read_ndjson(data).height
        secs = time.perf_counter() - t
    else:
        import pandas as pd

        bodies = (folder / "pages.lines").read_bytes().split(b"\n")
        t = time.perf_counter()
        records = []
        for body in bodies:
            records.extend(json.loads(body)["data"])
        rows = len(pd.json_normalize(records))
        secs = time.perf_counter() - t
    return {"kind": kind, "rows": rows, "seconds": round(secs, 3)}


def run_transform(n: int, reps: int, log) -> dict:
    with tempfile.TemporaryDirectory(prefix="bsg-bench-transform-") as tmp:
        folder = Path(tmp)
        t = time.perf_counter()
        meta = make_pages(n, folder)
        log(f"transform: {meta} generated in {time.perf_counter() - t:.1f}s")
        runs: dict[str, list] = {k: [] for k in KINDS}
        for _ in range(reps):
            for kind in KINDS:
                m = run_measured(
                    [sys.executable, "-m", "benchmarks.transform", "--child", kind, str(folder)],
                    child_env(),
                    cwd=folder,
                )
                r = {"returncode": m.returncode, "peak_rss_mb": round(m.peak_rss_mb, 1)}
                if m.returncode == 0:
                    r.update(json.loads(m.stdout.strip().splitlines()[-1]))
                else:
                    r["error"] = m.stderr.strip().splitlines()[-5:]
                runs[kind].append(r)
                log(f"  {kind:15s} {r.get('seconds')}s rows {r.get('rows')} rss {r['peak_rss_mb']}")
    summary = {}
    for kind, rs in runs.items():
        ok = [r for r in rs if r.get("returncode") == 0]
        if not ok:
            summary[kind] = {"error": rs[-1].get("error")}
            continue
        secs = [r["seconds"] for r in ok]
        best = min(secs)
        summary[kind] = {
            "rows": ok[0]["rows"],
            "seconds": best,
            "seconds_all": secs,
            "spread_pct": round(100 * (max(secs) - best) / best, 1) if best else 0.0,
            "rows_per_s": round(ok[0]["rows"] / best) if best else None,
            "peak_rss_mb": max(r["peak_rss_mb"] for r in ok),
        }
    secs = {k: summary.get(k, {}).get("seconds") for k in KINDS}
    ratios = {}
    for a, b in (
        ("transform", "read_ndjson_pages"),
        ("transform", "read_ndjson_records"),
        ("json_normalize", "transform"),
    ):
        if secs[a] and secs[b]:
            ratios[f"{a}/{b}"] = round(secs[a] / secs[b], 2)
    return {"input": meta, "summary": summary, "ratios": ratios, "runs": runs}


if __name__ == "__main__":
    if sys.argv[1] == "--child":
        print(json.dumps(_child(sys.argv[2], Path(sys.argv[3]))))
