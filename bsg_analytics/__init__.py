"""bsg-analytics: BSG message statuses, campaigns and spend as Parquet tables and DuckDB views.

Kept light: the command line imports it before anything else."""

import signal
import sys

# what `sync` says when Ctrl-C ends it, whenever that comes (before the run, in it, after it)
INTERRUPTED_LINE = (
    "interrupted; every window written so far is kept and checkpointed: "
    "run the same command again to continue"
)


def settle() -> None:
    """The command has said how it ended: from here Ctrl-C is ignored, so the exit code it
    was going to have stands (a KeyboardInterrupt raised while the interpreter shuts down, or
    the default action once the interpreter has put it back for its last steps, turned a
    finished sync's 0 into a death by SIGINT, -2). Ignored, not handled: the interpreter keeps
    an ignored signal ignored to the end. A shutdown that hangs still ends with SIGTERM."""
    sys.stdout.flush()
    sys.stderr.flush()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
