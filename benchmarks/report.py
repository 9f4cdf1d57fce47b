"""RESULTS.md from the results dict (every number in it comes from this run's results.json)."""

from __future__ import annotations

from pathlib import Path

TARGETS = {
    "e2e_vs_dlt": "end to end >= 5x dlt's messages/s, at 0 and 50 ms",
    "e2e_vs_floor": "end to end within 1.15x of the floor at 50 ms",
    "cpu_vs_floor": "backfill client CPU at most 2x the bare download's, and below the naive "
    "script's (0 ms)",
    "prefect": "a Prefect flow run within 1.3x of the plain run (wall, 0 ms, a running server)",
    "transform": "transform within 1.5x of the parsing floor (polars read_ndjson of the pages)",
    "rss": "peak RSS < 1 GiB at 1M messages, flat from 100k to 1M",
    "views": "each metric view within 2x of a plain scan of the same files (same columns)",
    "incremental": "incremental cost follows the look-back window, not the history",
}


def _f(x, nd=2):
    if x is None:
        return "—"
    if isinstance(x, float):
        return f"{x:,.{nd}f}"
    if isinstance(x, int):
        return f"{x:,}"
    return str(x)


def _met(ok) -> str:
    return "—" if ok is None else ("**met**" if ok else "**missed**")


def targets(results: dict) -> dict[str, tuple[bool | None, str]]:
    out: dict[str, tuple[bool | None, str]] = {}
    lat = results.get("e2e", {}).get("latencies", {})
    if lat:
        vs = {k: v["ratios"].get("dlt/pipeline") for k, v in lat.items()}
        if all(v is not None for v in vs.values()):
            detail = ", ".join(f"{k} ms: {v}x" for k, v in vs.items())
            out["e2e_vs_dlt"] = (all(v >= 5 for v in vs.values()), detail)
        r50 = lat.get("50", {}).get("ratios", {})
        if r50.get("pipeline/floor") is not None:
            prefect = r50.get("pipeline_prefect/floor")
            out["e2e_vs_floor"] = (
                r50["pipeline/floor"] <= 1.15,
                f"{r50['pipeline/floor']}x (through a Prefect flow: {prefect}x)",
            )
    c0 = lat.get("0", {}).get("cpu_ratios", {})
    if c0.get("pipeline/floor") is not None:
        naive = c0.get("pipeline/naive")
        out["cpu_vs_floor"] = (
            c0["pipeline/floor"] <= 2 and (naive is None or naive < 1),
            f"x{c0['pipeline/floor']} of the floor's CPU per message, x{_f(naive)} of the "
            "naive script's",
        )
    r0 = lat.get("0", {}).get("ratios", {})
    served = r0.get("pipeline_prefect_server/pipeline")
    if served is not None:
        out["prefect"] = (
            served <= 1.3,
            f"x{served} of the plain run's wall time with a running Prefect server "
            f"(x{_f(r0.get('pipeline_prefect/pipeline'))} with a temporary one per run)",
        )
    tr = results.get("transform", {}).get("ratios", {})
    judged = tr.get("transform/read_ndjson_pages")
    if judged is not None:
        records = tr.get("transform/read_ndjson_records")
        out["transform"] = (
            judged <= 1.5,
            f"{judged}x (of reading pre-split records, a lower bound: {records}x)",
        )
    sc = results.get("scale", {})
    bf = sc.get("backfill", {})
    if len(bf) == 2 and sc.get("rss_ratio") is not None:
        small, large = sorted(bf, key=int)
        peak = bf[large]["summary"].get("peak_rss_mb")
        ok = peak is not None and peak < 1024 and sc["rss_ratio"] <= 1.25
        out["rss"] = (
            ok,
            f"{_f(bf[small]['summary'].get('peak_rss_mb'), 0)} MB at {int(small):,}, "
            f"{_f(peak, 0)} MB at {int(large):,} (x{sc['rss_ratio']}; flat taken as <= 1.25x)",
        )
    if sc.get("incremental_ratio") is not None:
        out["incremental"] = (
            sc["incremental_ratio"] <= 1.25,
            f"x{sc['incremental_ratio']} (1M-history / 100k-history; flat taken as <= 1.25x)",
        )
    vw = results.get("views", {}).get("views")
    if vw:
        judged = "ratio_vs_same_columns_scan"
        worst = max(vw.items(), key=lambda kv: kv[1][judged])
        out["views"] = (
            all(v[judged] <= 2 for v in vw.values()),
            f"worst {worst[0]} x{worst[1][judged]} of a scan of its {len(worst[1]['columns'])} "
            f"columns (x{worst[1]['ratio_vs_scan']} of the 1-column count/sum scan)",
        )
    return out


