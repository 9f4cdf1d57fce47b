"""After the upgrade, the WhatsApp campaign list is read once over the range the previous
version synced (it read the sms and rcs lists only): planning adds jobs of that variant
alone (`Plan.variant_windows`) over the history its checkpoints record as done, outside what
the plan reads anyway; a run that takes an interrupted catch-up over keeps its done jobs, a
run that retires it reads the rest; once a run with the catch-up has finished, nothing is
added again and the archives are not read again.

The old state is tests/fixtures/datadir_v2 (the whole data directory main wrote at 1963f58,
state version 2: finished runs 20261120T090000Z-3547b5 over 2026-10-01 .. 11-20 08:58 and
20261120T100000Z-490f35 over 11-17 08:58 .. 11-20 09:58, campaigns of types sms and rcs,
and the checkpoint of an interrupted run 20261120T110000Z-936bd8 since 09-07)."""

from __future__ import annotations

import itertools
import json
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from bsg_analytics import planning
from bsg_analytics.pipeline import run_sync
from bsg_analytics.planning import plan_windows
from bsg_analytics.settings import Settings, load_settings
from bsg_analytics.state import RunCheckpoint, SyncState
from bsg_analytics.storage import DataDir
from bsg_analytics.transforms.writer import read_table
from bsg_client import Window
from tests.fixtures.fakebsg import recorded

V2 = Path(__file__).parents[1] / "fixtures" / "datadir_v2"
SETTINGS = Settings(window_days=7, lookback_hours=72, timezone="UTC")
NOW = datetime(2026, 11, 21, 10, tzinfo=UTC)


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=UTC)


def w(start: datetime, end: datetime) -> Window:
    return Window(start, end, "UTC")


# the history the old runs read for sms and rcs, less the incremental run's own range
# (watermark 11-20 09:58 minus 72 h): on the 89-day grid, whose boundary 10-23 the old runs'
# windows show
CATCH_UP = [
    w(utc(2026, 10, 1), utc(2026, 10, 23)),
    w(utc(2026, 10, 23), utc(2026, 11, 17, 9, 58)),
]
CATCH_UP_KEYS = [
    "campaigns/whatsapp/20261001T000000Z..20261023T000000Z",
    "campaigns/whatsapp/20261023T000000Z..20261117T095800Z",
]


@pytest.fixture
def old_dir(tmp_path) -> DataDir:
    """datadir_v2 after its interrupted run was set aside: only finished runs are left."""
    shutil.copytree(V2, tmp_path / "D")
    (tmp_path / "D" / "state" / "run.json").unlink()
    return DataDir(tmp_path / "D")


def campaign_catch_up(plan):
    """The plan's catch-up jobs of the campaign lists (the exports stream, new since the
    history was read as well, has its own: `test_exports_catch_up_over_the_history`)."""
    return [j for j in plan.catch_up_jobs if j.stream == "campaigns"]


def finish(data_dir: DataDir, now: datetime, *, skip: frozenset[str] = frozenset(), **ask):
    """What the pipeline does with the state: plan, start, mark each job done, finish (or
    stop before finishing when a job is in `skip`, as a killed run does)."""
    state = SyncState.load(data_dir)
    plan = plan_windows(SETTINGS, state, now=now, **ask)
    run = state.start_run(plan)
    for key in run.pending_jobs():
        if key not in skip:
            state.mark_done(key, now)
    if not skip & set(run.pending_jobs()):
        state.finish_run(open_campaigns={})
    return plan


def test_the_new_type_is_planned_once_over_the_synced_history(old_dir):
    plan = plan_windows(SETTINGS, SyncState.load(old_dir), now=NOW)
    assert plan.basis == "watermark" and plan.since == utc(2026, 11, 17, 9, 58)
    assert plan.campaign_windows == [w(utc(2026, 11, 17, 9, 58), utc(2026, 11, 21, 9, 58))]
    assert plan.variant_windows["campaigns"] == {"whatsapp": CATCH_UP}
    assert [j.key for j in campaign_catch_up(plan)] == CATCH_UP_KEYS
    assert [(j.stream, j.variant, j.window) for j in campaign_catch_up(plan)] == [
        ("campaigns", "whatsapp", CATCH_UP[0]),
        ("campaigns", "whatsapp", CATCH_UP[1]),
    ]
    campaign_keys = [k for k in plan.job_keys if k.startswith("campaigns/")]
    assert campaign_keys == [
        "campaigns/sms/20261117T095800Z..20261121T095800Z",
        "campaigns/rcs/20261117T095800Z..20261121T095800Z",
        "campaigns/whatsapp/20261117T095800Z..20261121T095800Z",
        *CATCH_UP_KEYS,
    ]
    assert plan.catch_up_notice() == (
        "reading once over the range synced before they were added: exports (8 windows, "
        "2026-10-01 00:00 .. 2026-11-17 09:58 UTC); campaigns whatsapp (2 windows, "
        "2026-10-01 00:00 .. 2026-11-17 09:58 UTC)"
    )
    # the checkpoint records the catch-up jobs with the others
    state = SyncState.load(old_dir)
    run = state.start_run(plan)
    assert run.jobs == plan.job_keys and set(CATCH_UP_KEYS) <= set(run.pending_jobs())


