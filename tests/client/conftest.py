from __future__ import annotations

import pytest
import stamina


@pytest.fixture(autouse=True)
def _no_retry_waits():
    """Retries still happen, as many as the client asks for, but without sleeping."""
    with stamina.set_testing(True, attempts=1000, cap=True):
        yield
