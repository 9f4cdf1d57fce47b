"""The sync end to end against the in-process simulator, without Prefect: every message and
campaign of the ground truth lands exactly once, in its latest state."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import pytest

from bsg_analytics.pipeline import run_sync, thread_mapper
from bsg_analytics.schemas.statuses import CAMPAIGN_LIST_TYPES
from bsg_analytics.schemas.tables import TABLES
from bsg_analytics.state import SyncState
from bsg_analytics.storage import DataDir
from bsg_client.windows import SAFETY_MARGIN
from bsg_simulator.testing import TEST_NOW, make_simulator
from tests.pipeline.e2e import (
    SINCE,
    assert_campaigns_match,
    assert_messages_match,
    read_table,
    settings_for,
)


def test_seven_month_backfill_lands_the_ground_truth(tmp_path, sim, transport_for):
    settings = settings_for(tmp_path / "d")
    report = run_sync(settings, SINCE, transport=transport_for(sim), now=TEST_NOW)
    # 7 months: messages in windows of at most 31 days on the fixed grid (7 or 8 of them);
    # campaigns in windows of at most 89 days (3 or 4), for each listable campaign type
    n_types = len(CAMPAIGN_LIST_TYPES)
    assert 7 + n_types * 3 <= report.windows_total <= 8 + n_types * 4
    got = assert_messages_match(tmp_path / "d", sim, TEST_NOW)
    assert_campaigns_match(tmp_path / "d", sim, TEST_NOW)
    # money per currency, exact to 7 places
    spend = {
        r["amount_currency"]: r["amount_value"]
        for r in got.group_by("amount_currency").agg(pl.col("amount_value").sum()).to_dicts()
    }
    truth = sim.spend(TEST_NOW)
    assert {c: int(v * 10_000_000) for c, v in spend.items() if c} == truth
    # records in = rows out + quarantined (+ duplicates that offset pages repeat)
    assert report.quarantined == 0
    assert report.rows["messages"] == got.height
    # the warehouse answers
    from bsg_analytics.warehouse import query

    n = query(DataDir(tmp_path / "d"), "select count(*) as n from messages").to_pylist()
    assert n == [{"n": got.height}]


def test_faults_give_the_same_tables_as_none(tmp_path, transport_for):
    clean_sim = make_simulator(messages=3_000, seed=5)
    faulty_sim = make_simulator(messages=3_000, seed=5, fault_rate=0.2)
    run_sync(settings_for(tmp_path / "a"), SINCE, transport=transport_for(clean_sim), now=TEST_NOW)
    run_sync(settings_for(tmp_path / "b"), SINCE, transport=transport_for(faulty_sim), now=TEST_NOW)
    for table in ("messages", "campaigns", "campaign_statistics", "rcs_cards", "rcs_suggestions"):
        # everything but the times of extraction
        a = read_table(tmp_path / "a", table).select(pl.exclude("^.*extracted_at$"))
        b = read_table(tmp_path / "b", table).select(pl.exclude("^.*extracted_at$"))
        key = list(TABLES[table].key)
        differ = [c for c in a.columns if not a.sort(key)[c].equals(b.sort(key)[c])]
        assert not differ, f"{table}: {differ}"
    assert faulty_sim.app.faults.log, "the simulator injected no fault"


class Crash(RuntimeError):
    pass


def crashing_mapper(after: int):
    inner = thread_mapper(2)
    state = {"n": 0}

    def mapper(context, jobs):
        for outcome in inner(context, jobs):
            state["n"] += 1
            if state["n"] > after:
                raise Crash(f"killed after {after} windows")
            yield outcome

    return mapper


@pytest.mark.parametrize("after", [0, 3, 9])
def test_a_run_killed_mid_way_resumes_with_nothing_missed_or_doubled(
    after, tmp_path, sim, transport_for
):
    settings = settings_for(tmp_path / "d")
    with pytest.raises(Crash):
        run_sync(
            settings,
            SINCE,
            transport=transport_for(sim),
            now=TEST_NOW,
            mapper=crashing_mapper(after),
        )
    state = SyncState.load(DataDir(settings.data_dir))
    assert state.run is not None, "the unfinished run is remembered"
    report = run_sync(settings, SINCE, transport=transport_for(sim), now=TEST_NOW)
    assert report.windows_skipped >= min(after, 1)
    assert report.took_over == state.run.run_id
    assert_messages_match(tmp_path / "d", sim, TEST_NOW)
    assert_campaigns_match(tmp_path / "d", sim, TEST_NOW)


def test_incremental_sync_picks_up_statuses_that_moved_on(tmp_path, sim, transport_for):
    settings = settings_for(tmp_path / "d")
    # campaigns send in bursts: start just after a burst, while its delivery reports are
    # still arriving, and come back 60 hours later, within the 72-hour look-back
    created = sim.ground_truth_messages(TEST_NOW)["created_at"]
    burst_end = created.filter(created < created.max() - timedelta(days=1)).max()
    # (past the windows' safety margin, so that the burst's tail is in the first run)
    earlier = burst_end + SAFETY_MARGIN + timedelta(seconds=30)
    later = earlier + timedelta(hours=60)
    sim.clock.set(earlier)
    run_sync(settings, SINCE, transport=transport_for(sim), now=earlier)
    before = read_table(tmp_path / "d", "messages")
    sim.clock.set(later)
    report = run_sync(settings, None, transport=transport_for(sim), now=later)
    after = assert_messages_match(tmp_path / "d", sim, later)
    moved = before.join(after, on="message_id", suffix="_now").filter(
        pl.col("status") != pl.col("status_now")
    )
    assert moved.height > 0, "no status moved on between the two runs"
    assert after.height >= before.height
    # the incremental run only re-read the look-back window, not the history
    assert report.windows_total <= 2 * 3


def test_rebuild_from_raw_gives_the_same_tables(tmp_path, sim, transport_for):
    from bsg_analytics.rebuild import rebuild

    settings = settings_for(tmp_path / "d")
    run_sync(settings, SINCE, transport=transport_for(sim), now=TEST_NOW)
    before = {t: read_table(tmp_path / "d", t) for t in TABLES}
    report = rebuild(DataDir(tmp_path / "d"), "UTC")
    assert report.totals.quarantined == 0
    for table, frame in before.items():
        after = read_table(tmp_path / "d", table)
        if frame.is_empty():
            assert after.is_empty(), table
            continue
        key = list(TABLES[table].key) or frame.columns
        assert after.sort(key).equals(frame.sort(key)), table
    assert_messages_match(tmp_path / "d", sim, TEST_NOW)


def test_the_report_tells_keys_new_to_a_table_from_rows_written_again(tmp_path, transport_for):
    """A backfill's rows are all new; an incremental run an hour later writes the look-back
    again and says how many of those messages the table did not hold."""
    from bsg_analytics.flows.run import summary_line

    sim = make_simulator(messages=3_000, seed=11, days=10)
    settings = settings_for(tmp_path / "d")
    first = run_sync(settings, SINCE, transport=transport_for(sim), now=TEST_NOW)
    assert first.rows_new["messages"] == first.rows["messages"] > 0
    line = summary_line(first.as_dict())
    assert f"messages {first.rows['messages']} (all new)" in line, line
    later = TEST_NOW + timedelta(hours=10)
    sim.clock.set(later)
    before = read_table(tmp_path / "d", "messages")["message_id"]
    second = run_sync(settings, transport=transport_for(sim), now=later)
    after = read_table(tmp_path / "d", "messages")["message_id"]
    new = after.len() - before.len()
    assert 0 < new < second.rows["messages"]
    assert second.rows_new["messages"] == new
    line = summary_line(second.as_dict())
    assert f"messages {second.rows['messages']} ({new} new)" in line, line
