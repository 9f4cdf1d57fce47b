"""The stream registry: every declared stream is wired into every path (planning, run_job,
the writer's routing, transform_pages, rebuild, the raw store, the checkpoint), and a new
stream is one file (`toy_stream.py`) that goes through all of them."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest

from bsg_analytics.batch import transform_pages
from bsg_analytics.pipeline import run_sync
from bsg_analytics.planning import plan_windows
from bsg_analytics.raw import RawStore
from bsg_analytics.rebuild import rebuild
from bsg_analytics.schemas.tables import TABLES
from bsg_analytics.state import SyncState
from bsg_analytics.storage import DataDir
from bsg_analytics.streams import REGISTRY, Planning, Registry, Written
from bsg_analytics.transforms.writer import read_table
from bsg_simulator.testing import TEST_NOW, inprocess_transport, make_simulator
from tests.pipeline.e2e import SINCE, settings_for
from tests.streams import toy_stream

ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def sim():
    return make_simulator(messages=2_000, seed=5)


def toy_table(d: Path) -> pl.DataFrame:
    files = sorted((d / "parquet" / "toy_statuses").glob("**/*.parquet"))
    return pl.concat([pl.read_parquet(f) for f in files]).sort("message_id")


def test_the_registry_declares_every_table_and_each_stream_is_complete():
    assert set(REGISTRY.tables) == set(TABLES)  # every table is written by some stream
    assert list(REGISTRY) == [
        "messages",
        "exports",
        "campaigns",
        "campaign_detail",
        "legacy_sms",
        "legacy_task",
        "legacy_viber",
        "balance",
    ]
    for stream in REGISTRY.values():
        assert stream.endpoints and stream.group and stream.tables, stream.name
        if stream.planning == Planning.WINDOW:
            assert stream.window_days is not None, stream.name
        if stream.planning == Planning.IDS:
            assert stream.plan_ids is not None, stream.name
        if stream.planning == Planning.LOOKUP:
            assert stream.lookups, stream.name
        if stream.planning == Planning.SNAPSHOT:
            assert [j.key for j in stream.snapshot_jobs()] == [f"{stream.name}/now"]
    assert sorted(REGISTRY.lookup_args) == [
        "references",
        "sms_ids",
        "task_ids",
        "viber_ids",
        "viber_references",
    ]
    with pytest.raises(ValueError, match="declared twice"):
        Registry([*REGISTRY.values(), REGISTRY["messages"]])


def test_every_stream_has_a_file_and_a_row_in_the_readme():
    files = {p.stem for p in (ROOT / "bsg_analytics" / "streams").glob("*.py")}
    readme = (ROOT / "README.md").read_text()
    for name in REGISTRY:
        assert name in files, f"stream {name} has no file of its own"
        assert re.search(rf"^\| `{name}` ", readme, re.M), f"stream {name} not in the README"


def test_a_toy_stream_is_one_file_and_goes_through_every_path(tmp_path, sim):
    registry = REGISTRY.with_streams(toy_stream.STREAM)
    settings = settings_for(tmp_path / "d")
    d = DataDir(settings.data_dir)

    # planning: its windows, on its own grid, and its job keys
    plan = plan_windows(settings, SyncState.load(d), SINCE, None, TEST_NOW, registry=registry)
    toy_windows = plan.stream_windows["toy"]
    assert [k for k in plan.job_keys if k.startswith("toy/")] == [
        f"toy/{w.key}" for w in toy_windows
    ]
    assert toy_windows[0].start == plan.since and toy_windows[-1].end == plan.until
    assert all((w.end - w.start).days <= 30 for w in toy_windows)

    # run_job, the writer's routing (streamed), the checkpoint
    with inprocess_transport(sim) as transport:
        report = run_sync(settings, SINCE, transport=transport, now=TEST_NOW, registry=registry)
    truth = sim.ground_truth_messages().select("message_id", "status").sort("message_id")
    toys = toy_table(tmp_path / "d")
    assert toys.select("message_id", "status").equals(truth)
    assert report.rows["toy_statuses"] == truth.height
    assert report.windows_done == report.windows_total == len(plan.job_keys)
    archived = sorted((tmp_path / "d" / "state" / "runs").glob("*.json"))
    assert any('"toy/' in p.read_text() for p in archived)

    # the raw store finds its pages; transform_pages routes them to its transform
    metas = RawStore(d).list_meta()
    assert any("/raw/toy/" in m for m in metas)
    pages = list(RawStore(d).iter_pages(streams=["toy"]))
    assert transform_pages(pages, "UTC", registry)["toy_statuses"].height == truth.height

    # rebuild with the registry that declares it: the same table again
    before = toy_table(tmp_path / "d")
    rebuild(d, "UTC", registry=registry)
    assert toy_table(tmp_path / "d").equals(before)

    # rebuild with a registry that no longer declares it: kept, whole, in quarantine
    rebuild(d, "UTC")
    quarantine = read_table(d, "quarantine")
    unknown = quarantine.filter(pl.col("reason") == "unknown stream: toy")
    assert unknown.height == len(pages)
    assert read_table(d, "messages").height == truth.height


def test_written_modes_are_declared():
    assert REGISTRY["messages"].written == Written.STREAMED
    assert {REGISTRY[s].written for s in ("campaigns", "campaign_detail")} == {Written.AT_END}
    # list and detail pages meet in one transform
    assert REGISTRY["campaigns"].transform is REGISTRY["campaign_detail"].transform
    assert REGISTRY["exports"].written == Written.STREAMED
    assert REGISTRY["balance"].written == Written.AT_END
