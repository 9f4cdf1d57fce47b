"""The warehouse: a DuckDB file of views over the Parquet tables, and the metric views.

`build_warehouse(data_dir)` creates or refreshes `D/warehouse.duckdb` (for a non-local data
directory, a local file wherever `DataDir.warehouse_path` says: DuckDB reads the bucket through
the data directory's fsspec filesystem, registered on every connection this package opens;
see `attach_filesystem`). It holds:

* one **base view** per table of `bsg_analytics.schemas.tables.TABLES`, same name, reading
  `D/parquet/<table>/**/*.parquet` with `hive_partitioning=true, union_by_name=true` and the
  partition column typed as the schema declares (`hive_types`). The view projects exactly the
  declared columns, in declared order, with declared types (a column no file has yet reads as a
  typed NULL), followed by any extra columns the files carry.
* the **metric views**, one per file in `views/*.sql`, whose leading `--` comment is the
  metric's definition (exported as `METRIC_DOCS`). The status sets are not written in the SQL:
  placeholders such as `{{ sent_statuses }}` are filled at build time from `schemas.statuses`,
  so each fact lives in one place. The thresholds of the alert views (`{{ alert_z }}`,
  `{{ currency_rates }}`, ...) are placeholders too, filled from a `Settings`
  (`build_warehouse(data_dir, settings)`; the settings' defaults when none is given, which is
  what `METRIC_DOCS` shows). A view is created after the views it reads.

Settings
--------
`query(data_dir, sql, settings)` and `connect(..., settings=...)` answer with the given
settings' thresholds whatever the file was built with: the views that use a setting (and
those that read them) are created again, rendered with those settings, as temporary views of
that connection only (DuckDB looks a name up in the temporary schema first). `bsg-analytics
sql` and `alerts` pass the user's settings so.

Contract checks
---------------
`contract_checks()` are the checks that fail: a key that is not unique or null. A value that
nobody published (a channel, status, source, route or kind outside `ACCEPTED_VALUES`, which
takes every set from `schemas.statuses`) is data the API sent and is kept: it is reported
(`unpublished_values`, table, column, value and rows; `bsg-analytics status` shows it), never
a failure. `contract_report()` gives both.

Path resolution
---------------
DuckDB resolves relative paths in a view against the *process's* working directory, not the
file's folder, and `SET file_search_path` is a session setting that is not
stored in the file. So the views are written with **absolute** paths (`DataDir.table_uri`:
absolute local paths, or `s3://...` URLs) at build time. The file then works the same whether
it is opened from the data directory, from the project root, through `bsg-analytics sql`, or by
plain `duckdb` from anywhere. The cost is that a data directory that is moved or copied keeps
pointing at the old place until the next build; every build rewrites every path, and
`query()` rebuilds by itself when the data directory recorded in the file is not the one it
is asked about.

When it is built
----------------
A build reads the footer of every Parquet file (`DESCRIBE` over each table's glob), so it costs
more as the history grows. The file's meta records a fingerprint of what its views are made of
(the format, the data directory, every table's declared columns, every view template) and one
of the rendered settings views. The build after a sync does nothing when both are the same and
no table that was empty has files now (or a table that had files has lost its folder);
`build_warehouse(..., force=True)` builds anyway. A file the previous version wrote has no
fingerprint: it is built once, then kept.

Before any data exists a base view is a typed empty `SELECT ... WHERE false` (DuckDB refuses a
view over a glob that matches nothing); the next build, once files exist, replaces it with the
real one. `query()` also rebuilds when a table that was empty at the last build now has files.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import hashlib
import io
import json
import re
import sys
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bsg_analytics.schemas import statuses
from bsg_analytics.schemas.tables import TABLES, Table
from bsg_analytics.settings import Settings
from bsg_analytics.storage import PARQUET

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa
    from rich.console import Console

    from bsg_analytics.storage import DataDir

__all__ = [
    "ACCEPTED_VALUES",
    "BASE_VIEWS",
    "CAMPAIGN_RATE_TOLERANCE",
    "METRIC_DOCS",
    "METRIC_VIEWS",
    "ContractReport",
    "Rows",
    "UnpublishedValue",
    "WarehouseError",
    "attach_filesystem",
    "build_warehouse",
    "check_contract",
    "connect",
    "contract_checks",
    "contract_report",
    "duckdb_type",
    "ensure_warehouse",
    "metric_sql",
    "query",
    "query_rows",
    "run_sql_command",
    "unpublished_value_checks",
    "unpublished_values",
]

# campaign_delivery flags a campaign when the delivery rate from its own statistics and the
# one from its messages differ by more than this (absolute, as a share: 0.01 = 1 point).
CAMPAIGN_RATE_TOLERANCE = 0.01
# balance_runway: the days of spend its rate is the mean of ("trailing 7-day spend per day")
RUNWAY_WINDOW_DAYS = 7
# the settings the view templates may use, each as `{{ name }}` (see `placeholders`)
SETTING_PLACEHOLDERS: tuple[str, ...] = (
    "alert_baseline_days",
    "alert_min_messages",
    "alert_z",
    "alert_min_drop",
    "alert_spend_factor",
    "alert_runway_days",
    "currency_rates",
)

# helper views the metric views read; created before them
HELPER_VIEWS: tuple[str, ...] = ("message_facts",)
META_TABLE = "_bsg_warehouse"
FORMAT_VERSION = "1"
OUTPUT_FORMATS = ("table", "csv", "json")

BASE_VIEWS: tuple[str, ...] = tuple(TABLES)


class WarehouseError(RuntimeError):
    """A query or build failed; the message is one line, fit for the terminal."""


# --- SQL text -----------------------------------------------------------------------------


def _sql_list(values) -> str:
    return "(" + ", ".join(_literal(v) for v in sorted(values)) + ")"


def _literal(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def placeholders(settings: Settings | None = None) -> dict[str, str]:
    """The values the view templates may use, every one taken from its single source: the
    status sets from `schemas.statuses`, the thresholds from `settings` (their defaults when
    None: never the environment, so a build without settings is the same everywhere)."""
    return {
        "sent_statuses": _sql_list(statuses.SENT_STATUSES),
        "delivered_statuses": _sql_list(statuses.DELIVERED_STATUSES),
        "final_statuses": _sql_list(statuses.FINAL_MESSAGE_STATUSES),
        "fallback_channels": _sql_list(statuses.FALLBACK_CHANNELS),
        "campaign_rate_tolerance": repr(CAMPAIGN_RATE_TOLERANCE),
        "runway_window_days": str(RUNWAY_WINDOW_DAYS),
        **_setting_placeholders(settings),
    }


def _setting_value(settings: Settings | None, name: str) -> Any:
    if settings is not None:
        return getattr(settings, name)
    return Settings.model_fields[name].get_default(call_default_factory=True)


def _setting_placeholders(settings: Settings | None) -> dict[str, str]:
    """`SETTING_PLACEHOLDERS` as SQL: numbers as literals; `currency_rates` as the rows of a
    VALUES list (currency, rate DECIMAL(28,12)) whose first row is a typed null, so that an
    empty setting is still a list (the view drops that row)."""
    out = {}
    for name in SETTING_PLACEHOLDERS:
        value = _setting_value(settings, name)
        if name == "currency_rates":
            rows = ["(CAST(NULL AS VARCHAR), CAST(NULL AS DECIMAL(28, 12)))"]
            for code, rate in sorted(value.items()):
                rows.append(f"({_literal(code)}, CAST({_literal(rate)} AS DECIMAL(28, 12)))")
            out[name] = ", ".join(rows)
        elif isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"setting {name} is not a number: {value!r}")
        else:
            out[name] = repr(value)
    return out


_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")


def render(template: str, values: dict[str, str] | None = None) -> str:
    """Fill `{{ name }}` placeholders; an unknown name is an error, never left in the SQL."""
    values = placeholders() if values is None else values

    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise KeyError(f"unknown placeholder {{{{ {name} }}}} in a view template")
        return values[name]

    return _PLACEHOLDER.sub(sub, template)


_SQL_COMMENT = re.compile(r"--[^\n]*")


def _reads(template: str, names) -> set[str]:
    """The views among `names` that a template's SQL (comments aside) names."""
    sql = _SQL_COMMENT.sub("", template)
    return {n for n in names if re.search(rf"\b{re.escape(n)}\b", sql)}


