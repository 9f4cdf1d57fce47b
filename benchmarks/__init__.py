"""Benchmarks side by side with the peers: `python -m benchmarks [--messages N] [--large]`.

One run on one machine, against the simulator served by `bsg-analytics simulate` in its own
process, every contender in its own subprocess (so its peak RSS is its own):

- ``floor``: a bare httpx loop, same windows and concurrency as the pipeline, parses nothing;
- ``pipeline``: ``bsg-analytics sync --since ... --until ...`` as a user runs it with no Prefect
  server configured (``BSG_ORCHESTRATOR=auto``: the plain pipeline), end to end;
- ``pipeline_prefect``: the same command forced through a Prefect flow
  (``--orchestrator prefect``: a temporary API server per run; the difference is Prefect's);
- ``dlt``: dlt's ``rest_api`` source, offset paginator, same windows, into DuckDB;
- ``dlt_parquet``: the same source into dlt's ``filesystem`` destination as Parquet files
  (its fastest mode);
- ``naive``: ``requests`` + ``pandas.json_normalize`` into Parquet, same windows, sequential;

plus the transform alone against polars' ``read_ndjson`` and ``pandas.json_normalize``, the
metric views over 10M synthetic messages against a plain scan, the pipeline's peak RSS at 100k
and 1M messages, and an incremental sync over a 1M- vs a 100k-message history.

Modules by role: `procs` (subprocesses, peak RSS, the simulator process), `contenders` (the
child entry points), `e2e` (end to end and scale), `transform`, `views`, `machine`, `report`
(RESULTS.md). Output: ``benchmarks/RESULTS.md`` and ``benchmarks/out/results.json``.
"""
