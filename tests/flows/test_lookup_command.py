"""`bsg-analytics lookup`: the legacy lookups from the command line, against the scripted
legacy API (`tests/extract/test_legacy_fake.py`, through the client's transport): what it
asks, what it writes, its one summary line, and one line and the exit code for bad input and
a refused key. The last test runs the installed command against the simulator (slow)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from bsg_analytics.cli import app
from bsg_analytics.storage import DataDir
from bsg_analytics.transforms.writer import read_table
from bsg_client import BSGClient
from tests.extract.test_legacy_fake import LegacyFake
from tests.fixtures.fakebsg import REST, REST_KEY

runner = CliRunner()


@pytest.fixture
def fake(monkeypatch, tmp_path):
    """The scripted API behind every client the command builds; settings from the env."""
    api = LegacyFake(sms=set(range(1, 251)) - {7}, tasks={501}, viber={16})
    original = BSGClient.from_settings.__func__

    def from_settings(cls, settings, transport=None, **kw):
        return original(cls, settings, transport=api.transport(), **kw)

    monkeypatch.setattr(BSGClient, "from_settings", classmethod(from_settings))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BSG_REST_URL", REST)
    monkeypatch.setenv("BSG_API_KEY", REST_KEY)
    monkeypatch.setenv("BSG_DATA_DIR", str(tmp_path / "data"))
    return api


def lookup(*args: str):
    return runner.invoke(app, ["lookup", *args])


def test_lookup_writes_the_three_tables_and_prints_one_line(fake, tmp_path):
    ids = tmp_path / "ids.txt"
    ids.write_text("# ids from the support ticket\n101\n\n102, 103\n7\n")
    result = lookup(
        "--id", "1,2", "--id", "3", "--ids-from", str(ids), "--reference", "ref4",
        "--task", "501,502", "--viber-id", "16", "--viber-reference", "vref16",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0].startswith(
        "looked up 7 SMS ids, 1 SMS reference, 2 task ids, 1 Viber id, 1 Viber reference in "
    )
    assert result.stdout.splitlines()[0].split("s: ", 1)[1] == (
        "rows written legacy_sms 7, legacy_tasks 1, legacy_viber 1; "
        "not found: 1 SMS id, 1 task id; 0 errors; 0 quarantined"
    )
    assert len(result.stdout.splitlines()) == 1
    # the ids of the flags and of the file, in one getStatus call
    assert fake.calls[0] == ("POST", "/rest/sms/getStatus", {"ids": [1, 2, 3, 101, 102, 103, 7]})
    assert [p for _, p, _ in fake.calls[1:]] == [
        "/rest/sms/reference/ref4",
        "/rest/sms/task/501",
        "/rest/sms/task/502",
        "/rest/sms/502",
        "/rest/viber/16",
        "/rest/viber/reference/vref16",
    ]
    d = DataDir(tmp_path / "data")
    sms = read_table(d, "legacy_sms").sort("message_id")
    assert sms["message_id"].to_list() == [1, 2, 3, 4, 101, 102, 103]
    assert read_table(d, "legacy_tasks")["task_id"].to_list() == [501]
    viber = read_table(d, "legacy_viber")
    assert viber.select("message_id", "alt_message_id").rows() == [(16, 17)]
    # the warehouse was rebuilt: its views show the rows
    with duckdb.connect(str(d.warehouse_path), read_only=True) as con:
        got = [con.execute(f"select count(*) from {t}").fetchone()[0] for t in
               ("legacy_sms", "legacy_tasks", "legacy_viber")]  # fmt: skip
    assert got == [7, 1, 1]


def test_a_rebuild_from_raw_gives_the_same_legacy_tables(fake, tmp_path):
    from bsg_analytics.rebuild import rebuild

    result = lookup("--id", "1,2,7", "--task", "501", "--viber-id", "16")
    assert result.exit_code == 0, result.output
    d = DataDir(tmp_path / "data")
    tables = ("legacy_sms", "legacy_tasks", "legacy_viber")
    before = {t: read_table(d, t) for t in tables}
    assert [before[t].height for t in tables] == [2, 1, 1]
    rebuild(d, "UTC")
    for t in tables:
        assert read_table(d, t).equals(before[t]), t


def test_errors_are_notes_on_stderr_and_the_exit_is_zero(fake):
    import httpx

    fake.overrides["/rest/viber/31"] = httpx.Response(
        200, json={"error": 25, "errorDescription": f"Not supported {REST_KEY}"}
    )
    result = lookup("--viber-id", "31")
    assert result.exit_code == 0
    assert "not found: none; 1 error; 0 quarantined" in result.stdout
    assert result.stderr.splitlines() == [
        "bsg-analytics: note: viber 31: error 25, Not supported ***"
    ]
    assert REST_KEY not in result.output


@pytest.mark.parametrize(
    ("args", "line"),
    [
        ((), "lookup needs something to look up: give --id, --reference, --task, --viber-id, "
             "--viber-reference or --ids-from"),
        (("--id", "12,abc"), "--id 'abc' is not an SMS id (a whole number >= 1)"),
        (("--id", "0"), "--id '0' is not an SMS id (a whole number >= 1)"),
        (("--id", "1,,2"), "--id '' is not an SMS id (a whole number >= 1)"),
        (("--task", "5x"), "--task '5x' is not a task id (a whole number >= 1)"),
        (("--viber-id", "-1"), "--viber-id '-1' is not a Viber id (a whole number >= 1)"),
        (("--reference", " "), "--reference was given an empty value"),
        (("--ids-from", "missing.txt"),
         "--ids-from missing.txt: cannot be read (No such file or directory)"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_exit_2(fake, args, line):
    result = lookup(*args)
    assert result.exit_code == 2
    assert result.output.splitlines() == [f"bsg-analytics: {line}"]
    assert fake.requests == []


def test_a_bad_line_of_the_ids_file_is_named(fake, tmp_path):
    (tmp_path / "ids.txt").write_text("1\n2\n3 4\n")
    result = lookup("--ids-from", "ids.txt")
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        "bsg-analytics: --ids-from ids.txt line 3: '3 4' is not an SMS id (a whole number >= 1)"
    ]


def test_ids_from_stdin(fake):
    result = runner.invoke(app, ["lookup", "--ids-from", "-"], input="5\n6\n")
    assert result.exit_code == 0, result.output
    assert fake.calls == [("POST", "/rest/sms/getStatus", {"ids": [5, 6]})]


def test_no_key_is_one_line_and_exit_2(fake, monkeypatch):
    monkeypatch.delenv("BSG_API_KEY")
    result = lookup("--id", "1")
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        "bsg-analytics: BSG_API_KEY is not set: the legacy REST lookups need its key"
    ]
    assert fake.requests == []


def test_a_refused_key_is_one_line_and_exit_3(fake, monkeypatch, tmp_path):
    fake.key = "the key the account has now"
    result = lookup("--id", "1,2,3", "--task", "501")
    assert result.exit_code == 3
    assert result.output.splitlines() == [
        "bsg-analytics: the legacy REST key was refused (POST /rest/sms/getStatus: error 2, "
        "Invalid API key); check BSG_API_KEY"
    ]
    assert len(fake.requests) == 1  # not once per lookup
    assert REST_KEY not in result.output
    assert not (tmp_path / "data" / "parquet" / "legacy_sms").exists()


@pytest.mark.slow
def test_the_installed_command_against_the_simulator(tmp_path):
    """Needs the simulator's published legacy endpoints (getStatus, Viber)."""
    import polars as pl

    from bsg_simulator.testing import running_simulator

    bin_dir = Path(sys.executable).parent
    with running_simulator(messages=3_000, seed=4, api_key="test_lookup_SECRET") as (url, sim):
        truth = sim.ground_truth_messages()
        # (messages made in the web account carry no reference)
        sms = truth.filter((pl.col("channel") == "sms") & pl.col("reference_id").is_not_null())
        sms = sms.head(120)
        viber = truth.filter(pl.col("channel") == "viber").head(3)
        tasks = [int(t) for t in sim.task_ids()[:2]]
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("BSG_")},
            "BSG_REST_URL": url,
            "BSG_API_KEY": "test_lookup_SECRET",
            "BSG_DATA_DIR": str(tmp_path / "data"),
        }
        ids = ",".join(str(i) for i in sms["message_id"].to_list())
        args = [str(bin_dir / "bsg-analytics"), "lookup", "--id", ids, "--id", "1"]
        args += ["--reference", sms["reference_id"][0]]
        args += ["--task", ",".join(map(str, tasks))]
        args += ["--viber-id", ",".join(str(i) for i in viber["message_id"].to_list())]
        done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        line = done.stdout.strip()
        assert f"rows written legacy_sms 120, legacy_tasks {len(tasks)}, " in line, line
        assert f"legacy_viber {viber.height}; not found: 1 SMS id; 0 errors; 0 quarantined" in line
        d = DataDir(tmp_path / "data")
        got = read_table(d, "legacy_sms").sort("message_id")["message_id"].to_list()
        assert got == sorted(sms["message_id"].to_list())
        assert read_table(d, "legacy_viber").height == viber.height

        bad = subprocess.run(
            args[:4], env={**env, "BSG_API_KEY": "test_wrong_key"},
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert bad.returncode == 3
        assert len(bad.stderr.strip().splitlines()) == 1
        assert "the legacy REST key was refused" in bad.stderr