def write(results: dict, path: Path, notes: Path | None = None) -> str:
    m = results["machine"]
    lines = [
        "# Benchmarks side by side with the peers",
        "",
        f"Written by `python -m benchmarks {results['argv']}` on {m['date']}. "
        "Machine-readable: `benchmarks/out/results.json`.",
        "",
        f"- machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, {m['os']}",
        f"- load average at start: {m['load_average_at_start']} (other jobs were running: "
        "numbers are best-of-N with the spread shown)",
        f"- Python {m['python']}; " + ", ".join(f"{k} {v}" for k, v in m["libraries"].items() if v),
        "",
        "## Targets",
        "",
        "| target | measured | |",
        "|---|---|---|",
    ]
    for key, text in TARGETS.items():
        ok, detail = targets(results).get(key, (None, "not run"))
        lines.append(f"| {text} | {detail} | {_met(ok)} |")
    e2e = results.get("e2e")
    if e2e:
        s = e2e["settings"]
        lines += [
            "",
            f"## End to end ({_f(e2e['messages_asked'])} messages asked of the simulator)",
            "",
            f"Same windows for everyone ({s['window_days']}-day windows from `split_windows`, "
            f"pages of {s['page_limit']}), the pipeline's concurrency {s['concurrency']} for the "
            "floor, the pipeline and dlt. Wall time is the whole subprocess (interpreter start "
            "and imports included); best of the runs, spread = (worst - best) / best. "
            "Ratios are per message (seconds per message of A / of B). `sim cpu` is the "
            "simulator process's CPU time during the best run.",
            "",
            "- **floor**: bare httpx loop, parses nothing but each window's total;",
            "- **pipeline**: `bsg-analytics sync --since ... --until ...` as a user runs it "
            "with no Prefect server configured (`BSG_ORCHESTRATOR=auto`: the plain pipeline on "
            "a thread pool), extract + raw landing + transform + Parquet merge + warehouse "
            "build, and it also reads the campaign list and every campaign's detail, which the "
            "others do not;",
            "- **pipeline_prefect_server**: the same command through a Prefect flow on a "
            "Prefect server that is already running (`PREFECT_API_URL`, as a deployment's "
            "worker has; the server started once by the benchmark);",
            "- **pipeline_prefect**: the same command through a Prefect flow "
            "(`--orchestrator prefect`, a temporary API server started by the run);",
            "- **dlt**: `rest_api` source, offset paginator, `parallelized` resources, "
            "EXTRACT__WORKERS = concurrency, append into DuckDB (defaults otherwise);",
            "- **dlt_parquet**: the same source into dlt's `filesystem` destination (a local "
            "folder) as Parquet files, dlt's fastest mode;",
            "- **naive**: `requests` + `pandas.json_normalize` into Parquet, sequential, "
            "one page after the other (what a first script does).",
        ]
        for latency, block in e2e["latencies"].items():
            lines += [
                "",
                f"### {latency} ms simulated latency ({block['windows']} windows)",
                "",
                "| contender | messages | wall s (best) | runs | spread | messages/s | "
                "CPU s | sim CPU s | peak RSS MB | tree RSS MB |",
                "|---|---|---|---|---|---|---|---|---|---|",
            ]
            for kind, r in block["summary"].items():
                if not r.get("ok"):
                    lines.append(f"| {kind} | failed: {r.get('errors')} |||||||||")
                    continue
                lines.append(
                    f"| {kind} | {_f(r['messages'])} | {_f(r['wall_s'])} | "
                    f"{' / '.join(_f(w) for w in r['wall_s_all'])} | {r['spread_pct']}% | "
                    f"{_f(r['messages_per_s'])} | {_f(r['cpu_s'])} | {_f(r['sim_cpu_s'])} | "
                    f"{_f(r['peak_rss_mb'], 0)} | {_f(r['peak_tree_rss_mb'], 0)} |"
                )
            lines.append("")
            lines.append(
                "Ratios of wall time: "
                + ", ".join(f"{k} **{_f(v)}x**" for k, v in block["ratios"].items())
            )
            lines.append("")
            lines.append(
                "Ratios of CPU time (each contender's process tree, not the simulator's): "
                + ", ".join(f"{k} **{_f(v)}x**" for k, v in block.get("cpu_ratios", {}).items())
            )
    tr = results.get("transform")
    if tr:
        i = tr["input"]
        lines += [
            "",
            f"## Transform alone ({_f(i['records'])} raw messages, {i['pages']} pages, "
            f"{i['pages_mb']} MB)",
            "",
            "`transform_pages` (pages -> typed, validated tables with quarantine and the "
            "unknown-field report) beside polars `read_ndjson` with its default inference: "
            "`read_ndjson_pages` reads the same bytes (the pages, one per line, as landed) and "
            "explodes the records (the floor the target is judged on); `read_ndjson_records` "
            "reads the records re-serialised one per line (a lower bound: splitting pages is "
            "itself a parse, and inference from the first 100 rows skips `options`, "
            "`rcs_options` and `alternative_channels` here). `json.loads` + "
            "`pandas.json_normalize` of the same pages is the naive peer. Input already in "
            "memory; each in its own process.",
            "",
            "| | rows | seconds (best) | runs | rows/s | peak RSS MB |",
            "|---|---|---|---|---|---|",
        ]
        for kind, r in tr["summary"].items():
            if "error" in r:
                lines.append(f"| {kind} | failed: {r['error']} |||||")
                continue
            lines.append(
                f"| {kind} | {_f(r['rows'])} | {_f(r['seconds'], 3)} | "
                f"{' / '.join(_f(x, 3) for x in r['seconds_all'])} | {_f(r['rows_per_s'])} | "
                f"{_f(r['peak_rss_mb'], 0)} |"
            )
        lines += ["", "Ratios: " + ", ".join(f"{k} **{v}x**" for k, v in tr["ratios"].items())]
    vw = results.get("views")
    if vw and "views" in vw:
        i = vw["input"]
        lines += [
            "",
            f"## Metric views over {_f(i['rows'])} synthetic messages "
            f"({i['files']} files, {i['parquet_mb']} MB Parquet)",
            "",
            f"DuckDB, {vw['threads']} threads, `SELECT * FROM view` to Arrow, best of the runs, "
            "beside a plain scan of the same files that reads the columns the view reads (taken "
            "from the view's plan: its Parquet scans' projections and filter columns), "
            "`SELECT count(*), min(c), max(c), ...`, timed alternately with the view. A view "
            "cannot read less than the columns its metric needs, so that scan is the floor the "
            "target is judged against (**x same-columns scan**). For reference, x the 1-column "
            f"scan `count(*), sum(amount_value)`: {vw['scan']['seconds']} s "
            f"({vw['scan']['seconds_all']}).",
            "",
            "| view | rows | seconds (best) | runs | columns read | same-columns scan s | "
            "**x same-columns scan** | x 1-column scan |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for name, r in vw["views"].items():
            floor = r["same_columns_scan"]
            lines.append(
                f"| {name} | {_f(r['rows'])} | {r['seconds']} | {r['seconds_all']} | "
                f"{', '.join(r['columns'])} | {floor['seconds']} ({floor['seconds_all']}) | "
                f"**{r['ratio_vs_same_columns_scan']}** | {r['ratio_vs_scan']} |"
            )
    sc = results.get("scale")
    if sc:
        lines += [
            "",
            "## Scale: peak RSS and incremental syncs (`bsg-analytics sync`, 0 ms latency)",
            "",
            "| run | messages | wall s | runs | peak RSS MB | tree RSS MB |",
            "|---|---|---|---|---|---|",
        ]
        for n, b in sc.get("backfill", {}).items():
            r = b["summary"]
            lines.append(
                f"| backfill {_f(int(n))} (183 days) | {_f(r.get('messages'))} | "
                f"{_f(r.get('wall_s'))} | {r.get('wall_s_all')} | {_f(r.get('peak_rss_mb'), 0)} "
                f"| {_f(r.get('peak_tree_rss_mb'), 0)} |"
            )
        for b in sc.get("incremental", {}).values():
            r = b["summary"]
            lines.append(
                f"| incremental over {_f(b.get('history_messages'))} ({b['days']} days), "
                f"look-back 72 h | {_f(r.get('messages'))} | {_f(r.get('wall_s'))} | "
                f"{r.get('wall_s_all')} | {_f(r.get('peak_rss_mb'), 0)} | "
                f"{_f(r.get('peak_tree_rss_mb'), 0)} |"
            )
        lines += [
            "",
            f"Peak RSS 1M / 100k: x{sc.get('rss_ratio')}. Incremental 1M-history / "
            f"100k-history: x{sc.get('incremental_ratio')} (same density: the 100k history "
            "spans 183 * 100k / 1M days, so the 72 h look-back holds about as many messages).",
        ]
    ex = results.get("exports")
    if ex:
        per = ex["per_100k"]
        lines += [
            "",
            f"## The statistics export (`exports` stream): a {ex['days']}-day backfill of "
            f"{_f(ex['messages'])} messages with and without it, 0 ms latency",
            "",
            "| run | wall s | client CPU s | requests | message_costs rows | exports made | "
            "polls |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in ex["runs"]:
            lines.append(
                f"| exports {'on' if r['export_costs'] else 'off'} | {r['wall_s']} | "
                f"{r['cpu_s']} | {r['requests']} | {_f(r['message_costs'])} | "
                f"{r['exports_made']} | {r['export_polls']} |"
            )
        lines += [
            "",
            f"Per 100k messages the export adds {per['export_requests']} requests "
            f"({per['exports_made']} jobs, {per['polls']} polls), {per['wall_s']} s wall and "
            f"{per['cpu_s']} client CPU-seconds (wall x{ex['ratio_wall']}, CPU "
            f"x{ex['ratio_cpu']} of the sync without it). The simulator makes a job ready 1 s "
            "after it is posted; two jobs at most run at once.",
        ]
    inc = results.get("incremental")
    if inc:
        lines += [
            "",
            f"## An hourly incremental sync: a {_f(inc['backfill']['messages'])}-message "
            f"history over {inc['days']} days, one hour of traffic later",
            "",
            f"New messages: {_f(inc['new'])}; messages that could still change after the "
            f"backfill: {_f(inc['open_after_backfill'])}; their sum, the yardstick: "
            f"{_f(inc['new_or_can_change'])} (statuses that did move in the hour: "
            f"{_f(inc['changed'])}).",
            "",
            "| look-back | requests | messages served | x yardstick | wall s | CPU s | windows "
            "| stale statuses after |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for mode in ("adaptive", "fixed"):
            r = inc[mode]
            lines.append(
                f"| {mode} | {r['requests']} | {_f(r['served'])} | {r['reread_ratio']} | "
                f"{r['wall_s']} | {r['cpu_s']} | {r['windows']} | {r['stale']} |"
            )
        lines += [
            "",
            f"Adaptive / fixed: requests x{inc['ratio_requests']}, messages served "
            f"x{inc['ratio_served']}, CPU x{inc['ratio_cpu']} (CPU: this process, the client "
            "and the in-process simulator serving it).",
        ]
    if results.get("skipped"):
        lines += ["", "Not run in this invocation: " + ", ".join(results["skipped"]) + "."]
    if notes is not None and notes.exists():
        lines += ["", notes.read_text().rstrip()]
    text = "\n".join(lines) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return text
