"""Session-wide test setup: no real hosts, Prefect kept in a temporary home, quiet telemetry."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

# Set before anything imports prefect; removed when the session ends.
_PREFECT_HOME = tempfile.mkdtemp(prefix="bsg-prefect-home-")
atexit.register(shutil.rmtree, _PREFECT_HOME, ignore_errors=True)
os.environ["PREFECT_HOME"] = _PREFECT_HOME  # one per process: each xdist worker has its own
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
# Settings must come from the tests, never from a developer's shell or .env.
for _name in list(os.environ):
    if _name.startswith("BSG_"):
        del os.environ[_name]

import json  # noqa: E402

import pytest  # noqa: E402

from tests.reliability.rel_helpers import FIGURES  # noqa: E402


# The figures the reliability suites measured, printed at the end of the session. Under
# pytest-xdist each worker hands its own to the controller when it finishes.
def pytest_sessionfinish(session):
    if hasattr(session.config, "workeroutput"):
        session.config.workeroutput["reliability_figures"] = json.dumps(FIGURES, default=str)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    FIGURES.update(json.loads(getattr(node, "workeroutput", {}).get("reliability_figures", "{}")))


def pytest_terminal_summary(terminalreporter):
    if FIGURES:
        terminalreporter.section("reliability figures")
        for name, value in FIGURES.items():
            terminalreporter.write_line(f"{name}: {value}")


@pytest.fixture
def data_dir(tmp_path):
    """A fresh local data directory."""
    from bsg_analytics.storage import DataDir

    return DataDir(tmp_path / "data")
