"""The `bsg-analytics` command (and `python -m bsg_analytics`): the command line of
`bsg_analytics.cli`, with a Ctrl-C that comes while it is still starting up said in the same
one line as one that comes later (the commands' own handlers take over once they run)."""

from __future__ import annotations

import sys

from bsg_analytics import INTERRUPTED_LINE


def main() -> None:
    try:
        from bsg_analytics.cli import app

        app()
    except KeyboardInterrupt:  # while the modules load
        _interrupted()
    except SystemExit as exc:
        # Typer turns a KeyboardInterrupt it catches (while it reads the arguments, before a
        # command runs) into exit 130 and says nothing; a command that said it raised its own
        if exc.code == 130 and _silenced_interrupt(exc):
            _interrupted()
        raise


def _silenced_interrupt(exc: SystemExit) -> bool:
    context = exc.__context__
    return context is not None and isinstance(context.__cause__, KeyboardInterrupt)


def _interrupted() -> None:
    print(f"bsg-analytics: {INTERRUPTED_LINE}", file=sys.stderr)
    sys.exit(130)


if __name__ == "__main__":
    main()
