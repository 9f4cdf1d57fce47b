"""A sync process for the crash tests, run from the repository root:
`python -m tests.reliability.crash_driver DATA_DIR MESSAGES SEED`.

It builds the same simulator every time (seed, fixed clock), runs a backfill from SINCE with
`run_sync` over an in-process transport, prints READY just before the sync starts and DONE
when it returns, and exits 0. The test kills it with SIGKILL at random moments and starts it
again until it exits 0.
"""

from __future__ import annotations

import sys

from bsg_analytics.pipeline import run_sync
from bsg_simulator.testing import TEST_NOW, inprocess_transport, make_simulator
from tests.reliability.rel_helpers import API_KEY, SINCE, TOKEN, settings_for

# small pages and windows: many pages, many checkpoints, many moments to die in
PAGE_LIMIT = 50
WINDOW_DAYS = 14


def simulator(messages: int, seed: int):
    return make_simulator(messages=messages, seed=seed, token=TOKEN, api_key=API_KEY)


def settings(data_dir: str):
    return settings_for(data_dir, page_limit=PAGE_LIMIT, window_days=WINDOW_DAYS, concurrency=2)


def main() -> int:
    data_dir, messages, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    sim = simulator(messages, seed)
    transport = inprocess_transport(sim)
    try:
        print("READY", flush=True)
        report = run_sync(settings(data_dir), SINCE, transport=transport, now=TEST_NOW)
    finally:
        transport.close()
    print(f"DONE skipped={report.windows_skipped} done={report.windows_done}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