@cache
def _templates() -> dict[str, str]:
    """Every view template by name, in the order to create them: the helpers first, then each
    view after the views it reads (else by name)."""
    folder = resources.files(__package__).joinpath("views")
    found = {
        entry.name.removesuffix(".sql"): entry.read_text(encoding="utf-8")
        for entry in folder.iterdir()
        if entry.name.endswith(".sql")
    }
    reads = {name: _reads(text, set(found) - {name}) for name, text in found.items()}
    order = [name for name in HELPER_VIEWS if name in found]
    while len(order) < len(found):
        ready = [n for n in sorted(found) if n not in order and reads[n] <= set(order)]
        if not ready:
            raise RuntimeError(f"view templates read each other in a cycle: {sorted(found)}")
        order.append(ready[0])
    return {name: found[name] for name in order}


def view_definitions() -> dict[str, str]:
    """Each view's definition in one line, in creation order: the first sentence of its
    template's header comment (what `bsg-analytics views` lists), placeholders as written."""
    out = {}
    for name, text in _templates().items():
        lines = []
        for line in text.splitlines():
            if not line.startswith("--"):
                break
            lines.append(line[2:].strip())
        words = " ".join(lines).removeprefix(f"{name}:").strip()
        end = re.search(r"\.(\s|$)", words)
        out[name] = words[: end.start() + 1] if end else words
    return out