def test_exports_catch_up_over_the_history(old_dir):
    """The statistics export stream is new since datadir_v2 was written: it is read once over
    the range the messages were synced, on its own (7-day) grid, outside the plan's range."""
    plan = plan_windows(SETTINGS, SyncState.load(old_dir), now=NOW)
    catch_up = [j for j in plan.catch_up_jobs if j.stream == "exports"]
    assert [j.variant for j in catch_up] == [None] * 8
    assert catch_up[0].key == "exports/20261001T000000Z..20261005T000000Z"
    assert catch_up[-1].key.endswith("..20261117T095800Z")
    windows = [j.window for j in catch_up]
    assert all(a.end == b.start for a, b in itertools.pairwise(windows))
    assert windows[0].start == utc(2026, 10, 1) and windows[-1].end == plan.since
    assert [w.key for w in plan.stream_windows["exports"]] == [
        w.key for w in plan.stream_windows["messages"]
    ]
    # once a run with it has finished, nothing is added again
    finish(old_dir, NOW)
    later = plan_windows(SETTINGS, SyncState.load(old_dir), now=NOW + timedelta(hours=1))
    assert later.variant_windows == {}


def test_after_a_finished_run_nothing_is_added_and_the_archives_are_left_alone(
    old_dir, monkeypatch
):
    first = finish(old_dir, NOW)
    assert [j.key for j in campaign_catch_up(first)] == CATCH_UP_KEYS
    archived = json.loads(Path(old_dir.path("state", "runs", f"{first.run_id}.json")).read_text())
    assert set(CATCH_UP_KEYS) <= set(archived["done"]) and archived["outcome"] == "finished"

    def no_scan(data_dir):
        raise AssertionError("the archives were read again")

    monkeypatch.setattr(planning, "iter_archived_runs", no_scan)
    later = NOW + timedelta(hours=1)
    plan = plan_windows(SETTINGS, SyncState.load(old_dir), now=later)
    assert plan.variant_windows == {} and plan.catch_up_jobs == []
    assert plan.catch_up_notice() is None
    # a backfill asked later over the whole history: plain windows, every type once
    plan = plan_windows(SETTINGS, SyncState.load(old_dir), date(2026, 9, 1), now=later)
    assert plan.variant_windows == {}


def test_an_interrupted_catch_up_is_taken_over_with_its_done_jobs(old_dir):
    finish(old_dir, NOW, skip=frozenset({CATCH_UP_KEYS[1]}))  # killed before that job
    state = SyncState.load(old_dir)
    assert CATCH_UP_KEYS[0] in state.run.done and CATCH_UP_KEYS[1] not in state.run.done
    later = NOW + timedelta(minutes=30)
    plan = plan_windows(SETTINGS, state, now=later)
    assert plan.takes_over == state.run.run_id
    assert [j.key for j in campaign_catch_up(plan)] == CATCH_UP_KEYS  # the same jobs
    assert CATCH_UP_KEYS[0] in plan.carried_done
    pending_catch_up = [k for k in plan.pending_keys if k.startswith("campaigns/whatsapp/2026")]
    assert CATCH_UP_KEYS[1] in pending_catch_up and CATCH_UP_KEYS[0] not in pending_catch_up
    # taken over again after the first takeover was itself interrupted: still the rest only
    finish(old_dir, later, skip=frozenset({CATCH_UP_KEYS[1]}))
    plan = plan_windows(SETTINGS, SyncState.load(old_dir), now=later + timedelta(minutes=5))
    assert CATCH_UP_KEYS[1] in plan.pending_keys and CATCH_UP_KEYS[0] not in plan.pending_keys


def test_a_run_asking_another_range_retires_it_and_reads_the_rest(old_dir):
    finish(old_dir, NOW, skip=frozenset({CATCH_UP_KEYS[1]}))
    state = SyncState.load(old_dir)
    plan = plan_windows(SETTINGS, state, date(2026, 11, 15), now=NOW + timedelta(hours=1))
    assert plan.retires == state.run.run_id and plan.basis == "since"
    # the done half is not read again; the other, outside the new range, is
    assert plan.variant_windows == {
        "campaigns": {"whatsapp": [w(utc(2026, 10, 23), utc(2026, 11, 15))]}
    }


