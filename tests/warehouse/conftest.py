from __future__ import annotations

import pytest

from bsg_analytics.storage import DataDir
from tests.warehouse import wh_fixtures


@pytest.fixture(scope="session")
def fixture_data(tmp_path_factory) -> DataDir:
    """The hand-computed fixture, built once; tests must only read it."""
    from bsg_analytics.warehouse import build_warehouse

    root = tmp_path_factory.mktemp("fixture") / "data"
    wh_fixtures.write_fixture(root)
    data_dir = DataDir(root)
    build_warehouse(data_dir)
    return data_dir


@pytest.fixture(scope="session")
def fallback_data(tmp_path_factory) -> DataDir:
    """Five channels with SMS and Viber fallbacks (`wh_fixtures.FALLBACK_MESSAGES`), built
    once; tests must only read it."""
    from bsg_analytics.warehouse import build_warehouse

    root = tmp_path_factory.mktemp("fallbacks") / "data"
    wh_fixtures.write_fallback_fixture(root)
    data_dir = DataDir(root)
    build_warehouse(data_dir)
    return data_dir