@cache
def _setting_views() -> tuple[str, ...]:
    """The views whose SQL depends on the settings: a template that uses one of
    `SETTING_PLACEHOLDERS`, and every view that reads one of those (creation order)."""
    out: list[str] = []
    for name, text in _templates().items():
        uses = {m.group(1) for m in _PLACEHOLDER.finditer(_SQL_COMMENT.sub("", text))}
        if uses & set(SETTING_PLACEHOLDERS) or _reads(text, out):
            out.append(name)
    return tuple(out)


def metric_sql(name: str, settings: Settings | None = None) -> str:
    """The rendered SELECT of one metric (or helper) view, with the thresholds of `settings`
    (their defaults when None)."""
    return render(_templates()[name], placeholders(settings))


def _doc_of(template: str) -> str:
    lines = []
    for line in template.splitlines():
        stripped = line.strip()
        if not stripped.startswith("--"):
            break
        lines.append(stripped[2:].removeprefix(" "))
    return render("\n".join(lines)).strip()


METRIC_VIEWS: tuple[str, ...] = tuple(n for n in _templates() if n not in HELPER_VIEWS)
# every view's definition, from the comment at the top of its .sql (placeholders filled)
METRIC_DOCS: dict[str, str] = {name: _doc_of(text) for name, text in _templates().items()}


# --- types ---------------------------------------------------------------------------------


def duckdb_type(dtype) -> str:
    """The DuckDB type of a polars dtype, as DuckDB itself maps it (no table of our own)."""
    import duckdb
    import polars as pl

    frame = pl.DataFrame(schema={"c": dtype})  # noqa: F841 - read by DuckDB below
    rel = duckdb.sql("SELECT c FROM frame")
    assert rel is not None
    return str(rel.types[0])


@cache
def _declared_types(table_name: str) -> dict[str, str]:
    import duckdb

    frame = TABLES[table_name].empty()  # noqa: F841 - read by DuckDB below
    rel = duckdb.sql("SELECT * FROM frame")
    assert rel is not None
    return {col: str(typ) for col, typ in zip(rel.columns, rel.types, strict=True)}


def _definition_fingerprint(data_dir: DataDir) -> str:
    """What the file's views are made of, settings aside: the format, the data directory,
    every table's declared columns and every view template. The same fingerprint, the same
    tables still empty: nothing to rebuild (a sync then costs no work that grows with the
    history: a build reads every Parquet footer)."""
    parts = [FORMAT_VERSION, data_dir.uri()]
    parts += [f"{name}:{table.schema}" for name, table in TABLES.items()]
    parts += [f"{name}:{text}" for name, text in _templates().items()]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _settings_fingerprint(settings: Settings | None) -> str:
    """The rendered SQL of the views that use a setting."""
    text = "\n".join(metric_sql(name, settings) for name in _setting_views())
    return hashlib.sha256(text.encode()).hexdigest()


def _still_empty(data_dir: DataDir, meta: dict[str, str]) -> list[str]:
    """The tables empty at the last build that still have no Parquet file."""
    names = [n for n in meta.get("empty_tables", "").split(",") if n in TABLES]
    return [n for n in names if not _parquet_files(data_dir, TABLES[n])]


def _up_to_date(data_dir: DataDir, meta: dict[str, str]) -> bool:
    """Whether a file with this meta answers for the data directory as it is (settings aside)."""
    if meta.get("definition") != _definition_fingerprint(data_dir):
        return False
    empty = [n for n in meta.get("empty_tables", "").split(",") if n in TABLES]
    if _still_empty(data_dir, meta) != empty:
        return False
    # a table that had files and has no folder now (a rebuild swapped in a tree without it)
    return all(data_dir.fs.exists(data_dir.path(PARQUET, n)) for n in TABLES if n not in empty)