def test_an_interrupted_old_run_taken_over_reads_the_new_type_with_its_own_windows(tmp_path):
    """The whole datadir_v2, its interrupted run (since 09-07, campaigns never read) taken
    over: its campaign windows are read for every type, which covers the history; no
    catch-up job."""
    shutil.copytree(V2, tmp_path / "D")
    state = SyncState.load(DataDir(tmp_path / "D"))
    plan = plan_windows(SETTINGS, state, date(2026, 9, 7), now=NOW)
    assert plan.takes_over == "20261120T110000Z-936bd8"
    assert plan.variant_windows == {}
    whatsapp = [k for k in plan.job_keys if k.startswith("campaigns/whatsapp/")]
    assert whatsapp == [
        "campaigns/whatsapp/20260907T000000Z..20261023T000000Z",
        "campaigns/whatsapp/20261023T000000Z..20261121T095800Z",
    ]
    assert not set(whatsapp) & set(plan.carried_done)


def test_no_catch_up_without_history(data_dir):
    assert plan_windows(SETTINGS, None, now=NOW).variant_windows == {}
    assert plan_windows(SETTINGS, SyncState.load(data_dir), now=NOW).variant_windows == {}
    finish(data_dir, NOW, since=date(2026, 11, 1))
    plan = plan_windows(SETTINGS, SyncState.load(data_dir), now=NOW + timedelta(hours=2))
    assert plan.variant_windows == {}


def test_done_intervals_read_job_keys():
    run = RunCheckpoint(
        run_id="r",
        done={
            "campaigns/sms/20261001T000000Z..20261023T000000Z": NOW,
            "campaigns/sms/20261023T000000Z..20261101T000000Z": NOW,
            "campaigns/rcs/20261005T000000Z..20261006T000000Z": NOW,
            "messages/20261001T000000Z..20261008T000000Z": NOW,
            "campaigns/sms/not-a-window": NOW,
        },
    )
    assert planning.done_intervals([run], "campaigns") == {
        "sms": [(utc(2026, 10, 1), utc(2026, 11, 1))],
        "rcs": [(utc(2026, 10, 5), utc(2026, 10, 6))],
    }
    assert planning.done_intervals([run], "messages") == {
        None: [(utc(2026, 10, 1), utc(2026, 10, 8))]
    }


# ---------------------------------------------------------------------------- a real sync

EMPTY = json.dumps({"data": [], "meta": {"page": {"total": 0, "offset": 0, "limit": 50}}})


class Server:
    """Empty message listings, the recorded published lists by type (whatever the window),
    the recorded WhatsApp detail; every request recorded."""

    def __init__(self):
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path, kind = request.url.path, request.url.params.get("filter[type]")
        if path == "/api/campaigns" and kind == "whatsapp":
            return httpx.Response(200, content=recorded("campaigns_published_whatsapp.json"))
        if path == "/api/campaigns/53652001/detail":
            return httpx.Response(200, content=recorded("campaign_detail_published_whatsapp.json"))
        if path in ("/api/messages", "/api/campaigns"):
            return httpx.Response(200, content=EMPTY.encode())
        return httpx.Response(404, json={"message": "Not Found"})

    def campaign_reads(self) -> list[tuple[str, str, str]]:
        return sorted(
            (r.url.params["filter[type]"], r.url.params["filter[from]"], r.url.params["filter[to]"])
            for r in self.requests
            if r.url.path == "/api/campaigns"
        )


def test_a_sync_after_the_upgrade_reads_whatsapp_over_the_history_once(old_dir):
    settings = load_settings(
        api_url="http://bsg.test", rest_url="http://bsg.test", api_token="t",
        data_dir=str(old_dir.root), timezone="UTC", lookback_hours=72,
    )  # fmt: skip
    server = Server()
    report = run_sync(settings, transport=httpx.MockTransport(server), now=NOW)
    recent = ("2026-11-17 09:58:00", "2026-11-21 09:57:59")
    assert server.campaign_reads() == [
        ("rcs", *recent),
        ("sms", *recent),
        ("whatsapp", "2026-10-01 00:00:00", "2026-10-22 23:59:59"),
        ("whatsapp", "2026-10-23 00:00:00", "2026-11-17 09:57:59"),
        ("whatsapp", *recent),
    ]
    assert report.windows_total == report.windows_done
    (c,) = read_table(old_dir, "campaigns").filter(campaign_id=53652001).to_dicts()
    assert (c["channel"], c["currency"], c["list_currency"]) == ("whatsapp", "UAH", "UAH")
    assert read_table(old_dir, "quarantine").is_empty()

    server = Server()
    run_sync(settings, transport=httpx.MockTransport(server), now=NOW + timedelta(hours=1))
    # from the new watermark (the first run's end, 11-21 09:58) minus 72 h
    again = ("2026-11-18 09:58:00", "2026-11-21 10:57:59")
    assert server.campaign_reads() == [("rcs", *again), ("sms", *again), ("whatsapp", *again)]
