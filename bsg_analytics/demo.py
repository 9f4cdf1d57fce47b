"""`bsg-analytics demo`: the whole pipeline against the built-in simulator, through Prefect.

Needs no account and no network: the simulator listens on a free loopback port, the sync flow
reads six months of history from it, and the headline metrics are printed from the warehouse.
"""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

DEMO_TOKEN = "demo-token"  # noqa: S105 - the simulator accepts any token; not a secret
DEMO_KEY = "test_demo"
HEADLINE_SQL = """
select channel,
       sum(sent)::bigint as sent,
       sum(delivered)::bigint as delivered,
       round(sum(delivered) / nullif(sum(sent), 0), 4) as delivery_rate
from delivery_rate_daily
group by channel
order by channel
"""
SPEND_SQL = """
select currency,
       sum(messages)::bigint as messages,
       sum(spend) as spend,
       round(sum(spend) / nullif(sum(delivered), 0), 7) as cost_per_delivered
from spend_daily
where currency is not null
group by currency
order by currency
"""
# the operators with the most messages: their delivery rate and spend, per currency
OPERATORS_SQL = """
with by_currency as (
    select country_name, operator, currency,
           sum(messages) as messages, sum(sent) as sent, sum(delivered) as delivered,
           sum(spend) as spend
    from spend_by_country_operator
    group by all
)
select country_name, operator,
       sum(messages)::bigint as messages,
       round(sum(delivered) / nullif(sum(sent), 0), 4) as delivery_rate,
       string_agg(currency || ' ' || round(spend, 2)::varchar, ', ' order by currency) as spend
from by_currency
group by country_name, operator
order by messages desc, country_name, operator
limit 5
"""


def run_demo(data_dir: str = "./data", messages: int = 20_000, seed: int = 7) -> None:
    from rich.console import Console

    from bsg_analytics.flows.run import no_heartbeat, prepare_prefect_env

    prepare_prefect_env()
    console = Console()
    started = time.perf_counter()
    from bsg_simulator.data import EUR_PER
    from bsg_simulator.testing import running_simulator

    console.print(
        f"[bold]bsg-analytics demo[/] — simulator with {messages:,} messages (seed {seed})"
    )
    with running_simulator(messages=messages, seed=seed) as (base_url, sim):
        console.print(f"simulator listening on {base_url}")
        env = {
            "BSG_API_URL": base_url,
            "BSG_REST_URL": base_url,
            "BSG_API_TOKEN": DEMO_TOKEN,
            "BSG_API_KEY": DEMO_KEY,
            "BSG_DATA_DIR": data_dir,
            # the runway converts the spend in other currencies with the simulator's rates
            "BSG_CURRENCY_RATES": json.dumps(EUR_PER),
        }
        with _environ(env), no_heartbeat():
            from bsg_analytics.flows.sync import run_flow

            since = (datetime.now(UTC) - timedelta(days=sim.config.days)).date()
            report = run_flow(since=since)
            _legacy_sample(sim)
    from bsg_analytics.report import write_report
    from bsg_analytics.settings import load_settings
    from bsg_analytics.storage import DataDir
    from bsg_analytics.warehouse import print_table, query

    dd = DataDir(data_dir)
    print_table(query(dd, HEADLINE_SQL), title="delivery by channel")
    print_table(query(dd, SPEND_SQL), title="spend by currency")
    print_table(query(dd, OPERATORS_SQL), title="top operators (by messages)")
    with _environ(env):
        settings = load_settings()
    _print_anomalies(dd, settings, data_dir)
    report_path = write_report(dd, None)
    console.print(
        f"{report['rows'].get('messages', 0):,} messages, "
        f"{report['rows'].get('campaigns', 0):,} campaigns, "
        f"{report['quarantined']:,} quarantined, in {time.perf_counter() - started:.1f}s"
    )
    console.print(f"data:      {dd.uri()}")
    console.print(f"warehouse: {dd.warehouse_path}")
    console.print(f"report:    {report_path}")
    example = "select * from campaign_delivery limit 5"
    console.print(f'try:       python3 -m uv run bsg-analytics sql "{example}" -d {data_dir}')


def _print_anomalies(dd, settings, data_dir: str) -> None:
    """The anomalies of the last `ANOMALY_DAYS` days (as the report shows them), the open
    ones (the last `alert_open_days`, what `alerts` exits 1 on) marked."""
    import pyarrow as pa
    from rich.console import Console

    from bsg_analytics.alerts import find_anomalies, open_since
    from bsg_analytics.report import ANOMALY_DAYS
    from bsg_analytics.warehouse import print_table

    today = datetime.now(UTC).date()
    recent = find_anomalies(dd, settings, today - timedelta(days=ANOMALY_DAYS - 1))
    if not recent.num_rows:
        Console().print(f"anomalies: none in the last {ANOMALY_DAYS} days")
        return
    first_open = open_since(settings, today)
    rows = []
    for r in recent.to_pylist():
        if r["kind"] == "delivery_drop":
            seen = f"{r['observed']:.0%} vs {r['baseline']:.0%} of {r['messages']}"
        else:
            seen = f"{r['observed']:,.2f} vs {r['baseline']:,.2f}"
        rows.append({
            "day": r["day"].isoformat(), "open": "yes" if r["day"] >= first_open else "",
            "kind": r["kind"], "subject": r["subject"], "channel": r["channel"],
            "rate vs baseline": seen, "z": None if r["z"] is None else round(r["z"], 1),
        })  # fmt: skip
    n_open = sum(1 for r in rows if r["open"])
    print_table(
        pa.Table.from_pylist(rows),
        title=f"anomalies of the last {ANOMALY_DAYS} days, {n_open} open "
        f"(`bsg-analytics alerts -d {data_dir}` says what each is)",
    )


def _legacy_sample(sim, n: int = 10) -> None:
    """Look a few SMS (by id and by reference) and bulk tasks up on the legacy REST API."""
    import polars as pl

    from bsg_analytics.flows.legacy import legacy_flow

    sms = sim.ground_truth_messages().filter(pl.col("channel") == "sms")
    # Messages sent from the web account carry no reference: only API ones can be looked up by it.
    referenced = sms.filter(pl.col("reference_id").is_not_null())
    legacy_flow(
        sms_ids=sms["message_id"].tail(n // 2).to_list(),
        references=referenced["reference_id"].tail(n - n // 2).to_list(),
        task_ids=[int(t) for t in sim.task_ids()[-n:]],
    )


class _environ:
    def __init__(self, values: dict[str, str]):
        self.values = values
        self.saved: dict[str, str | None] = {}

    def __enter__(self):
        for k, v in self.values.items():
            self.saved[k] = os.environ.get(k)
            os.environ[k] = v

    def __exit__(self, *exc):
        for k, v in self.saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def default_report_path(data_dir: str) -> Path:
    return Path(data_dir) / "report.html"