# --- connections ---------------------------------------------------------------------------


def attach_filesystem(con: duckdb.DuckDBPyConnection, data_dir: DataDir):
    """Let `con` read a remote data directory: register its fsspec filesystem with DuckDB.

    DuckDB's own httpfs extension is not needed (nor downloadable everywhere); the views keep
    their `s3://...` URLs and DuckDB hands those reads to the registered filesystem. The
    registration lives in the database instance, not in the file, so every connection that
    opens the warehouse needs it; it is done once per instance. Local data dirs: nothing.
    """
    if data_dir.is_local:
        return con
    protocols = data_dir.fs.protocol
    protocols = (protocols,) if isinstance(protocols, str) else tuple(protocols)
    if not set(protocols) & set(con.list_filesystems()):
        con.register_filesystem(data_dir.fs)
    return con


def _open(data_dir: DataDir, path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    import duckdb

    con = duckdb.connect(str(path), read_only=read_only)
    try:
        return attach_filesystem(con, data_dir)
    except BaseException:
        con.close()
        raise


# --- build ---------------------------------------------------------------------------------


def _parquet_files(data_dir: DataDir, table: Table) -> list[str]:
    return data_dir.table_files(table.name)


def _read_parquet_sql(data_dir: DataDir, table: Table) -> str:
    glob = data_dir.table_uri(table.name) + "/**/*.parquet"
    args = [_literal(glob), "hive_partitioning = true", "union_by_name = true"]
    if table.partition:
        ptype = _declared_types(table.name)[table.partition]
        args.append(f"hive_types = {{{_literal(table.partition)}: {_literal(ptype)}}}")
    return f"read_parquet({', '.join(args)})"


def _base_view_sql(con: duckdb.DuckDBPyConnection, data_dir: DataDir, table: Table) -> str:
    declared = _declared_types(table.name)
    if not _parquet_files(data_dir, table):
        cols = ",\n    ".join(
            f"CAST(NULL AS {typ}) AS {_ident(col)}" for col, typ in declared.items()
        )
        return f"-- no Parquet files yet: typed and empty\nSELECT\n    {cols}\nWHERE false"
    source = _read_parquet_sql(data_dir, table)
    found = {row[0]: row[1] for row in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
    parts: list[str] = []
    for col, typ in declared.items():
        if col not in found:
            parts.append(f"CAST(NULL AS {typ}) AS {_ident(col)}")
        elif found[col] != typ:
            parts.append(f"CAST({_ident(col)} AS {typ}) AS {_ident(col)}")
        else:
            parts.append(_ident(col))
    parts += [_ident(col) for col in found if col not in declared]
    return "SELECT\n    " + ",\n    ".join(parts) + f"\nFROM {source}"


def _interrupted(exc: BaseException) -> bool:
    """Whether DuckDB failed because of a Ctrl-C: it raises `RuntimeError('Query
    interrupted')` when the signal lands in its own code, and wraps the KeyboardInterrupt of
    Python code it called (a Parquet glob through fsspec) in an error of its own."""
    text = str(exc)
    return "KeyboardInterrupt" in text or text.strip() == "Query interrupted"


def build_warehouse(
    data_dir: DataDir, settings: Settings | None = None, *, force: bool = False
) -> Path:
    """Create or refresh the DuckDB file of views; returns its path. The alert thresholds are
    those of `settings` (their defaults when None).

    One transaction: a reader sees the old views or the new ones. Objects a user added to the
    file are kept; views an earlier build made and this one no longer defines are dropped.
    Nothing is done when the file was built from the same definitions and settings and no
    empty table has files now (`force`: build anyway; `ensure_warehouse` forces).
    """
    import duckdb

    path = data_dir.warehouse_path
    if not force and path.exists():
        meta = _peek_meta(path)
        if (
            meta is not None
            and _up_to_date(data_dir, meta)
            and meta.get("settings") == _settings_fingerprint(settings)
        ):
            return path
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = _open(data_dir, path, read_only=False)
    except duckdb.Error as exc:
        raise WarehouseError(f"cannot open {path} for writing: {_one_line(exc)}") from None
    try:
        empty = []
        con.execute("BEGIN")
        con.execute(
            f"CREATE TABLE IF NOT EXISTS {META_TABLE} (key VARCHAR PRIMARY KEY, value VARCHAR)"
        )
        previous = _read_meta(con).get("views", "")
        for table in TABLES.values():
            if not _parquet_files(data_dir, table):
                empty.append(table.name)
            body = _base_view_sql(con, data_dir, table)
            con.execute(f"CREATE OR REPLACE VIEW {_ident(table.name)} AS\n{body}")
        for name in _templates():
            sql = metric_sql(name, settings)
            con.execute(f"CREATE OR REPLACE VIEW {_ident(name)} AS\n{sql}")
        views = [*TABLES, *_templates()]
        for stale in set(filter(None, previous.split(","))) - set(views):
            con.execute(f"DROP VIEW IF EXISTS {_ident(stale)}")
        meta = {
            "format_version": FORMAT_VERSION,
            "data_dir": data_dir.uri(),
            "built_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "views": ",".join(views),
            "empty_tables": ",".join(empty),
            "definition": _definition_fingerprint(data_dir),
            "settings": _settings_fingerprint(settings),
        }
        con.execute(f"DELETE FROM {META_TABLE}")
        con.executemany(f"INSERT INTO {META_TABLE} VALUES (?, ?)", list(meta.items()))
        con.execute("COMMIT")
    except (duckdb.Error, RuntimeError) as exc:
        con.execute("ROLLBACK")
        if _interrupted(exc):
            raise KeyboardInterrupt from None
        raise WarehouseError(f"building {path} failed: {_one_line(exc)}") from None
    finally:
        con.close()
    return path


def _read_meta(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    try:
        return dict(con.execute(f"SELECT key, value FROM {META_TABLE}").fetchall())
    except Exception:
        return {}


def _peek_meta(path: Path) -> dict[str, str] | None:
    """The meta of the file at `path`, read-only; None when it cannot be opened (held by a
    writer)."""
    import duckdb

    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error:
        return None
    try:
        return _read_meta(con)
    finally:
        con.close()


def _needs_build(data_dir: DataDir) -> bool:
    path = data_dir.warehouse_path
    if not path.exists():
        return True
    meta = _peek_meta(path)
    if meta is None:
        return False  # held by a writer: use it as it is, the query will say if it cannot
    return not _up_to_date(data_dir, meta)


def ensure_warehouse(data_dir: DataDir) -> Path:
    """Build the warehouse when it is missing or out of date with the data directory."""
    if _needs_build(data_dir):
        return build_warehouse(data_dir, force=True)
    return data_dir.warehouse_path


def connect(
    data_dir: DataDir, read_only: bool = True, settings: Settings | None = None
) -> duckdb.DuckDBPyConnection:
    """A connection to the warehouse (built first where needed); read-only by default. With
    `settings`, the views that use a setting answer with those (module doc, Settings): as
    temporary views, unless the file was built with the same."""
    import duckdb

    path = data_dir.warehouse_path
    con = None
    if read_only and path.exists():  # one open: the meta is read on the connection used
        try:
            con = _open(data_dir, path, read_only=True)
        except duckdb.Error:
            con = None  # held by a writer: the open below says so
        if con is not None and not _up_to_date(data_dir, meta := _read_meta(con)):
            con.close()
            con = None
    if con is None:
        path = ensure_warehouse(data_dir)
        try:
            con = _open(data_dir, path, read_only=read_only)
        except duckdb.Error as exc:
            raise WarehouseError(f"cannot open {path}: {_one_line(exc)}") from None
        meta = _read_meta(con)
    if settings is None or meta.get("settings") == _settings_fingerprint(settings):
        return con
    try:
        for name in _setting_views():
            sql = metric_sql(name, settings)
            con.execute(f"CREATE OR REPLACE TEMP VIEW {_ident(name)} AS\n{sql}")
    except duckdb.Error as exc:
        con.close()
        raise WarehouseError(f"cannot open {path}: {_one_line(exc)}") from None
    return con


# --- contract checks -------------------------------------------------------------------------

# (table, column, published values): every value somebody published for a column. A value
# outside its set is data the API sent (the row is kept): it is reported, never a failure.
ACCEPTED_VALUES: tuple[tuple[str, str, frozenset[str]], ...] = (
    ("messages", "status", statuses.KNOWN_MESSAGE_STATUSES),
    ("messages", "channel", frozenset(statuses.CHANNELS)),
    ("messages", "source", frozenset(statuses.SOURCES)),
    ("messages", "fallback_channel", frozenset(statuses.FALLBACK_CHANNELS)),
    ("campaigns", "channel", frozenset(statuses.CHANNELS)),
    ("campaigns", "status", frozenset(statuses.CAMPAIGN_STATUSES)),
    ("campaign_statistics", "route", frozenset(statuses.ROUTES)),
    ("campaign_statistics", "status", statuses.KNOWN_MESSAGE_STATUSES),
    ("rcs_suggestions", "kind", frozenset(statuses.SUGGESTION_KINDS)),
    ("legacy_sms", "status", frozenset(statuses.LEGACY_SMS_STATUSES)),
    ("legacy_viber", "status", frozenset(statuses.LEGACY_VIBER_STATUSES)),
)


@dataclass(frozen=True)
class UnpublishedValue:
    """A value of `table.column` that nobody published, and how many rows (all kept) hold it."""

    table: str
    column: str
    value: str
    rows: int

    def describe(self) -> str:
        """One line for a person: what it is, and that the rows were kept (the value as a
        Python literal, so no control character reaches the terminal; cut at 80)."""
        value = self.value if len(self.value) <= 80 else self.value[:79] + "…"
        return (
            f"{self.table}.{self.column} = {value!r}: {self.rows} row"
            f"{'s' if self.rows != 1 else ''} kept (a value the provider does not publish)"
        )


@dataclass(frozen=True)
class ContractReport:
    """`failures`: {check: rows breaking it} for the failing key checks (a real breach);
    `unpublished`: the values nobody published, by table, column and value (a report)."""

    failures: dict[str, int]
    unpublished: list[UnpublishedValue]

    @property
    def ok(self) -> bool:
        return not self.failures


def contract_checks() -> dict[str, str]:
    """The failing checks, dbt/jaffle-style, as SQL over the views: each query returns the
    rows that break the contract (a key that is not unique, or null), so empty is a pass."""
    checks: dict[str, str] = {}
    for table in TABLES.values():
        if not table.key:
            continue
        key = ", ".join(_ident(c) for c in table.key)
        checks[f"unique_{table.name}_key"] = (
            f"SELECT {key}, count(*) AS n FROM {_ident(table.name)} "
            f"GROUP BY {key} HAVING count(*) > 1"
        )
        nulls = " OR ".join(f"{_ident(c)} IS NULL" for c in table.key)
        checks[f"not_null_{table.name}_key"] = f"SELECT * FROM {_ident(table.name)} WHERE {nulls}"
    return checks


def unpublished_value_checks() -> dict[tuple[str, str], str]:
    """{(table, column): SQL giving (value, n) for every value of the column that is not in
    `ACCEPTED_VALUES`}; null is no value and is not reported."""
    return {
        (table, column): (
            f"SELECT CAST({_ident(column)} AS VARCHAR) AS value, count(*) AS n "
            f"FROM {_ident(table)} WHERE {_ident(column)} NOT IN {_sql_list(allowed)} "
            f"GROUP BY {_ident(column)} ORDER BY n DESC, value"
        )
        for table, column, allowed in ACCEPTED_VALUES
    }


def _base_views_in_memory(data_dir: DataDir) -> duckdb.DuckDBPyConnection:
    """An in-memory connection with the base views (as the warehouse defines them) as
    temporary views: reads the Parquet files, writes nothing."""
    import duckdb

    con = attach_filesystem(duckdb.connect(":memory:"), data_dir)
    try:
        for table in TABLES.values():
            body = _base_view_sql(con, data_dir, table)
            con.execute(f"CREATE TEMP VIEW {_ident(table.name)} AS\n{body}")
    except BaseException:
        con.close()
        raise
    return con


def unpublished_values(data_dir: DataDir) -> list[UnpublishedValue]:
    """Every value nobody published, with its rows, read from the Parquet files directly
    (no warehouse file is built or written: `bsg-analytics status` calls this)."""
    import duckdb

    try:
        con = _base_views_in_memory(data_dir)
    except (duckdb.Error, RuntimeError) as exc:
        if _interrupted(exc):
            raise KeyboardInterrupt from None
        raise WarehouseError(f"reading {data_dir.uri()} failed: {_one_line(exc)}") from None
    try:
        out = []
        for (table, column), sql in unpublished_value_checks().items():
            for value, n in con.execute(sql).fetchall():
                out.append(UnpublishedValue(table, column, value, int(n)))
        return out
    except duckdb.Error as exc:
        raise WarehouseError(_one_line(exc)) from None
    finally:
        con.close()


def check_contract(data_dir: DataDir) -> dict[str, int]:
    """Run every failing check; returns {check: rows breaking it} for the failing ones (a
    value nobody published is not among them: see `unpublished_values`, `contract_report`)."""
    failures = {}
    for name, sql in contract_checks().items():
        rows = query(data_dir, f"SELECT count(*) AS n FROM ({sql})").column("n")[0].as_py()
        if rows:
            failures[name] = rows
    return failures


def contract_report(data_dir: DataDir) -> ContractReport:
    """The failing checks and the report of unpublished values, together."""
    return ContractReport(check_contract(data_dir), unpublished_values(data_dir))


# --- query ---------------------------------------------------------------------------------


def query(
    data_dir: DataDir, sql: str, settings: Settings | None = None, params: list | None = None
) -> pa.Table:
    """Run `sql` on the warehouse (read-only) and return the result as an Arrow table; with
    `settings`, the alert views use their thresholds (`connect`); `params` fill `?`.

    Arrow keeps every type exact (decimals stay decimals); `polars.from_arrow(...)` or
    `.to_pylist()` take it from there. A failing query raises `WarehouseError`.
    """
    import duckdb
    import pyarrow as pa

    con = connect(data_dir, settings=settings)
    try:
        relation = con.sql(sql, params=params)
        if relation is None:  # a statement without a result set
            return pa.table({})
        return relation.to_arrow_table()
    except duckdb.Error as exc:
        raise WarehouseError(_one_line(exc)) from None
    finally:
        con.close()


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 500 else text[:497] + "..."


def _plain(value: Any) -> Any:
    """A JSON-ready value: decimals as strings (exact), times in ISO 8601."""
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).isoformat()  # DuckDB hands the session's zone
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, float) and value != value:  # NaN is not JSON
        return None
    return value


def _cell(value: Any) -> str:
    if value is None:
        return ""
    plain = _plain(value)
    if isinstance(plain, list | dict):
        return json.dumps(plain, ensure_ascii=False)
    return str(plain)


def display_cell(value: Any) -> str:
    """A value as a table shows it: `_cell`, with a float rounded for the eye (6 significant
    digits, no exponent below a million, whole with thousands separators above). csv and
    json keep every digit."""
    if isinstance(value, float) and value == value and abs(value) != float("inf"):
        if abs(value) >= 1e6:
            return f"{value:,.0f}"
        text = f"{value:.6g}"
        return text if "e" not in text or abs(value) < 1e-4 else f"{value:f}".rstrip("0")
    return _cell(value)


def json_rows(table: pa.Table) -> list[dict[str, Any]]:
    """A result's rows as JSON-ready dicts: decimals as strings (exact), times in ISO 8601
    (what `--format json` prints and a Prefect artifact takes)."""
    return [_plain(row) for row in table.to_pylist()]


@dataclass(frozen=True)
class Rows:
    """A result as plain Python values (what `sql` prints): column names, whether each is a
    number (right-aligned), and the rows. Made without pyarrow (`query_rows`), or from an Arrow
    table (`from_arrow`)."""

    columns: list[str]
    numeric: list[bool]
    rows: list[tuple]
    more: bool = False  # rows beyond `rows` were left out (`query_rows(max_rows=...)`)

    @classmethod
    def from_arrow(cls, table: pa.Table) -> Rows:
        import pyarrow.types as pat

        numeric = [
            pat.is_integer(f.type) or pat.is_floating(f.type) or pat.is_decimal(f.type)
            for f in table.schema
        ]
        rows = [tuple(r.values()) for r in table.to_pylist()]
        return cls(list(table.column_names), numeric, rows)

    def dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, r, strict=True)) for r in self.rows]


