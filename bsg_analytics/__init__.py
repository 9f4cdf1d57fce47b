"""bsg-analytics: BSG message statuses, campaigns and spend as Parquet tables and DuckDB views.

Kept light: the command line imports it before anything else."""

# what `sync` says when Ctrl-C ends it, whenever that comes (before the run, in it, after it)
INTERRUPTED_LINE = (
    "interrupted; every window written so far is kept and checkpointed: "
    "run the same command again to continue"
)
