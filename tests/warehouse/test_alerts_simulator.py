"""The anomalies against the simulator's ground truth: `message_costs` as
`Simulator.ground_truth_message_costs(now)` says, `messages`, `campaigns` and the balance as
its ground truth says, written as Parquet. With `collapses=0` (clean data) there is no finding
at all; with collapses every planted cell (`planted_anomalies()`) is found as an operator's
delivery drop on its day and channel, and every other finding is a consequence of one: the
same day and channel, and the operator's country or a sender that sent to it that day."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from bsg_analytics.alerts import find_anomalies
from bsg_analytics.schemas.tables import TABLES
from bsg_analytics.settings import Settings
from bsg_analytics.storage import DataDir
from bsg_analytics.warehouse import build_warehouse, query
from bsg_simulator import data as D
from bsg_simulator.testing import TEST_NOW, make_simulator

# the simulator's own conversion rates into the account's currency (EUR)
RATES = Settings(currency_rates={code: Decimal(rate) for code, rate in D.EUR_PER.items()})
FIRST_DAY = TEST_NOW.date().replace(year=TEST_NOW.year - 1)  # every finding is open


def write_frame(root: Path, name: str, frame: pl.DataFrame, now: datetime) -> None:
    """`frame` under `root/parquet/<name>/` with exactly the table's schema (every
    `*extracted_at` is `now`), partitioned as the table declares (as `wh_fixtures.write_table`
    lays them out)."""
    table = TABLES[name]
    stamps = [c for c in table.schema if c.endswith("extracted_at")]
    frame = frame.with_columns(pl.lit(now).alias(c) for c in stamps)
    frame = frame.select(pl.col(c).cast(t) for c, t in table.schema.items())
    base = root / "parquet" / name
    if table.partition is None:
        base.mkdir(parents=True)
        frame.write_parquet(base / "part-0.parquet")
        return
    for (value,), part in frame.group_by([table.partition]):
        (base / f"{table.partition}={value}").mkdir(parents=True)
        part.write_parquet(base / f"{table.partition}={value}" / "part-0.parquet")


def simulated(tmp_path: Path, **config) -> tuple[DataDir, object]:
    sim = make_simulator(**config)
    root = tmp_path / "data"
    write_frame(root, "message_costs", sim.ground_truth_message_costs(TEST_NOW), TEST_NOW)
    write_frame(root, "messages", sim.ground_truth_messages(TEST_NOW), TEST_NOW)
    write_frame(root, "campaigns", sim.ground_truth_campaigns(TEST_NOW), TEST_NOW)
    balance = sim.ground_truth_balance(TEST_NOW)
    row = {k: balance[k] for k in ("balance", "credit", "currency")}
    write_frame(root, "balance_history", pl.DataFrame([{**row, "observed_at": TEST_NOW}]), TEST_NOW)
    data_dir = DataDir(root)
    build_warehouse(data_dir, RATES)
    return data_dir, sim


def findings(data_dir: DataDir) -> list[dict]:
    return find_anomalies(data_dir, RATES, FIRST_DAY).to_pylist()


def senders_to(data_dir: DataDir, cell: dict) -> set[str]:
    """The senders that sent to the planted cell's operator on its day and channel."""
    sql = (
        "SELECT DISTINCT sender FROM cost_facts WHERE day = ? AND channel = ? "
        "AND country_name = ? AND operator = ?"
    )
    params = [cell["day"], cell["channel"], cell["country_name"], cell["operator"]]
    return {r["sender"] for r in query(data_dir, sql, params=params).to_pylist()}


def check_collapses_are_found(data_dir: DataDir, sim) -> None:
    planted = sim.planted_anomalies().to_dicts()
    assert planted, "the simulator planted no collapse: the test proves nothing"
    got = findings(data_dir)
    for cell in planted:
        hits = [
            f for f in got
            if (f["kind"], f["dimension"]) == ("delivery_drop", "operator")
            and (f["operator"], f["country_name"], f["channel"], f["day"])
            == (cell["operator"], cell["country_name"], cell["channel"], cell["day"])
        ]  # fmt: skip
        assert len(hits) == 1, cell
        # the messages judged are the cell's final ones, the collapse's delivered among them
        assert hits[0]["messages"] <= cell["messages"]
        assert hits[0]["observed"] == pytest.approx(cell["delivered"] / cell["messages"], abs=0.1)
    by_cell = {(c["day"], c["channel"]): c for c in planted}
    for f in got:
        cell = by_cell.get((f["day"], f["channel"]))
        assert cell is not None and f["kind"] == "delivery_drop", f
        if f["dimension"] == "operator":
            assert f["subject"] == f"{cell['operator']} ({cell['country_name']})", f
        elif f["dimension"] == "country":
            assert f["country_name"] == cell["country_name"], f
        else:
            assert f["dimension"] == "sender" and f["sender"] in senders_to(data_dir, cell), f


def check_clean(data_dir: DataDir) -> None:
    assert findings(data_dir) == []
    (runway,) = query(data_dir, "SELECT * FROM balance_runway", RATES).to_pylist()
    assert runway["unconverted_currencies"] == [] and runway["days_left"] > 7


def test_clean_data_has_no_finding(tmp_path):
    data_dir, sim = simulated(tmp_path, messages=20_000, collapses=0)
    assert sim.planted_anomalies().height == 0
    check_clean(data_dir)


def test_every_planted_collapse_is_found_and_nothing_unrelated(tmp_path):
    data_dir, sim = simulated(tmp_path, messages=20_000)
    check_collapses_are_found(data_dir, sim)


@pytest.mark.slow
@pytest.mark.parametrize("messages", [50_000, 200_000])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_more_data_and_seeds(tmp_path, messages, seed):
    clean, _ = simulated(tmp_path / "clean", messages=messages, seed=seed, collapses=0)
    check_clean(clean)
    data_dir, sim = simulated(tmp_path / "planted", messages=messages, seed=seed)
    check_collapses_are_found(data_dir, sim)