_NUMERIC_TYPE = re.compile(
    r"(U?(TINY|SMALL|BIG|HUGE)?INT(EGER)?|U?HUGEINT|DOUBLE|FLOAT|REAL|DECIMAL\(.*\))$"
)


def query_rows(
    data_dir: DataDir,
    sql: str,
    settings: Settings | None = None,
    params: list | None = None,
    max_rows: int | None = None,
) -> Rows:
    """`query`, as plain Python values: DuckDB's own rows, no pyarrow (`sql` starts faster);
    at most `max_rows` of them (`Rows.more` says whether there were more)."""
    import duckdb

    con = connect(data_dir, settings=settings)
    try:
        relation = con.sql(sql, params=params)
        if relation is None:  # a statement without a result set
            return Rows([], [], [])
        numeric = [bool(_NUMERIC_TYPE.match(str(t).upper())) for t in relation.types]
        if max_rows is None:
            return Rows(list(relation.columns), numeric, relation.fetchall())
        rows = relation.limit(max_rows + 1).fetchall()  # the limit is pushed into the plan
        return Rows(list(relation.columns), numeric, rows[:max_rows], len(rows) > max_rows)
    except duckdb.Error as exc:
        raise WarehouseError(_one_line(exc)) from None
    finally:
        con.close()


