"""A setting that needs an extra that is not installed fails in one line naming the extra."""

from __future__ import annotations

import sys

import pytest

from bsg_analytics.flows.run import describe_failure
from bsg_analytics.settings import MissingExtra, load_settings
from bsg_analytics.storage import DataDir


def test_an_s3_data_dir_without_s3fs_names_the_s3_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "s3fs", None)  # as if not installed
    with pytest.raises(MissingExtra) as caught:
        DataDir("s3://bucket/prefix")
    code, line = describe_failure(caught.value)
    assert code == 2
    assert line == (
        "BSG_DATA_DIR=s3://... needs the [s3] extra (s3fs is not installed): "
        "pip install 'bsg-analytics[s3]', or `uv sync --extra s3` in a checkout"
    )


def test_a_dask_task_runner_without_prefect_dask_names_the_dask_extra(monkeypatch, tmp_path):
    from bsg_analytics.flows.sync import task_runner_for

    monkeypatch.setitem(sys.modules, "prefect_dask", None)
    settings = load_settings(data_dir=str(tmp_path), task_runner="dask")
    with pytest.raises(MissingExtra, match=r"BSG_TASK_RUNNER=dask needs the \[dask\] extra"):
        task_runner_for(settings)
