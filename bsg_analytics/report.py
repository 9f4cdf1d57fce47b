"""`bsg-analytics report`: one self-contained HTML file with charts of the metric views.

The file needs nothing but itself: plotly.js is inlined once (no CDN, no fonts, no images from
elsewhere), so it opens offline and can be mailed around. Charts come first (delivery rate by
channel, spend by currency, delivery-report latency, the campaigns that most need attention),
tables below: the open anomalies, countries and operators (top spend, worst delivery), the
balance and its runway, then campaigns, senders and the fallbacks by channel and fallback
channel. Each published
channel has one colour in every chart (`CHANNEL_COLOURS`); another value takes a spare one.

Everything that came from the API (sender and campaign names, currencies, statuses...) is
untrusted: in the HTML it is escaped with `html.escape`, control characters (NUL included)
are replaced and very long values are cut; in the charts it is escaped for plotly's own
pseudo-HTML labels, and the figure JSON has `<`, `>`, `&`, U+2028/U+2029 written as `\\uXXXX`
so no value can close the `<script>` element it sits in.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re
import sys
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bsg_analytics.schemas.statuses import CHANNELS

if TYPE_CHECKING:
    import plotly.graph_objects as go
    from duckdb import DuckDBPyConnection
    from plotly.basedatatypes import BaseTraceType

    from bsg_analytics.settings import Settings
    from bsg_analytics.storage import DataDir

Row = dict[str, Any]  # one row of a metric view, column name -> value
Data = dict[str, Any]  # what the report shows: section name -> rows (or counts)
Figure = dict[str, Any]  # a plotly figure as JSON data: {"data": [...], "layout": {...}}

REPORT_FILE = "report.html"
MAX_TEXT = 80  # characters of an API value shown in a cell or a label
ATTENTION_ROWS = 15
OPERATOR_ROWS = 10  # operators in each of the top-spend and worst-delivery tables
WORST_MIN_SENT = 100  # an operator's sent messages before its delivery rate is ranked
ANOMALY_DAYS = 14  # the anomalies table shows this many days back; open ones are marked

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

# One colour per published channel, the same in every chart (a channel's lines share it and
# differ by dash); a value nobody published takes the next of the spare ones, in the order met.
CHANNEL_COLOURS: dict[str, str] = dict(
    zip(CHANNELS, ("#1f77b4", "#7b3fa0", "#d62728", "#2ca02c", "#ff7f0e"), strict=True)
)
SPARE_COLOURS = ("#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")


def clean_text(value: Any, limit: int = MAX_TEXT) -> str:
    """An API value as plain text for display: control characters replaced, long text cut."""
    if value is None:
        return ""
    text = _CONTROL.sub("\ufffd", str(value))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def esc(value: Any, limit: int = MAX_TEXT) -> str:
    """An API value for HTML text or attributes."""
    return html.escape(clean_text(value, limit), quote=True)


def _script_json(obj: Any) -> str:
    """JSON that is safe inside <script>: no '<', '>', '&', or JS line separators left."""
    text = obj if isinstance(obj, str) else json.dumps(obj)
    for char, code in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, code)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


# --- data ----------------------------------------------------------------------------------


def _rows(con: DuckDBPyConnection, sql: str) -> list[Row]:
    rel = con.sql(sql)
    rows: list[Row] = rel.to_arrow_table().to_pylist()
    return rows


def _collect(con: DuckDBPyConnection, open_days: int = 2, today: dt.date | None = None) -> Data:
    """Everything the report shows, read from the metric views: {section: rows}; an anomaly
    of the last `open_days` UTC days up to `today` (default: the UTC date now) is open."""
    today = today or dt.datetime.now(dt.UTC).date()
    first_open = today - dt.timedelta(days=open_days - 1)
    first_shown = today - dt.timedelta(days=ANOMALY_DAYS - 1)
    data: Data = {}
    data["counts"] = _rows(
        con,
        "SELECT (SELECT count(*) FROM messages) AS messages, "
        "(SELECT count(*) FROM campaigns) AS campaigns, "
        "(SELECT count(*) FROM quarantine) AS quarantined",
    )[0]
    data["headline"] = _rows(
        con,
        "SELECT channel, sum(sent) AS sent, sum(delivered) AS delivered, "
        "CASE WHEN sum(sent) > 0 THEN sum(delivered) / sum(sent) END AS delivery_rate, "
        "min(day) AS first_day, max(day) AS last_day "
        "FROM delivery_rate_daily GROUP BY channel ORDER BY channel",
    )
    data["delivery"] = _rows(
        con,
        "SELECT day, channel, sum(sent) AS sent, sum(delivered) AS delivered, "
        "CASE WHEN sum(sent) > 0 THEN sum(delivered) / sum(sent) END AS delivery_rate "
        "FROM delivery_rate_daily GROUP BY day, channel ORDER BY day, channel",
    )
    data["spend"] = _rows(
        con,
        "SELECT day, currency, sum(spend) AS spend FROM spend_daily "
        "WHERE currency IS NOT NULL GROUP BY day, currency ORDER BY day, currency",
    )
    data["spend_total"] = _rows(
        con,
        "SELECT currency, sum(messages) AS messages, sum(delivered) AS delivered, "
        "sum(spend) AS spend, CASE WHEN sum(delivered) > 0 THEN "
        "CAST(round(sum(spend) / sum(delivered), 7) AS DECIMAL(18, 7)) END "
        "AS cost_per_delivered FROM spend_daily WHERE currency IS NOT NULL "
        "GROUP BY currency ORDER BY currency",
    )
    data["latency"] = _rows(con, "SELECT * FROM dlr_latency ORDER BY day, channel")
    data["attention"] = _rows(
        con,
        "SELECT campaign_id, name, sender, channel, status, campaign_delivery_rate, "
        "campaign_rate_source, messages_sent, messages_delivery_rate, rate_difference, "
        "disagrees FROM campaign_delivery "
        "WHERE campaign_delivery_rate IS NOT NULL OR messages_delivery_rate IS NOT NULL "
        "ORDER BY coalesce(disagrees, false) DESC, abs(coalesce(rate_difference, 0)) DESC, "
        "least(coalesce(campaign_delivery_rate, 1), coalesce(messages_delivery_rate, 1)), "
        f"campaign_id LIMIT {ATTENTION_ROWS}",
    )
    data["senders"] = _rows(
        con,
        "SELECT sender, channel, sum(sent) AS sent, sum(delivered) AS delivered, "
        "CASE WHEN sum(sent) > 0 THEN sum(delivered) / sum(sent) END AS delivery_rate "
        "FROM delivery_rate_daily GROUP BY sender, channel ORDER BY sent DESC, sender LIMIT 50",
    )
    data["rcs"] = _rows(
        con,
        "SELECT r.sender, sum(r.delivered) AS delivered, sum(r.read) AS read, "
        "CASE WHEN sum(r.delivered) > 0 THEN sum(r.read) / sum(r.delivered) END AS read_rate, "
        "any_value(f.fell_back) AS fell_back, "
        "any_value(f.fallback_delivered) AS fallback_delivered "
        "FROM rcs_read_rate r LEFT JOIN (SELECT sender, sum(fell_back) AS fell_back, "
        "sum(fallback_delivered) AS fallback_delivered FROM fallback_effectiveness "
        "WHERE channel = 'rcs' GROUP BY sender) f "
        "ON r.sender IS NOT DISTINCT FROM f.sender GROUP BY r.sender ORDER BY r.sender LIMIT 50",
    )
    data["fallbacks"] = _rows(
        con,
        "SELECT channel, fallback_channel, sum(messages) AS messages, "
        "sum(fell_back) AS fell_back, sum(fallback_found) AS fallback_found, "
        "sum(fallback_delivered) AS fallback_delivered, CASE WHEN sum(fell_back) > 0 "
        "THEN sum(fallback_delivered) / sum(fell_back) END AS fallback_delivery_rate "
        "FROM fallback_effectiveness WHERE fallback_channel IS NOT NULL "
        "GROUP BY channel, fallback_channel ORDER BY channel, fallback_channel",
    )
    data["operators_spend"] = _rows(
        con,
        "SELECT * FROM (SELECT country_name, operator, currency, sum(messages) AS messages, "
        "sum(sent) AS sent, sum(delivered) AS delivered, "
        "CASE WHEN sum(sent) > 0 THEN sum(delivered) / sum(sent) END AS delivery_rate, "
        "sum(spend) AS spend, CASE WHEN sum(delivered) > 0 THEN "
        "CAST(round(sum(spend) / sum(delivered), 7) AS DECIMAL(18, 7)) END "
        "AS cost_per_delivered, row_number() OVER (PARTITION BY currency "
        "ORDER BY sum(spend) DESC NULLS LAST, country_name, operator) AS rank "
        "FROM spend_by_country_operator WHERE currency IS NOT NULL "
        f"GROUP BY country_name, operator, currency) WHERE rank <= {OPERATOR_ROWS} "
        "ORDER BY currency, rank",
    )
    data["operators_worst"] = _rows(
        con,
        "SELECT country_name, operator, mcc, mnc, sum(sent) AS sent, "
        "sum(delivered) AS delivered, sum(delivered) / sum(sent) AS delivery_rate, "
        "median(dlr_p50_s) AS dlr_p50_s FROM delivery_by_operator "
        f"GROUP BY country_name, operator, mcc, mnc HAVING sum(sent) >= {WORST_MIN_SENT} "
        f"ORDER BY delivery_rate, sent DESC, country_name, operator LIMIT {OPERATOR_ROWS}",
    )
    data["runway"] = _rows(con, "SELECT * FROM balance_runway ORDER BY day DESC LIMIT 1")
    data["anomalies"] = _rows(
        con,
        "SELECT day, kind, dimension, subject, channel, messages, observed, baseline, z, "
        f"detail, day >= DATE '{first_open}' AS open FROM anomalies "
        f"WHERE day >= DATE '{first_shown}' "
        "ORDER BY day DESC, kind, dimension, subject, channel",
    )
    data["statuses"] = _rows(
        con,
        "SELECT channel, status, count(*) AS messages FROM messages "
        "GROUP BY channel, status ORDER BY channel, messages DESC, status",
    )
    # the last 7 days of data against the 7 before them (days: UTC, of sent_at else created_at)
    data["weekly"] = _rows(
        con,
        "WITH last AS (SELECT max(day) AS d FROM delivery_rate_daily) "
        "SELECT channel, "
        "sum(delivered) FILTER (WHERE day > d - 7) / "
        "nullif(sum(sent) FILTER (WHERE day > d - 7), 0) AS this_week, "
        "sum(delivered) FILTER (WHERE day <= d - 7 AND day > d - 14) / "
        "nullif(sum(sent) FILTER (WHERE day <= d - 7 AND day > d - 14), 0) AS week_before "
        "FROM delivery_rate_daily, last GROUP BY channel ORDER BY channel",
    )
    data["weekly_spend"] = _rows(
        con,
        "WITH last AS (SELECT max(day) AS d FROM spend_daily) "
        "SELECT currency, sum(spend) FILTER (WHERE day > d - 7) AS this_week, "
        "sum(spend) FILTER (WHERE day <= d - 7 AND day > d - 14) AS week_before "
        "FROM spend_daily, last WHERE currency IS NOT NULL GROUP BY currency ORDER BY currency",
    )
    data["campaign_cost"] = _rows(
        con,
        "SELECT f.campaign_id, any_value(c.name) AS name, any_value(f.channel) AS channel, "
        "f.amount_currency AS currency, count(*) AS messages, "
        "count(*) FILTER (WHERE f.is_delivered) AS delivered, sum(f.amount_value) AS spend, "
        "CAST(round(sum(f.amount_value) / nullif(count(*) FILTER (WHERE f.is_delivered), 0), 7) "
        "AS DECIMAL(18, 7)) AS cost_per_delivered "
        "FROM message_facts f LEFT JOIN campaigns c ON c.campaign_id = f.campaign_id "
        "WHERE f.campaign_id IS NOT NULL AND f.amount_currency IS NOT NULL "
        "GROUP BY f.campaign_id, f.amount_currency "
        f"ORDER BY spend DESC NULLS LAST, f.campaign_id LIMIT {ATTENTION_ROWS}",
    )
    data["completeness"] = _rows(
        con,
        "SELECT channel, sum(sent) AS sent, sum(final) AS final, "
        "CASE WHEN sum(sent) > 0 THEN sum(final) / sum(sent) END AS final_share "
        "FROM dlr_completeness GROUP BY channel ORDER BY channel",
    )
    return data


# --- charts --------------------------------------------------------------------------------

# x values (ISO dates) and y values of one line or bar series, keyed by its legend value; a
# None y is a day without data (a line breaks there: plotly does not connect gaps by default)
Series = dict[Any, tuple[list[str], list[float | None]]]


def _label(value: Any) -> str:
    """A value for a plotly label: plotly renders a subset of HTML there, so escape it."""
    return html.escape(clean_text(value, 40), quote=True)


def _colours(channels: list[Any]) -> dict[Any, str]:
    """A colour for each channel: its own for a published one, a spare one for another."""
    out: dict[Any, str] = {}
    spare = 0
    for ch in channels:
        if ch in out:
            continue
        if ch in CHANNEL_COLOURS:
            out[ch] = CHANNEL_COLOURS[ch]
        else:
            out[ch] = SPARE_COLOURS[spare % len(SPARE_COLOURS)]
            spare += 1
    return out


def _series(rows: list[Row], key: str, x: str, y: str) -> Series:
    """Rows split by `key` into (x as ISO text, y as float) lists; rows without a y skipped."""
    groups: Series = {}
    for row in rows:
        if row[y] is None:
            continue
        xs, ys = groups.setdefault(row[key], ([], []))
        xs.append(row[x].isoformat())
        ys.append(float(row[y]))
    return groups


def _daily(rows: list[Row], key: str, x: str, y: str) -> Series:
    """`_series` over every day from the first to the last of `rows` (dates), each series
    None on the days it has no value: a line is not drawn across days without data."""
    days = sorted({row[x] for row in rows if row[x] is not None})
    if not days:
        return {}
    every = [days[0] + dt.timedelta(days=n) for n in range((days[-1] - days[0]).days + 1)]
    values: dict[Any, dict[Any, float]] = {}
    for row in rows:
        if row[y] is not None and row[x] is not None:
            values.setdefault(row[key], {})[row[x]] = float(row[y])
    axis = [d.isoformat() for d in every]
    return {k: (axis, [got.get(d) for d in every]) for k, got in values.items()}


def _figure(
    traces: list[BaseTraceType],
    title: str,
    yaxis: dict[str, Any] | None = None,
    fig: go.Figure | None = None,
) -> Figure:
    """The figure as plain JSON data (what `Plotly.newPlot` takes), in the report's layout;
    `fig` a figure made with its own axes (subplots) to add the traces to."""
    import plotly.graph_objects as go

    if fig is None:
        fig = go.Figure()
        for trace in traces:
            fig.add_trace(trace)
        fig.update_layout(xaxis={"type": "date", "tickformat": "%Y-%m-%d"}, yaxis=yaxis or {})
    fig.update_layout(
        title=title,
        template="plotly_white",
        height=360,
        margin={"l": 60, "r": 20, "t": 50, "b": 50},
        legend={"orientation": "h", "y": -0.2},
    )
    figure: Figure = json.loads(fig.to_json())
    return figure


def _delivery_chart(data: Data) -> Figure | None:
    import plotly.graph_objects as go

    delivery = _daily(data["delivery"], "channel", "day", "delivery_rate")
    if not delivery:
        return None
    colours = _colours(list(delivery))
    return _figure(
        [
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines+markers",
                name=_label(ch),
                line={"color": colours[ch]},
                marker={"color": colours[ch]},
                meta={"channel": clean_text(ch, 40)},
            )
            for ch, (xs, ys) in delivery.items()
        ],
        "Delivery rate (delivered / sent) by day and channel",
        {"tickformat": ".0%", "range": [0, 1.05]},
    )


def _spend_chart(data: Data) -> Figure | None:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    spend = _daily(data["spend"], "currency", "day", "spend")
    if not spend:
        return None
    # one panel per currency, each on its own axis: a small currency is not flattened by a
    # large one (no rate is assumed between them)
    fig = make_subplots(
        rows=len(spend), cols=1, shared_xaxes=True, vertical_spacing=0.25 / len(spend),
        subplot_titles=[f"spend in {_label(cur)}" for cur in spend],
    )  # fmt: skip
    for i, (cur, (xs, ys)) in enumerate(spend.items(), 1):
        fig.add_trace(go.Bar(x=xs, y=ys, name=_label(cur), showlegend=False), row=i, col=1)
        fig.update_yaxes(title_text=_label(cur), row=i, col=1)
        fig.update_xaxes(type="date", tickformat="%Y-%m-%d", row=i, col=1)
    figure = _figure([], "Spend per day, one panel per currency", fig=fig)
    figure["layout"]["height"] = 120 + 180 * len(spend)
    return figure


def _latency_chart(data: Data) -> Figure | None:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    colours = _colours([r["channel"] for r in data["latency"]])
    p50 = _daily(data["latency"], "channel", "day", "p50_seconds")
    p90 = _daily(data["latency"], "channel", "day", "p90_seconds")
    if not p50:
        return None
    # one panel per channel: its median as a line over a band up to its 90th percentile,
    # drawn run by run (days in a row with data), so neither crosses a day without data
    fig = make_subplots(
        rows=len(p50), cols=1, shared_xaxes=True, vertical_spacing=0.3 / len(p50),
        subplot_titles=[_label(ch) for ch in p50],
    )  # fmt: skip
    for i, (ch, (xs, ys)) in enumerate(p50.items(), 1):
        meta = {"channel": clean_text(ch, 40)}
        tops = p90.get(ch, (xs, ys))[1]
        for n, (a, b) in enumerate(_runs(ys)):
            top = [t if t is not None else y for t, y in zip(tops[a:b], ys[a:b], strict=True)]
            edge = go.Scatter(
                x=xs[a:b], y=top, mode="lines", line={"width": 0, "color": colours[ch]},
                legendgroup=_label(ch), showlegend=False, hoverinfo="skip", meta=meta,
            )  # fmt: skip
            line = go.Scatter(
                x=xs[a:b], y=ys[a:b], mode="lines+markers", name=_label(ch),
                legendgroup=_label(ch), showlegend=n == 0, fill="tonexty",
                line={"color": colours[ch], "width": 2}, marker={"size": 4},
                fillcolor=_translucent(colours[ch]), meta=meta,
                customdata=top, hovertemplate="p50 %{y:.0f} s, p90 %{customdata:.0f} s",
            )  # fmt: skip
            fig.add_trace(edge, row=i, col=1)
            fig.add_trace(line, row=i, col=1)
        fig.update_yaxes(type="log", dtick=1, title_text="s", row=i, col=1)
        fig.update_xaxes(type="date", tickformat="%Y-%m-%d", row=i, col=1)
    figure = _figure(
        [], "Seconds from sent to delivered: the median (line), up to the 90th percentile "
        "(band)", fig=fig,
    )  # fmt: skip
    figure["layout"]["height"] = 100 + 150 * len(p50)
    return figure


def _runs(values: list[float | None]) -> list[tuple[int, int]]:
    """[start, end) of each run of values that are not None, in order."""
    out, start = [], None
    for i, v in enumerate([*values, None]):
        if v is not None and start is None:
            start = i
        elif v is None and start is not None:
            out.append((start, i))
            start = None
    return out


def _translucent(colour: str, alpha: float = 0.18) -> str:
    """A #rrggbb colour as rgba with `alpha` (a band under a line of that colour)."""
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def _status_chart(data: Data) -> Figure | None:
    """One bar per channel, split by status: the share of its messages in each."""
    import plotly.graph_objects as go

    rows = data["statuses"]
    if not rows:
        return None
    totals: dict[Any, int] = {}
    for row in rows:
        totals[row["channel"]] = totals.get(row["channel"], 0) + row["messages"]
    channels = sorted(totals, key=str)
    by_status: dict[Any, dict[Any, int]] = {}
    for row in rows:
        by_status.setdefault(row["status"], {})[row["channel"]] = row["messages"]
    order = sorted(by_status, key=lambda st: -sum(by_status[st].values()))
    traces = [
        go.Bar(
            y=[_label(ch) for ch in channels],
            x=[by_status[st].get(ch, 0) / totals[ch] for ch in channels],
            customdata=[by_status[st].get(ch, 0) for ch in channels],
            hovertemplate="%{y}: %{x:.1%} (%{customdata:,} messages)<extra>"
            + _label(st) + "</extra>",
            orientation="h",
            name=_label(st),
        )
        for st in order
    ]  # fmt: skip
    fig = _figure(traces, "Messages by status, per channel (share of the channel's messages)")
    fig["layout"]["barmode"] = "stack"
    fig["layout"]["xaxis"] = {"tickformat": ".0%", "range": [0, 1]}
    fig["layout"]["yaxis"] = {"automargin": True}
    fig["layout"]["height"] = 160 + 40 * len(channels)
    return fig