def _as_rows(result: pa.Table | Rows) -> Rows:
    return result if isinstance(result, Rows) else Rows.from_arrow(result)


def format_result(result: pa.Table | Rows, fmt: str) -> str:
    """Render a result as `csv` or `json` (a list of records)."""
    table = _as_rows(result)
    if fmt == "json":
        rows = [_plain(r) for r in table.dicts()]
        return json.dumps(rows, ensure_ascii=False, indent=None) + "\n"
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(table.columns)
        for row in table.rows:
            writer.writerow([_cell(v) for v in row])
        return out.getvalue()
    raise ValueError(f"unknown format {fmt!r}")


def print_table(
    result: pa.Table | Rows, title: str | None = None, console: Console | None = None
) -> None:
    """Print a result as a rich table (everything from the data escaped), long cells wrapped;
    one too wide for the terminal even so is folded into one block per record, column names
    down the left (as ``duckdb -line`` does), so no value is cut to "…"."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table as RichTable

    table = _as_rows(result)
    console = console or Console()
    out = RichTable(show_lines=False, title=title)
    for name, numeric in zip(table.columns, table.numeric, strict=True):
        out.add_column(escape(name), justify="right" if numeric else "left", overflow="fold")
    cells = [[escape(display_cell(v)) for v in row] for row in table.rows]
    for row in cells:
        out.add_row(*row)
    # the narrowest the table can be with every cell wrapped at its words (a measure is
    # capped at the options' width: lift the cap); narrower, rich would cut cells to "…"
    least = console.measure(out, options=console.options.update(max_width=1_000_000)).minimum
    if table.rows and least > console.width:
        if title:
            console.print(title, style="italic")
        for i, row in enumerate(cells, 1):
            block = RichTable.grid(padding=(0, 2))
            block.add_column(style="bold", no_wrap=True)
            block.add_column(overflow="fold")
            for name, value in zip(table.columns, row, strict=True):
                block.add_row(escape(name), value)
            console.rule(f"record {i}", align="left", style="dim")
            console.print(block)
    else:
        console.print(out)
    n = len(table.rows)
    more = "; more were left out (--max-rows N shows N, 0 all)" if table.more else ""
    console.print(f"{n:,} row{'s' if n != 1 else ''}{more}", style="dim")


# rows `sql` prints as a table unless told (--max-rows); csv and json print all unless told
TABLE_MAX_ROWS = 100


def run_sql_command(
    settings: Settings,
    query_text: str,
    fmt: str = "table",
    *,
    data_dir: DataDir | None = None,
    max_rows: int | None = None,
) -> int:
    """`bsg-analytics sql`: print the result (at most `max_rows` rows: None is the format's
    default, 0 all); a failure is one line on stderr and exit 1."""
    from bsg_analytics.storage import DataDir

    fmt = (fmt or "table").lower()
    if fmt not in OUTPUT_FORMATS:
        print(
            f"bsg-analytics: --format must be one of {', '.join(OUTPUT_FORMATS)}, got {fmt!r}",
            file=sys.stderr,
        )
        return 2
    if max_rows is not None and max_rows < 0:
        print(f"bsg-analytics: --max-rows must be 0 (all) or more, got {max_rows}", file=sys.stderr)
        return 2
    limit = (TABLE_MAX_ROWS if fmt == "table" else None) if max_rows is None else max_rows or None
    try:
        result = query_rows(
            data_dir or DataDir(settings.data_dir), query_text, settings, max_rows=limit
        )
    except WarehouseError as exc:
        print(f"bsg-analytics: {exc}", file=sys.stderr)
        return 1
    if fmt == "table":
        print_table(result)
    else:
        sys.stdout.write(format_result(result, fmt))
        sys.stdout.flush()
    return 0


def reconcile(data_dir: DataDir) -> dict[str, Any]:
    """Campaigns whose own statistics disagree with their messages (`campaign_delivery`),
    as JSON-ready rows (decimals as strings, times in ISO 8601: a Prefect artifact takes them)."""
    rows = query(data_dir, "select * from campaign_delivery").to_pylist()
    disagreements = [_plain(r) for r in rows if r.get("disagrees")]
    return {"campaigns": len(rows), "disagreements": disagreements}
