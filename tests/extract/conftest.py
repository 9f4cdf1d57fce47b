from __future__ import annotations

import sys
from pathlib import Path

import pytest
import stamina

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))


@pytest.fixture(autouse=True)
def _no_retry_waits():
    """Retries still happen, as many as the client asks for, but without sleeping."""
    with stamina.set_testing(True, attempts=1000, cap=True):
        yield