def _attention_chart(data: Data) -> Figure | None:
    """Horizontal bars, one pair per campaign: its own statistics' rate and its messages'."""
    import plotly.graph_objects as go

    attention = data["attention"]
    if not attention:
        return None
    names = [f"#{r['campaign_id']} {_label(r['name'])}" for r in attention][::-1]
    own = [r["campaign_delivery_rate"] for r in attention][::-1]
    msgs = [r["messages_delivery_rate"] for r in attention][::-1]
    fig = _figure(
        [
            go.Bar(y=names, x=own, orientation="h", name="campaign statistics"),
            go.Bar(y=names, x=msgs, orientation="h", name="its messages"),
        ],
        "Campaigns that most need attention: delivery rate, two ways",
    )
    fig["layout"]["height"] = 140 + 28 * len(attention)
    fig["layout"]["xaxis"] = {"tickformat": ".0%", "range": [0, 1.05]}
    fig["layout"]["yaxis"] = {"automargin": True}
    return fig


def _charts(data: Data) -> list[tuple[str, Figure | None]]:
    """(section title, figure or None when there is nothing to draw), in page order."""
    return [
        ("Delivery rate by channel", _delivery_chart(data)),
        ("Spend by currency", _spend_chart(data)),
        ("Delivery-report latency", _latency_chart(data)),
        ("Statuses", _status_chart(data)),
        ("Campaign delivery: statistics against messages", _attention_chart(data)),
    ]


