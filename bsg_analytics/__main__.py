"""The `bsg-analytics` command (and `python -m bsg_analytics`): the command line of
`bsg_analytics.cli`, with Ctrl-C said the same way whenever it comes.

- while the command starts (modules loading, Typer reading the arguments): the one line that
  a Ctrl-C in the run prints, and exit 130 (Typer itself would exit 130 and say nothing);
- in the run: the commands' own handlers (`sync` ends at its next check, says so, exit 130);
- once the command has said how it ended: nothing changes (`bsg_analytics.settle`). The
  interpreter still shuts down (threads joined, modules torn down), and a Ctrl-C then turned
  a finished sync's exit 0 into a death by SIGINT (-2, seen in the real-clock test).
"""

from __future__ import annotations

import sys

from bsg_analytics import INTERRUPTED_LINE, settle


def main() -> None:
    code: int = 1
    try:
        from bsg_analytics.cli import app

        app()
        code = 0
    except KeyboardInterrupt:  # while the modules load
        _say_interrupted()
        code = 130
    except SystemExit as exc:
        # a KeyboardInterrupt Typer caught before a command ran: it says nothing; a command
        # that said how it ended raised its own exit
        if exc.code == 130 and _silenced_interrupt(exc):
            _say_interrupted()
        code = _exit_code(exc.code)
    settle()
    sys.exit(code)


def _exit_code(value: object) -> int:
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    print(value, file=sys.stderr)  # what sys.exit does with a message
    return 1


def _silenced_interrupt(exc: SystemExit) -> bool:
    context = exc.__context__
    return context is not None and isinstance(context.__cause__, KeyboardInterrupt)


def _say_interrupted() -> None:
    print(f"bsg-analytics: {INTERRUPTED_LINE}", file=sys.stderr)


if __name__ == "__main__":
    main()
