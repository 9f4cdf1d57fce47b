"""Session-wide test setup: no real hosts, Prefect kept in a temporary home, quiet telemetry."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

# Set before anything imports prefect; removed when the session ends.
_PREFECT_HOME = tempfile.mkdtemp(prefix="bsg-prefect-home-")
atexit.register(shutil.rmtree, _PREFECT_HOME, ignore_errors=True)
os.environ.setdefault("PREFECT_HOME", _PREFECT_HOME)
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
# Settings must come from the tests, never from a developer's shell or .env.
for _name in list(os.environ):
    if _name.startswith("BSG_"):
        del os.environ[_name]

import pytest  # noqa: E402


@pytest.fixture
def data_dir(tmp_path):
    """A fresh local data directory."""
    from bsg_analytics.storage import DataDir

    return DataDir(tmp_path / "data")
