"""Hostile values: sender, campaign names and texts with <script>, quotes, ../, NULs, newlines
and very long text stay data: they do not escape the HTML report, a partition path, a log line
or a SQL statement."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import duckdb
import httpx
import polars as pl

from bsg_analytics.pipeline import Progress, run_sync
from bsg_analytics.report import write_report
from bsg_analytics.storage import DataDir
from bsg_analytics.warehouse import build_warehouse
from bsg_simulator.testing import TEST_NOW, make_simulator
from tests.reliability.rel_helpers import API_KEY, SINCE, TOKEN, read_table, settings_for

HOSTILE = [
    "<script>alert('pwned')</script>",
    "\"'; drop view messages; --",
    "../../../../tmp/escaped",
    "nul\x00byte\nFAKE LOG LINE: sync finished\r\nanother",
    "<img src=x onerror=alert(1)>" + "A" * 20_000,
    "'); DROP TABLE campaigns; --\u2028\u202e",
]
PARTITION = re.compile(
    r"^(created_date=\d{4}-\d{2}-\d{2}|created_month=\d{4}-\d{2}(-\d{2})?"
    r"|extracted_date=\d{4}-\d{2}-\d{2}|__HIVE_DEFAULT_PARTITION__)$"
)


class Recorder(Progress):
    def __init__(self):
        self.lines: list[str] = []

    def message(self, text: str) -> None:
        self.lines.append(text)


def test_hostile_names_stay_data_everywhere(tmp_path, transport_for, caplog):
    sim = make_simulator(messages=1_500, seed=17, token=TOKEN, api_key=API_KEY)
    ds = sim.data
    n = min(len(ds.c_sender), 2 * len(HOSTILE))
    for i in range(n):
        ds.c_sender[i] = ds.c_text[i] = HOSTILE[i % len(HOSTILE)]
        sim._sender_arr[i] = ds.c_sender[i]
    plain_name = sim.campaign_name
    sim.campaign_name = lambda ci: HOSTILE[ci % len(HOSTILE)] + plain_name(ci)
    d = tmp_path / "d"
    progress = Recorder()
    run_sync(settings_for(d), SINCE, transport=transport_for(sim), now=TEST_NOW, progress=progress,
             finish=build_warehouse)  # fmt: skip

    # the values arrive intact, as data
    got = read_table(d, "messages")
    truth = sim.ground_truth_messages(TEST_NOW)
    assert set(got["sender"].unique()) == set(truth["sender"].unique())
    assert set(HOSTILE) <= set(got["sender"].to_list()), "the hostile senders were not served"
    names = read_table(d, "campaigns")["name"].to_list()
    assert any(n.startswith("<script>") for n in names)

    # no file outside D/{raw,parquet,state,staging}; parquet only at parquet/<table>/<date>/
    for path in (p for p in d.rglob("*") if p.is_file()):
        rel = path.relative_to(d).parts
        assert rel[0] in ("raw", "parquet", "state", "staging") or rel == ("warehouse.duckdb",), rel
        if rel[0] == "parquet":
            assert rel[-1] == "data.parquet" and len(rel) in (3, 4), rel
            if len(rel) == 4:
                assert PARTITION.match(rel[2]), rel
    assert not Path("/tmp/escaped").exists()

    # SQL: the views read the values as data and survive them
    con = duckdb.connect(str(DataDir(d).warehouse_path), read_only=True)
    try:
        views = {r[0] for r in con.execute("select view_name from duckdb_views()").fetchall()}
        assert {"messages", "campaigns", "delivery_rate_daily"} <= views
        n = con.execute("select count(*) from messages where sender = ?", [HOSTILE[1]]).fetchone()
        assert n[0] == got.filter(pl.col("sender") == HOSTILE[1]).height > 0
        assert con.execute("select count(*) from delivery_rate_daily").fetchone()[0] > 0
    finally:
        con.close()

    # HTML: nothing hostile survives unescaped
    html = write_report(DataDir(d), tmp_path / "report.html").read_text(encoding="utf-8")
    for raw in ("<script>alert(", "<img src=x", "onerror=alert(1)>", "\x00"):
        assert raw not in html, raw
    scripts = re.findall(r"<script[^>]*>(.*?)</script>", html, flags=re.S)
    assert html.count("<script") == html.count("</script>") == len(scripts)
    for body in scripts:  # inside JavaScript, a raw line separator would end a string
        assert "\u2028" not in body
    assert len(html) < 5_000_000

    # logs and progress lines: no value starts a line of its own
    for line in progress.lines + [r.getMessage() for r in caplog.records]:
        assert "FAKE LOG LINE" not in line


def test_unknown_fields_and_statuses_cannot_forge_a_log_line(tmp_path):
    """Unknown field names and statuses are reported (a progress line, a flow log line):
    a newline or control character in them must not start a new line."""
    rec = {
        "id": 1, "campaign_id": 7, "reference_id": "ext1", "type": "sms", "source": "rest",
        "text": "hi", "phone": "380661234567", "validity": 24,
        "status": "odd\nFAKE LOG LINE: all good\x1b[2J",
        "amount": {"value": "0.0350000", "currency": "EUR"}, "sender": "Shop",
        "created_at": TEST_NOW.strftime("%Y-%m-%d 08:00:00"),
        "evil\nFAKE LOG LINE: key": 1,
    }  # fmt: skip
    page = {"data": [rec], "meta": {"page": {"total": 1}}}
    empty = {"data": [], "meta": {"page": {"total": 0}}}

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=page if request.url.path == "/api/messages" else empty)

    since = (TEST_NOW - timedelta(days=2)).date()
    settings = settings_for(tmp_path / "d", export_costs=False)  # the handler serves no export
    report = run_sync(settings, since, transport=httpx.MockTransport(handler), now=TEST_NOW)
    assert read_table(tmp_path / "d", "messages")["status"].to_list() == [rec["status"]]
    assert len(report.notices) == 2, "the unknown field and status were not reported"
    for line in report.notices:
        assert "\n" not in line and "\x1b" not in line, repr(line)
