"""Benchmark: transform of N raw messages vs polars' own `read_ndjson` of the same records.

    .venv/bin/python tests/transforms/bench_messages.py [N] [ZONE]

Each measurement runs in a fresh subprocess so its peak RSS is its own. Prints one JSON line.
The records mix SMS and RCS (30%: two cards, suggestions, SMS fallback), `amount`/`amont`,
`sent_at`/`send_at`, numeric/string/`+` phones, in pages of 500.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from datetime import UTC, datetime

import orjson


def records(n: int, seed: int = 1) -> list[dict]:
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        rcs = rnd.random() < 0.3
        phone = 380661234567 + i
        r = {
            "id": 1000 + i,
            "campaign_id": rnd.randint(1, 500),
            "reference_id": f"ref{i}",
            "type": "rcs" if rcs else "sms",
            "source": rnd.choice(["web", "rest"]),
            "text": f"Hello world message text number {i} ünï",
            "phone": rnd.choice([phone, str(phone), f"+{phone}"]),
            "validity": 72,
            "status": rnd.choice(["delivered", "sent", "read", "expired"]),
            ("amount" if rnd.random() < 0.8 else "amont"): {
                "value": f"{rnd.random():.7f}",
                "currency": "UAH",
            },
            "sender": "sender",
            "created_at": f"2024-0{1 + i % 9}-{1 + i % 28:02d} 19:44:06",
            ("sent_at" if rcs else "send_at"): "2024-04-27 19:44:07",
            "delivered_at": "2024-04-27 19:45:06",
            "country": "UA",
            "parts": 1,
        }
        if rcs:
            r["rcs_options"] = {
                "cards": [
                    {
                        "text": "c1",
                        "media": {"url": "http://x/a.png"},
                        "suggestions": [{"text": "call", "phone": "123"}],
                    },
                    {
                        "text": "c2",
                        "media": {"url": "http://x/b.png"},
                        "suggestions": [{"text": "go", "url": "http://y"}],
                    },
                ]
            }
            r["alternative_channels"] = {"sms": {"parts": 1, "id": [5000 + i]}}
        out.append(r)
    return out


def pages(recs: list[dict], per_page: int = 500) -> list[bytes]:
    return [
        orjson.dumps({"data": recs[s : s + per_page], "meta": {"page": {"offset": s}}})
        for s in range(0, len(recs), per_page)
    ]


def _hwm_mb() -> float:
    """Peak RSS of this process (VmHWM; ru_maxrss would include the parent's peak)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _child(kind: str, path: str, zone: str) -> dict:
    import polars as pl

    data = open(path, "rb").read()  # noqa: SIM115
    rss_in = _hwm_mb()
    if kind == "transform":
        from bsg_analytics.batch import transform_pages
        from bsg_analytics.raw import RawPage

        raw = [
            RawPage(
                "messages",
                "/api/messages",
                {},
                datetime(2024, 5, 1, tzinfo=UTC),
                200,
                b,
                "run",
                "g",
                i,
            )
            for i, b in enumerate(data.split(b"\n"))
        ]
        del data
        t = time.perf_counter()
        batch = transform_pages(raw, zone)
        secs = time.perf_counter() - t
        rows = batch["messages"].height
    else:
        t = time.perf_counter()
        if kind == "read_ndjson":
            df = pl.read_ndjson(data)
        else:  # the same reader with an explicit all-String schema (no inference pass)
            from bsg_analytics.transforms.messages import RECORD

            df = pl.read_ndjson(data, schema=dict(RECORD.to_schema()))
        secs = time.perf_counter() - t
        rows = df.height
    rss_mb = _hwm_mb()
    return {
        "kind": kind,
        "rows": rows,
        "seconds": round(secs, 3),
        "rows_per_s": round(rows / secs),
        "input_mb": round(len(data) / 1e6) if kind != "transform" else None,
        "rss_after_loading_input_mb": round(rss_in),
        "peak_rss_mb": round(rss_mb),
    }


def run(n: int = 1_000_000, zone: str = "Europe/Kyiv") -> dict:
    import tempfile

    recs = records(n)
    with tempfile.TemporaryDirectory() as tmp:
        nd_path, pages_path = f"{tmp}/records.ndjson", f"{tmp}/pages.lines"
        with open(nd_path, "wb") as fh:
            fh.write(b"\n".join(orjson.dumps(r) for r in recs))
        with open(pages_path, "wb") as fh:
            fh.write(b"\n".join(pages(recs)))
        del recs
        out = {"records": n, "zone": zone}
        for kind, path in (
            ("read_ndjson", nd_path),
            ("read_ndjson_schema", nd_path),
            ("transform", pages_path),
        ):
            proc = subprocess.run(
                [sys.executable, __file__, "--child", kind, path, zone],
                check=True,
                capture_output=True,
                text=True,
            )
            out[kind] = json.loads(proc.stdout.strip().splitlines()[-1])
    out["ratio_vs_read_ndjson"] = round(
        out["transform"]["seconds"] / out["read_ndjson"]["seconds"], 2
    )
    out["ratio_vs_read_ndjson_schema"] = round(
        out["transform"]["seconds"] / out["read_ndjson_schema"]["seconds"], 2
    )
    return out


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(_child(sys.argv[2], sys.argv[3], sys.argv[4])))
    else:
        n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
        zone = sys.argv[2] if len(sys.argv) > 2 else "Europe/Kyiv"
        print(json.dumps(run(n, zone)))
