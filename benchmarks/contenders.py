"""The contenders, each run as its own process: ``python -m benchmarks.contenders KIND SPEC``.

SPEC is JSON: base_url, token, windows ([[filter_from, filter_to], ...], the API's wall-clock
strings), concurrency, page_limit, out_dir. Each prints
one JSON line last: messages, pages, bytes, inner_s (time inside the process, after imports).
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

MESSAGES_PATH = "/api/messages"
CAMPAIGN_LIST_PATH = "/api/campaigns"
_TOTAL = re.compile(rb'"total"\s*:\s*(\d+)')


def _params(window: list[str], limit: int, offset: int) -> dict[str, str]:
    # the pipeline's paginator sends the same parameters
    return {
        "filter[from]": window[0],
        "filter[to]": window[1],
        "sort": "id",
        "way": "asc",
        "page[limit]": str(limit),
        "page[offset]": str(offset),
    }


def floor(spec: dict) -> dict:
    """Every page the pipeline downloads, `concurrency` requests in flight, nothing parsed but
    what the next request needs: each window's messages pages (the total found with a regex
    in the first page's tail), and, when the spec names campaign windows, the campaign list of
    the three listable types per window and every listed campaign's detail (the ids read from
    the list)."""
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    import httpx
    import orjson

    n = spec["concurrency"]
    limit = spec["page_limit"]
    client = httpx.Client(
        base_url=spec["base_url"],
        headers={"Authorization": f"Bearer {spec['token']}"},
        limits=httpx.Limits(max_connections=n, max_keepalive_connections=n),
        timeout=60,
    )
    started = time.perf_counter()

    def get(kind, path, window, offset, extra=None):
        params = None if window is None else {**_params(window, limit, offset), **(extra or {})}
        resp = client.get(path, params=params)
        resp.raise_for_status()
        return kind, path, window, offset, extra, resp.content

    counts = {"pages": 0, "bytes": 0, "messages": 0, "campaign_pages": 0, "details": 0}
    with ThreadPoolExecutor(max_workers=n) as pool:
        pending = {pool.submit(get, "messages", MESSAGES_PATH, w, 0) for w in spec["windows"]}
        pending |= {
            pool.submit(get, "campaigns", CAMPAIGN_LIST_PATH, w, 0, {"filter[type]": t})
            for w in spec.get("campaign_windows", [])
            for t in ("sms", "rcs", "whatsapp")  # the listable types
        }
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                kind, path, window, offset, extra, body = fut.result()
                counts["pages"] += 1
                counts["bytes"] += len(body)
                if kind == "details":
                    counts["details"] += 1
                    continue
                if kind == "campaigns":
                    counts["campaign_pages"] += 1
                    ids = [r["id"] for r in orjson.loads(body)["data"]]
                    pending |= {
                        pool.submit(get, "details", f"/api/campaigns/{i}/detail", None, 0)
                        for i in ids
                    }
                if offset == 0:
                    total = int(_TOTAL.search(body, max(0, len(body) - 300)).group(1))
                    if kind == "messages":
                        counts["messages"] += total
                    pending |= {
                        pool.submit(get, kind, path, window, o, extra)
                        for o in range(limit, total, limit)
                    }
    client.close()
    return {**counts, "inner_s": time.perf_counter() - started}


def _dlt_source(spec: dict):
    """dlt's `rest_api` source: one resource per window (all into table `messages`), offset
    paginator on page[offset]/page[limit] up to meta.page.total, bearer auth, resources
    `parallelized` (dlt's own switch for concurrent extraction; EXTRACT__WORKERS = the
    pipeline's concurrency, set by the runner)."""
    from dlt.sources.rest_api import rest_api_source

    config = {
        "client": {
            "base_url": spec["base_url"],
            "auth": {"type": "bearer", "token": spec["token"]},
            "paginator": {
                "type": "offset",
                "limit": spec["page_limit"],
                "offset_param": "page[offset]",
                "limit_param": "page[limit]",
                "total_path": "meta.page.total",
            },
        },
        "resource_defaults": {
            "parallelized": True,
            "write_disposition": "append",
            "endpoint": {"data_selector": "data"},
        },
        "resources": [
            {
                "name": f"messages_w{i:03d}",
                "table_name": "messages",
                "endpoint": {
                    "path": MESSAGES_PATH.lstrip("/"),
                    "params": {
                        "filter[from]": w[0],
                        "filter[to]": w[1],
                        "sort": "id",
                        "way": "asc",
                    },
                },
            }
            for i, w in enumerate(spec["windows"])
        ],
    }
    return rest_api_source(config)


def dlt_rest_api(spec: dict) -> dict:
    """dlt's `rest_api` source (`_dlt_source`) into DuckDB; everything else dlt's default
    (append, DuckDB's default loader format)."""
    import dlt

    out = Path(spec["out_dir"])
    started = time.perf_counter()
    pipeline = dlt.pipeline(
        pipeline_name="bsg_bench",
        destination=dlt.destinations.duckdb(str(out / "dlt.duckdb")),
        dataset_name="bsg",
        pipelines_dir=str(out / "dlt_pipelines"),
    )
    pipeline.run(_dlt_source(spec))
    with pipeline.sql_client() as sql:
        messages = sql.execute_sql("select count(*) from messages")[0][0]
    return {"messages": int(messages), "inner_s": time.perf_counter() - started}


def dlt_parquet(spec: dict) -> dict:
    """dlt's fastest mode: the same source into its `filesystem` destination, a local
    folder, as Parquet files (``loader_file_format="parquet"``: pyarrow writes them); the
    rows are counted from the files' metadata."""
    import dlt
    import pyarrow.parquet as pq

    out = Path(spec["out_dir"])
    started = time.perf_counter()
    pipeline = dlt.pipeline(
        pipeline_name="bsg_bench_fs",
        destination=dlt.destinations.filesystem(bucket_url=(out / "dlt_fs").as_uri()),
        dataset_name="bsg",
        pipelines_dir=str(out / "dlt_pipelines"),
    )
    pipeline.run(_dlt_source(spec), loader_file_format="parquet")
    files = sorted((out / "dlt_fs" / "bsg" / "messages").rglob("*.parquet"))
    messages = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    return {"messages": messages, "files": len(files), "inner_s": time.perf_counter() - started}


def naive(spec: dict) -> dict:
    """What a user would write first: requests, one page after the other, every record in a
    list, `pandas.json_normalize`, `to_parquet`. Mixed-type columns (phone as number or
    string, nested lists) make pyarrow refuse the frame, so object columns go as str, the
    usual fix."""
    import pandas as pd
    import requests

    out = Path(spec["out_dir"])
    started = time.perf_counter()
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {spec['token']}"
    records: list = []
    pages = 0
    limit = spec["page_limit"]
    for window in spec["windows"]:
        offset = 0
        while True:
            resp = session.get(
                spec["base_url"] + MESSAGES_PATH,
                params=_params(window, limit, offset),
                timeout=60,
            )
            resp.raise_for_status()
            body = resp.json()
            pages += 1
            data = body["data"]
            records.extend(data)
            offset += len(data)
            if not data or offset >= body["meta"]["page"]["total"]:
                break
    df = pd.json_normalize(records)
    obj = df.select_dtypes("object").columns
    df[obj] = df[obj].astype(str)
    df.to_parquet(out / "messages.parquet")
    return {"messages": len(df), "pages": pages, "inner_s": time.perf_counter() - started}


KINDS = {
    "floor": floor,
    "dlt": dlt_rest_api,
    "dlt_parquet": dlt_parquet,
    "naive": naive,
}


if __name__ == "__main__":
    kind, spec_text = sys.argv[1], sys.argv[2]
    spec = json.loads(Path(spec_text).read_text() if spec_text.endswith(".json") else spec_text)
    print(json.dumps(KINDS[kind](spec)))