# --- HTML ----------------------------------------------------------------------------------

# (row key, column header, format kind for `_fmt`)
Column = tuple[str, str, str]


def _fmt(value: Any, kind: str = "") -> str:
    if value is None:
        return "—"
    if kind == "pct":
        return f"{value:.1%}"
    if kind == "s":
        return f"{value:,.1f}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal):
        return f"{value:,.7f}".rstrip("0").rstrip(".") if value else "0"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.4f}"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return ", ".join(clean_text(v) for v in value) if value else "—"
    return clean_text(value)


# the row values the page's filters read (`_FILTER_SCRIPT`), as data-* attributes of a <tr>
FILTERED_KEYS = ("channel", "sender", "day")


def _row_attrs(row: Row) -> str:
    out = []
    for key in FILTERED_KEYS:
        value = row.get(key)
        if value is not None:
            text = value.isoformat() if isinstance(value, dt.date) else clean_text(value, 200)
            out.append(f' data-{key}="{html.escape(text, quote=True)}"')
    return "".join(out)


def _table(rows: list[Row], columns: list[Column], empty: str) -> str:
    """columns: (key, header, kind); every cell escaped; each row carries its channel,
    sender and day for the filters."""
    if not rows:
        return f'<p class="empty">{html.escape(empty)}</p>'
    head = "".join(f"<th>{html.escape(h)}</th>" for _, h, _ in columns)
    body = []
    for row in rows:
        cells = []
        for key, _, kind in columns:
            value = row.get(key)
            num = isinstance(value, int | float | Decimal) and not isinstance(value, bool)
            title = ""
            if isinstance(value, str) and len(value) > MAX_TEXT:
                title = f' title="{esc(value, 2000)}"'
            cls = ' class="num"' if num else ""
            cells.append(f"<td{cls}{title}>{html.escape(_fmt(value, kind), quote=True)}</td>")
        body.append(f"<tr{_row_attrs(row)}>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px auto;max-width:1180px;
color:#1d2433;padding:0 16px}
h1{font-size:26px;margin-bottom:4px}h2{font-size:19px;margin-top:36px;border-bottom:1px solid #dde;
padding-bottom:4px}.meta{color:#667}.cards{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}
.card{background:#f3f5fa;border-radius:8px;padding:12px 16px;min-width:160px}
.card b{display:block;font-size:22px}.chart{min-height:360px;margin:12px 0}
.empty{color:#667;font-style:italic;padding:12px;background:#f7f7f9;border-radius:6px}
table{border-collapse:collapse;margin:8px 0 16px;font-size:14px;width:100%}
th,td{border-bottom:1px solid #e4e6ee;padding:5px 8px;text-align:left;max-width:360px}
td{overflow-wrap:anywhere}td.num{text-align:right;font-variant-numeric:tabular-nums}
th{background:#f3f5fa;white-space:nowrap}.up{color:#1a7f37}.down{color:#b42318}
.filters{display:flex;flex-wrap:wrap;gap:14px;align-items:center;background:#f7f8fb;
padding:10px 14px;border-radius:8px;position:sticky;top:0;z-index:5;font-size:14px}
.filters label{white-space:nowrap}
"""

# the whole page; `body` is the sections joined by newlines, `scripts` the script elements
_PAGE = (
    '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width, initial-scale=1">'
    "<title>BSG messaging report</title>"
    "<style>{css}</style></head><body>{body}{scripts}</body></html>\n"
)


def _header(data: Data, data_dir_label: str, generated_at: dt.datetime) -> list[str]:
    """Title, where the data comes from and how much, and a hint when there is none yet."""
    counts = data["counts"]
    first, last = _date_range(data)
    span = f"{first} to {last} (UTC days) · " if first else ""
    parts = [
        "<h1>BSG messaging report</h1>",
        f'<p class="meta">{span}Data directory {esc(data_dir_label, 300)} · generated '
        f"{generated_at.isoformat(timespec='seconds')} · "
        f"{counts['messages']:,} messages, {counts['campaigns']:,} campaigns, "
        f"{counts['quarantined']:,} quarantined records</p>",
    ]
    if not any(counts.values()):
        parts.append(
            '<p class="empty" id="no-data">No data yet: run <code>bsg-analytics sync</code> '
            "(or <code>bsg-analytics demo</code>) and write the report again.</p>"
        )
    return parts


def _date_range(data: Data) -> tuple[str | None, str | None]:
    """The first and last UTC day with messages, as ISO text (None, None: none yet)."""
    days = [d for r in data["headline"] for d in (r["first_day"], r["last_day"]) if d]
    return (min(days).isoformat(), max(days).isoformat()) if days else (None, None)


def _change(now: Any, before: Any, kind: str) -> str:
    """The week-over-week line of a card: points for a rate, percent for an amount."""
    if now is None or before is None:
        return '<br><span class="meta">no week before to compare</span>'
    if kind == "pct":
        delta = (float(now) - float(before)) * 100
        text = f"{delta:+.1f} pts"
    else:
        if not before:
            return '<br><span class="meta">nothing spent the week before</span>'
        delta = (float(now) - float(before)) / float(before) * 100
        text = f"{delta:+.0f} %"
    cls = "up" if delta > 0 else "down" if delta < 0 else "meta"
    return (
        f'<br><span class="{cls}">{text}</span> '
        '<span class="meta">last 7 days vs the 7 before</span>'
    )


def _cards(data: Data) -> list[str]:
    """The headline numbers: delivery rate per channel, spend per currency (none: nothing)."""
    cards = []
    weekly = {r["channel"]: r for r in data.get("weekly", [])}
    weekly_spend = {r["currency"]: r for r in data.get("weekly_spend", [])}
    for row in data["headline"]:
        week = weekly.get(row["channel"], {})
        cards.append(
            f'<div class="card" data-channel="{esc(row["channel"])}">'
            f"{esc(row['channel'])} delivery rate"
            f"<b>{_fmt(row['delivery_rate'], 'pct')}</b>"
            f"{_fmt(row['delivered'])} of {_fmt(row['sent'])} sent"
            f"{_change(week.get('this_week'), week.get('week_before'), 'pct')}</div>"
        )
    for row in data["spend_total"]:
        week = weekly_spend.get(row["currency"], {})
        cards.append(
            f'<div class="card">spend {esc(row["currency"], 12)}'
            f"<b>{html.escape(_fmt(row['spend']))}</b>"
            f"{html.escape(_fmt(row['cost_per_delivered']))} per delivered"
            f"{_change(week.get('this_week'), week.get('week_before'), '')}</div>"
        )
    for row in data.get("runway", []):
        left = row["days_left"]
        cards.append(
            f'<div class="card">balance {esc(row["currency"], 12)}'
            f"<b>{html.escape(_fmt(row['balance']))}</b>"
            + ("no spend in the last 7 days" if left is None else f"{left:,.1f} days left")
            + "</div>"
        )
    return ['<div class="cards">' + "".join(cards) + "</div>"] if cards else []


def _plot_script(index: int, fig: Figure) -> str:
    """The script that draws `fig` into the element `chart-{index}`."""
    return (
        f"(function () {{ var fig = {_script_json(fig)};\n"
        f'Plotly.newPlot("chart-{index}", fig.data, fig.layout, '
        '{"displaylogo": false, "responsive": true}); })();'
    )


def _chart_sections(data: Data) -> tuple[list[str], list[str]]:
    """The chart sections' markup, and the scripts that draw them (one per drawn chart)."""
    parts: list[str] = []
    scripts: list[str] = []
    for i, (title, fig) in enumerate(_charts(data)):
        parts.append(f"<h2>{html.escape(title)}</h2>")
        if fig is None:
            parts.append('<p class="empty">No data yet.</p>')
            continue
        parts.append(f'<div class="chart" id="chart-{i}"></div>')
        scripts.append(_plot_script(i, fig))
    return parts, scripts


def _attention_section(data: Data) -> list[str]:
    return [
        "<h2>Campaigns that most need attention</h2>",
        "<p class=meta>Disagreeing first (rates more than one point apart), then the "
        "largest difference, then the lowest delivery rate.</p>",
        _table(
            data["attention"],
            [
                ("campaign_id", "campaign", ""),
                ("name", "name", ""),
                ("sender", "sender", ""),
                ("channel", "channel", ""),
                ("status", "status", ""),
                ("campaign_delivery_rate", "rate (campaign)", "pct"),
                ("campaign_rate_source", "from", ""),
                ("messages_sent", "messages sent", ""),
                ("messages_delivery_rate", "rate (messages)", "pct"),
                ("disagrees", "disagree", ""),
            ],
            "No campaigns yet.",
        ),
    ]


def _campaign_cost_section(data: Data) -> list[str]:
    return [
        "<h2>Cost per campaign</h2>",
        "<p class=meta>The campaigns that cost the most (the messages' own amounts), per "
        "currency, with what a delivered message cost.</p>",
        _table(
            data.get("campaign_cost", []),
            [
                ("campaign_id", "campaign", ""),
                ("name", "name", ""),
                ("channel", "channel", ""),
                ("currency", "currency", ""),
                ("messages", "messages", ""),
                ("delivered", "delivered", ""),
                ("spend", "spend", ""),
                ("cost_per_delivered", "cost per delivered", ""),
            ],
            "No campaign with a price yet.",
        ),
    ]


def _senders_section(data: Data) -> list[str]:
    return [
        "<h2>Delivery by sender</h2>",
        _table(
            data["senders"],
            [
                ("sender", "sender", ""),
                ("channel", "channel", ""),
                ("sent", "sent", ""),
                ("delivered", "delivered", ""),
                ("delivery_rate", "delivery rate", "pct"),
            ],
            "No messages yet.",
        ),
    ]


def _spend_section(data: Data) -> list[str]:
    return [
        "<h2>Spend by currency</h2>",
        _table(
            data["spend_total"],
            [
                ("currency", "currency", ""),
                ("messages", "messages", ""),
                ("delivered", "delivered", ""),
                ("spend", "spend", ""),
                ("cost_per_delivered", "cost per delivered", ""),
            ],
            "No spend yet.",
        ),
    ]


def _rcs_section(data: Data) -> list[str]:
    return [
        "<h2>RCS: read rate and fallback</h2>",
        _table(
            data["rcs"],
            [
                ("sender", "agent", ""),
                ("delivered", "delivered", ""),
                ("read", "read", ""),
                ("read_rate", "read rate", "pct"),
                ("fell_back", "fell back (SMS or Viber)", ""),
                ("fallback_delivered", "delivered by the fallback", ""),
            ],
            "No RCS messages yet.",
        ),
    ]


def _fallback_section(data: Data) -> list[str]:
    return [
        "<h2>Fallbacks: by channel and fallback channel</h2>",
        "<p class=meta>Messages with an alternative channel; a fallback split into parts is "
        "delivered when every part is.</p>",
        _table(
            data["fallbacks"],
            [
                ("channel", "channel", ""),
                ("fallback_channel", "falls back to", ""),
                ("messages", "messages", ""),
                ("fell_back", "fell back", ""),
                ("fallback_found", "fallback found", ""),
                ("fallback_delivered", "fallback delivered", ""),
                ("fallback_delivery_rate", "fallback delivery rate", "pct"),
            ],
            "No fallbacks yet.",
        ),
    ]


def _operators_section(data: Data) -> list[str]:
    return [
        "<h2>Countries and operators</h2>",
        "<p class=meta>From the statistics export (<code>message_costs</code>): where the "
        "money goes, top spend per currency.</p>",
        _table(
            data["operators_spend"],
            [
                ("currency", "currency", ""),
                ("country_name", "country", ""),
                ("operator", "operator", ""),
                ("messages", "messages", ""),
                ("delivery_rate", "delivery rate", "pct"),
                ("spend", "spend", ""),
                ("cost_per_delivered", "cost per delivered", ""),
            ],
            "No statistics export yet.",
        ),
        f"<p class=meta>Where delivery fails: the lowest delivery rates of operators with "
        f"{WORST_MIN_SENT} sent messages or more.</p>",
        _table(
            data["operators_worst"],
            [
                ("country_name", "country", ""),
                ("operator", "operator", ""),
                ("mcc", "MCC", ""),
                ("mnc", "MNC", ""),
                ("sent", "sent", ""),
                ("delivered", "delivered", ""),
                ("delivery_rate", "delivery rate", "pct"),
                ("dlr_p50_s", "DLR p50 s (median day)", "s"),
            ],
            "No operator has enough messages yet.",
        ),
    ]


def _runway_section(data: Data) -> list[str]:
    return [
        "<h2>Balance and runway</h2>",
        "<p class=meta>The balance at the last sync, the spend per day over the 7 days before "
        "it (in the balance's currency; currencies without a rate in "
        "<code>BSG_CURRENCY_RATES</code> are left out and named), and the days it lasts at "
        "that pace.</p>",
        _table(
            data["runway"],
            [
                ("day", "day", ""),
                ("balance", "balance", ""),
                ("credit", "credit", ""),
                ("currency", "currency", ""),
                ("spend_7d_per_day", "spend per day (7 days)", ""),
                ("days_left", "days left", "s"),
                ("unconverted_currencies", "left out", ""),
            ],
            "No balance synced yet.",
        ),
    ]


def _anomalies_section(data: Data) -> list[str]:
    rows = data["anomalies"]
    open_rows = sum(1 for r in rows if r["open"])
    return [
        f"<h2>Anomalies ({open_rows} open)</h2>",
        f"<p class=meta>The last {ANOMALY_DAYS} days of the <code>anomalies</code> view "
        "(delivery-rate falls that volume makes significant, spend spikes, a short runway); "
        "<code>bsg-analytics alerts</code> prints the open ones.</p>",
        _table(
            rows,
            [
                ("day", "day", ""),
                ("open", "open", ""),
                ("kind", "kind", ""),
                ("subject", "subject", ""),
                ("channel", "channel", ""),
                ("messages", "messages", ""),
                ("detail", "detail", ""),
            ],
            f"No anomaly in the last {ANOMALY_DAYS} days.",
        ),
    ]


def _completeness_section(data: Data) -> list[str]:
    return [
        "<h2>Delivery-report completeness</h2>",
        _table(
            data["completeness"],
            [
                ("channel", "channel", ""),
                ("sent", "sent", ""),
                ("final", "in a final status", ""),
                ("final_share", "share", "pct"),
            ],
            "No messages yet.",
        ),
    ]


# The filters, offline in the page: a date range (every chart's date axis, and the rows that
# have a day), channels (the traces and rows of a channel, and its card) and a sender (the
# rows of a sender). `#from=2026-03-01&to=2026-03-07&channel=sms,rcs&sender=Acme` in the
# address sets them on load. What is shown is written to <body data-shown> (traces visible per
# chart, each date axis's range, rows shown and hidden) for a test to read.
_FILTER_SCRIPT = """
(function () {
  function byId(id) { return document.getElementById(id); }
  var boxes = Array.prototype.slice.call(document.querySelectorAll(".f-channel"));
  function fromHash() {
    var h = {};
    decodeURIComponent(location.hash.slice(1)).split("&").forEach(function (kv) {
      var i = kv.indexOf("="); if (i > 0) { h[kv.slice(0, i)] = kv.slice(i + 1); }
    });
    if (h.from && byId("f-from")) { byId("f-from").value = h.from; }
    if (h.to && byId("f-to")) { byId("f-to").value = h.to; }
    if (h.sender !== undefined && byId("f-sender")) { byId("f-sender").value = h.sender; }
    if (h.channel !== undefined) {
      var want = h.channel.split(",");
      boxes.forEach(function (b) { b.checked = want.indexOf(b.value) >= 0; });
    }
  }
  function apply() {
    var from = byId("f-from") ? byId("f-from").value : "";
    var to = byId("f-to") ? byId("f-to").value : "";
    var sender = byId("f-sender") ? byId("f-sender").value : "";
    var off = {};
    boxes.forEach(function (b) { if (!b.checked) { off[b.value] = true; } });
    var shown = {charts: {}, ranges: {}, rows: 0, hidden_rows: 0};
    Array.prototype.forEach.call(document.querySelectorAll(".chart"), function (div) {
      if (!window.Plotly || !div.data) { return; }
      var visible = div.data.map(function (t) {
        var ch = t.meta && t.meta.channel;
        return !(ch !== undefined && off[ch]);
      });
      Plotly.restyle(div, {visible: visible});
      var axes = {};
      Object.keys(div.layout).forEach(function (k) {
        if (/^xaxis[0-9]*$/.test(k) && div.layout[k].type === "date") {
          if (from && to) { axes[k + ".range"] = [from, to + " 23:59:59"]; }
          else { axes[k + ".autorange"] = true; }
        }
      });
      Plotly.relayout(div, axes);
      shown.charts[div.id] = visible.filter(Boolean).length;
      if (div.layout.xaxis && div.layout.xaxis.type === "date") {
        shown.ranges[div.id] = div.layout.xaxis.range;
      }
    });
    var filtered = "tr[data-channel], tr[data-sender], tr[data-day], .card[data-channel]";
    Array.prototype.forEach.call(document.querySelectorAll(filtered), function (el) {
      var d = el.dataset, ok = true;
      if (d.channel !== undefined && off[d.channel]) { ok = false; }
      if (sender && d.sender !== undefined && d.sender !== sender) { ok = false; }
      if (d.day && ((from && d.day < from) || (to && d.day > to))) { ok = false; }
      el.style.display = ok ? "" : "none";
      if (el.tagName === "TR") { if (ok) { shown.rows += 1; } else { shown.hidden_rows += 1; } }
    });
    document.body.setAttribute("data-shown", JSON.stringify(shown));
  }
  Array.prototype.forEach.call(document.querySelectorAll(".filters input, .filters select"),
    function (el) { el.addEventListener("change", apply); });
  window.addEventListener("hashchange", function () { fromHash(); apply(); });
  fromHash();
  apply();
})();
"""


def _filters(data: Data) -> list[str]:
    """The filter bar: dates, channels and senders of the data (none: no bar)."""
    first, last = _date_range(data)
    channels = sorted({clean_text(r["channel"], 40) for r in data["headline"] if r["channel"]})
    senders = sorted({clean_text(r["sender"], 60) for r in data["senders"] if r["sender"]})
    if not first and not channels:
        return []
    span = f'min="{first}" max="{last}"' if first else ""
    boxes = "".join(
        f'<label><input type="checkbox" class="f-channel" value="{html.escape(ch, quote=True)}"'
        f" checked> {html.escape(ch)}</label>"
        for ch in channels
    )
    options = "".join(
        f'<option value="{html.escape(sd, quote=True)}">{html.escape(sd)}</option>'
        for sd in senders
    )
    return [
        '<form class="filters" id="filters" onsubmit="return false">'
        f'<label>from <input type="date" id="f-from" {span} value="{first or ""}"></label>'
        f'<label>to <input type="date" id="f-to" {span} value="{last or ""}"></label>'
        f"<span>channels: {boxes}</span>"
        f'<label>sender <select id="f-sender"><option value="">all</option>{options}</select>'
        "</label></form>"
    ]


def _page(parts: list[str], scripts: list[str], filters: bool = True) -> str:
    """The page around the sections; plotly.js is inlined only when a chart is drawn; the
    filters' script runs last, when there are `filters`."""
    tail = ""
    if scripts:
        import plotly.offline

        tail = (
            f'<script type="text/javascript">{plotly.offline.get_plotlyjs()}</script>'
            '<script type="text/javascript">' + "\n".join(scripts) + "</script>"
        )
    if filters:
        tail += f'<script type="text/javascript">{_FILTER_SCRIPT}</script>'
    return _PAGE.format(css=_CSS, body="\n".join(parts), scripts=tail)


def render_html(data: Data, data_dir_label: str, generated_at: dt.datetime) -> str:
    """The report page for `data` (what `_collect` returns): header, cards, charts, tables."""
    charts, scripts = _chart_sections(data)
    filters = _filters(data)
    parts = [
        *_header(data, data_dir_label, generated_at),
        *filters,
        *_cards(data),
        *charts,
        *_anomalies_section(data),
        *_operators_section(data),
        *_runway_section(data),
        *_attention_section(data),
        *_campaign_cost_section(data),
        *_senders_section(data),
        *_spend_section(data),
        *_rcs_section(data),
        *_fallback_section(data),
        *_completeness_section(data),
    ]
    return _page(parts, scripts, filters=bool(filters))


def write_report(
    data_dir: DataDir,
    output: Path | None = None,
    open_days: int = 2,
    today: dt.date | None = None,
) -> Path:
    """Write the report; default `D/report.html` for a local data dir, else `./report.html`;
    anomalies of the last `open_days` days up to `today` are open (`Settings.alert_open_days`;
    today: the UTC date now)."""
    from bsg_analytics.warehouse import connect

    if output is None:
        output = Path(data_dir.path(REPORT_FILE)) if data_dir.is_local else Path(REPORT_FILE)
    con = connect(data_dir)
    try:
        data = _collect(con, open_days, today)
    finally:
        con.close()
    text = render_html(data, data_dir.uri(), dt.datetime.now(dt.UTC))
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(output)
    return output


def run_report_command(
    settings: Settings, output: Path | None = None, *, data_dir: DataDir | None = None
) -> int:
    """`bsg-analytics report`: write the file and print where; one-line error and 1 on failure."""
    from bsg_analytics.storage import DataDir
    from bsg_analytics.warehouse import WarehouseError

    try:
        path = write_report(
            data_dir or DataDir(settings.data_dir), output, settings.alert_open_days
        )
    except (WarehouseError, OSError) as exc:
        print(f"bsg-analytics: report failed: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    print(f"report written to {path}")
    return 0
