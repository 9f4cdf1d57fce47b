"""Each metric view over N synthetic messages (10M by default) beside a plain scan of the same
Parquet files.

The messages table is generated with the real schema (`schemas.tables.MESSAGES`) and written
as the pipeline's writer lays it out: ``D/parquet/messages/created_date=<day>/data.parquet``,
zstd level 3, rows sorted by key, one file per day over 183 days. The warehouse is built with
`build_warehouse` (other tables empty). A view is timed as ``SELECT * FROM view`` fetched to
Arrow (every row computed), best of `reps`, beside:

- the plain scan: ``SELECT count(*), sum(amount_value) FROM read_parquet(<the same files>)``;
- a wide scan (for reference): min/max of every column `message_facts` reads.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from .procs import child_env, run_measured

FACT_COLUMNS = (
    "message_id", "campaign_id", "channel", "sender", "status", "created_at", "sent_at",
    "delivered_at", "amount_value", "amount_currency",
)  # fmt: skip


def generate(n: int, root: Path, seed: int = 11) -> dict:
    import numpy as np
    import polars as pl

    from schemas import statuses
    from schemas.tables import MESSAGES

    rng = np.random.default_rng(seed)
    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = end - timedelta(days=183)
    span_us = 183 * 86400 * 1_000_000
    created = np.sort(rng.integers(0, span_us, n)) + int(start.timestamp() * 1_000_000)
    ids = np.arange(100_000_001, 100_000_001 + n, dtype=np.int64)
    rcs = rng.random(n) < 0.3
    status_names = np.array(sorted(statuses.KNOWN_MESSAGE_STATUSES))
    weights = np.array([8.0 if s in statuses.DELIVERED_STATUSES else 1.0 for s in status_names])
    status = rng.choice(status_names, n, p=weights / weights.sum())
    sms_ids = ids[~rcs]
    fb = rcs & (rng.random(n) < 0.25)
    fb_target = rng.choice(sms_ids, n) if len(sms_ids) else ids
    df = pl.DataFrame(
        {
            "message_id": ids,
            "campaign_id": rng.integers(1001, 41001, n),
            "channel": np.where(rcs, "rcs", "sms"),
            "source": np.where(rng.random(n) < 0.5, "web", "rest"),
            "sender": np.array([f"Sender{i:02d}" for i in range(12)])[rng.integers(0, 12, n)],
            "status": status,
            "created_us": created,
            "sent_delay": rng.integers(0, 60_000_000, n),
            "latency": (rng.lognormal(2.5, 1.0, n) * 1_000_000).astype(np.int64),
            "amount": rng.integers(0, 2_000_000, n),
            "fb": fb,
            "fb_target": fb_target,
        }
    )
    not_sent = list(statuses.NOT_YET_SENT_STATUSES)
    delivered = list(statuses.DELIVERED_STATUSES)
    ts = pl.Datetime("us", "UTC")
    df = df.select(
        pl.col("message_id"),
        pl.col("campaign_id").cast(pl.Int64),
        pl.format("ref{}", "message_id").alias("reference_id"),
        pl.col("channel"),
        pl.col("source"),
        pl.col("sender"),
        pl.format("+380{}", pl.col("message_id") % 1_000_000_000).alias("phone"),
        pl.format("Hello, your code is {}", pl.col("message_id") % 10_000).alias("text"),
        pl.lit(72, pl.Int32).alias("validity_hours"),
        pl.col("status"),
        pl.col("created_us").cast(ts).alias("created_at"),
        pl.when(pl.col("status").is_in(not_sent))
        .then(None)
        .otherwise(pl.col("created_us") + pl.col("sent_delay"))
        .cast(ts)
        .alias("sent_at"),
        pl.when(pl.col("status").is_in(delivered))
        .then(pl.col("created_us") + pl.col("sent_delay") + pl.col("latency"))
        .otherwise(None)
        .cast(ts)
        .alias("delivered_at"),
        (pl.col("amount").cast(pl.Float64) / 1e7).cast(pl.Decimal(18, 7)).alias("amount_value"),
        pl.lit("EUR").alias("amount_currency"),
        pl.when(pl.col("fb")).then(pl.lit(1, pl.Int32)).alias("fallback_sms_parts"),
        pl.when(pl.col("fb")).then(pl.concat_list("fb_target")).alias("fallback_sms_ids"),
        pl.lit("UA").alias("country"),
        pl.lit(1, pl.Int32).alias("parts"),
        pl.lit(None, pl.String).alias("options_json"),
        pl.col("created_us").cast(ts).dt.date().alias("created_date"),
        pl.lit(end, ts).alias("extracted_at"),
    )
    df = df.select([pl.col(c).cast(t) for c, t in MESSAGES.schema.items()])
    assert dict(df.schema) == dict(MESSAGES.schema), df.schema
    base = root / "parquet" / "messages"
    files = 0
    for (day,), part in df.partition_by("created_date", as_dict=True).items():
        folder = base / f"created_date={day.isoformat()}"
        folder.mkdir(parents=True, exist_ok=True)
        part.write_parquet(
            folder / "data.parquet", compression="zstd", compression_level=3, statistics=True
        )
        files += 1
    size = sum(f.stat().st_size for f in base.rglob("*.parquet"))
    return {"rows": df.height, "files": files, "parquet_mb": round(size / 1e6, 1)}


def _best(con, sql: str, reps: int) -> tuple[float, list[float], int]:
    times, rows = [], 0
    for _ in range(reps):
        t = time.perf_counter()
        rows = con.execute(sql).to_arrow_table().num_rows
        times.append(round(time.perf_counter() - t, 4))
    return min(times), times, rows


def query(root: Path, reps: int) -> dict:
    from bsg_analytics.storage import DataDir
    from bsg_analytics.warehouse import METRIC_VIEWS, build_warehouse, connect

    data_dir = DataDir(str(root))
    t = time.perf_counter()
    build_warehouse(data_dir)
    build_s = time.perf_counter() - t
    con = connect(data_dir)
    glob = str(root / "parquet" / "messages" / "**" / "*.parquet")
    src = f"read_parquet('{glob}', hive_partitioning = true)"
    scan = f"SELECT count(*), sum(amount_value) FROM {src}"
    wide = "SELECT " + ", ".join(f"min({c}), max({c})" for c in FACT_COLUMNS) + f" FROM {src}"
    out = {"build_warehouse_s": round(build_s, 3), "threads": con.execute(
        "SELECT current_setting('threads')").fetchone()[0]}  # fmt: skip
    out["scan"] = dict(zip(("seconds", "seconds_all", "rows"), _best(con, scan, reps), strict=True))
    out["wide_scan"] = dict(
        zip(("seconds", "seconds_all", "rows"), _best(con, wide, reps), strict=True)
    )
    out["views"] = {}
    for view in METRIC_VIEWS:
        best, times, rows = _best(con, f"SELECT * FROM {view}", reps)
        out["views"][view] = {
            "seconds": best,
            "seconds_all": times,
            "rows": rows,
            "ratio_vs_scan": round(best / out["scan"]["seconds"], 2),
            "ratio_vs_wide_scan": round(best / out["wide_scan"]["seconds"], 2),
        }
    return out


def run_views(n: int, reps: int, log) -> dict:
    with tempfile.TemporaryDirectory(prefix="bsg-bench-views-") as tmp:
        root = Path(tmp) / "data"
        cmd = [sys.executable, "-m", "benchmarks.views", "generate", str(n), str(root)]
        m = run_measured(cmd, child_env(), cwd=tmp)
        if m.returncode != 0:
            return {"error": m.stderr.strip().splitlines()[-5:]}
        gen = json.loads(m.stdout.strip().splitlines()[-1])
        log(f"views: generated {gen} in {m.wall_s:.1f}s")
        cmd = [sys.executable, "-m", "benchmarks.views", "query", str(reps), str(root)]
        m = run_measured(cmd, child_env(), cwd=tmp)
        if m.returncode != 0:
            return {"input": gen, "error": m.stderr.strip().splitlines()[-5:]}
        out = json.loads(m.stdout.strip().splitlines()[-1])
        out["input"] = gen
        out["peak_rss_mb"] = round(m.peak_rss_mb, 1)
        log(f"  scan {out['scan']['seconds']}s wide {out['wide_scan']['seconds']}s")
        for v, r in out["views"].items():
            log(f"  {v:25s} {r['seconds']:.3f}s  x{r['ratio_vs_scan']} of the scan")
        return out


if __name__ == "__main__":
    if sys.argv[1] == "generate":
        print(json.dumps(generate(int(sys.argv[2]), Path(sys.argv[3]))))
    elif sys.argv[1] == "query":
        print(json.dumps(query(Path(sys.argv[3]), int(sys.argv[2]))))
