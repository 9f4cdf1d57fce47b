"""notebooks/explore.ipynb runs top to bottom against a small fixture data directory."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.warehouse import wh_fixtures

NOTEBOOK = Path(__file__).parents[2] / "notebooks" / "explore.ipynb"


@pytest.mark.slow  # in the slow pass: the default run stays under 3 minutes
@pytest.mark.parametrize("with_data", [True, False], ids=["fixture", "empty"])
def test_notebook_executes(tmp_path, monkeypatch, with_data):
    root = tmp_path / "data"
    root.mkdir()
    if with_data:
        wh_fixtures.write_fixture(root)
    monkeypatch.setenv("BSG_DATA_DIR", str(root))  # the kernel inherits this environment
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        nb, timeout=60, kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )  # fmt: skip
    client.execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    # each view's definition in one whole sentence, not its first line cut mid-sentence
    lines = [line for line in text.splitlines() if line.startswith("campaign_delivery: ")]
    assert lines and lines[0].endswith("with the one its messages give."), lines
    assert "delivery_rate_daily: one row per day x channel x sender." in text
    shown = "".join(o.get("data", {}).get("text/plain", "") for o in outputs)
    assert "decimal[38,0]" not in shown  # counts summed in SQL come out as whole numbers
    if with_data:
        plots = [o for o in outputs if "application/vnd.plotly.v1+json" in o.get("data", {})]
        assert len(plots) == 2
        # each with its numbers as a table for a viewer without Plotly
        for plot in plots:
            assert "<table" in plot["data"]["text/html"] and plot["data"]["text/plain"]
    else:
        assert text.count("no data yet") == 2
