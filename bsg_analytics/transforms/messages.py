"""`GET /api/messages` pages -> `messages`, `rcs_cards`, `rcs_suggestions` (the hot path).

How it stays fast: no Python per record. Page bodies are joined into NDJSON (one page per line;
raw newlines can only be whitespace between JSON tokens, so they become spaces) and polars
parses them once with an explicit schema that declares every variant field. Scalars are read
as String (polars gives any JSON scalar's text, and an object's JSON text), so a wrong type
never breaks the parse: it fails a vectorised cast later and the record goes to quarantine.
Only when a chunk does not parse at all (a page that is not JSON, a nested object of the
wrong shape) do we fall back to one page at a time, and for a failing page to orjson and
record-by-record checks. A record's original JSON is re-read from its page only for the
records that end up in quarantine.

What a record becomes (the provider's `MessageApiSchema` and the pages' variants):

- `type` -> `channel` (sms, viber, rcs, whatsapp, hlr), `source`, `status` and every other
  scalar are kept as sent; a value nobody published is data (the warehouse's contract report
  names it), never a reason for quarantine. `phone` (an integer, or digits in a string) ->
  digits; `amount.value` (2 or 7 decimals) -> `Decimal(18, 7)` exactly.
- `alternative_channels` (`null`, `{sms: {parts, id}}` or `{viber: {parts, id}}`; `[]` read as
  `null`, as the campaign detail sends it) -> `fallback_channel`, `fallback_parts`,
  `fallback_ids` (`[]` when the object lists no ids); `fallback_sms_parts`/`fallback_sms_ids`
  keep their meaning for an SMS fallback and are null for a Viber one. When both keys are
  present the first of `FALLBACK_CHANNELS` (sms) is the fallback.
- `rcs_options`: `{cards: [...]}` -> `rcs_cards` (with `title`) and `rcs_suggestions` (`kind`:
  the suggestion's `type`, or for the pages' typeless ones link when it has a `url`, call when
  a `phone`, else reply; `postback_data`); `{text}`: the message's `text` when the record has
  none of its own.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import tzinfo
from typing import TYPE_CHECKING

import orjson
import polars as pl
from polars.expr.whenthen import ChainedThen, Then

from bsg_analytics.schemas.statuses import (
    FALLBACK_CHANNELS,
    KNOWN_MESSAGE_STATUSES,
    SENT_STATUSES,
    SUGGESTION_KINDS,
)

from .common import (
    FREE,
    JSON,
    Check,
    PathError,
    QuarantineRow,
    Spec,
    TransformReport,
    body_text,
    conform,
    fetched_series,
    int_expr,
    money_expr,
    parse_times,
    phone_expr,
    quarantine_row,
    reason_expr,
    scalar_text,
    spec_names,
    unknown_paths,
    unknown_status_counts,
)
from .merge import latest

if TYPE_CHECKING:
    from polars._typing import PolarsDataType

    from bsg_analytics.raw import RawPage

S = pl.String()
MONEY_OBJ = pl.Struct({"value": S, "currency": S})
# a suggestion as published (`{type: link, text, url, postback_data}`, `{type: call, text,
# phone, postback_data}`) or as the RCS page shows it (`{text, phone}`, `{text, url}`)
SUGGESTION = pl.Struct({"type": S, "text": S, "phone": S, "url": S, "postback_data": S})
CARD = pl.Struct(
    {"title": S, "text": S, "media": pl.Struct({"url": S}), "suggestions": pl.List(SUGGESTION)}
)
RCS_OPTIONS = pl.Struct({"cards": pl.List(CARD), "text": S})  # `{cards}` or `{text}`
FALLBACK = pl.Struct({"parts": S, "id": pl.List(S)})
ALTERNATIVE_CHANNELS = pl.Struct(dict.fromkeys(FALLBACK_CHANNELS, FALLBACK))
# object fields for which `[]` means "none" (how the API writes an empty object elsewhere)
EMPTY_LIST_IS_NULL = frozenset({"alternative_channels"})
LINK, CALL, REPLY = SUGGESTION_KINDS

# A message record: every field the pages declare (the one list; the reader's schema and the
# unknown-field spec below are derived from it). None: a scalar. FREE: the sender's own
# `options`, any JSON. A polars type: the shape of a nested object. Every field is read as
# text: polars gives a scalar's text and an object's JSON text, so no value can break the
# parse. Nested objects are decoded column-wise afterwards (cheaper than a nested schema in the
# reader, measured 3x), each against its shape, in this order: when one record holds several
# malformed objects, the first of them names the quarantine reason.
RECORD_DECLARATION: dict[str, pl.DataType | str | None] = {
    "id": None,
    "campaign_id": None,
    "reference_id": None,
    "type": None,
    "source": None,
    "text": None,
    "phone": None,
    "validity": None,
    "status": None,
    "amount": MONEY_OBJ,
    "amont": MONEY_OBJ,  # `amount` as some pages spell it; also as a list of one cost object
    "sender": None,
    "created_at": None,
    "sent_at": None,
    "send_at": None,
    "delivered_at": None,
    "options": FREE,
    "country": None,
    "parts": None,
    "alternative_channels": ALTERNATIVE_CHANNELS,
    "rcs_options": RCS_OPTIONS,
}
RECORD_FIELDS = tuple(RECORD_DECLARATION)
RECORD = pl.Struct(dict.fromkeys(RECORD_FIELDS, S))
NESTED: dict[str, pl.DataType] = {
    name: shape for name, shape in RECORD_DECLARATION.items() if isinstance(shape, pl.DataType)
}
# `links` is read (as text) only to discount its free-form keys in `_suspect_pages`.
PAGE_SCHEMA = {"data": pl.List(RECORD), "links": S}


def _spec_of(shape: PolarsDataType) -> Spec:
    """The unknown-field spec of a nested shape: an object's fields, a list's items."""
    if isinstance(shape, pl.Struct):
        return {f.name: _spec_of(f.dtype) for f in shape.fields}
    if isinstance(shape, pl.List):
        return _spec_of(shape.inner)
    return None


# Every field the pages declare (for the unknown-field report).
RECORD_SPEC: dict[str, Spec] = {
    name: _spec_of(shape) if isinstance(shape, pl.DataType) else shape
    for name, shape in RECORD_DECLARATION.items()
}
PAGE_SPEC: dict[str, Spec] = {
    "data": RECORD_SPEC,
    "meta": {"page": {"total": None, "offset": None, "limit": None}},
    "links": FREE,
}
_KNOWN_KEY_RE = '"(?:' + "|".join(sorted(spec_names(PAGE_SPEC))) + r')"\s*:'

CHUNK_BYTES = 64 * 1024 * 1024

# The rules of a record's scalar fields, in order: the first that fails names the reason.
MESSAGE_CHECKS = [
    Check("id", "id", "message_id", required=True),
    Check("created_at", "created_at", "created_at_", required=True, kind="unparsable"),
    Check("campaign_id", "campaign_id", "campaign_id_"),
    Check("validity", "validity", "validity_hours"),
    Check("parts", "parts", "parts_"),
    *(
        Check(f"alternative_channels.{ch}.parts", f"_fb_parts_text_{ch}", f"_fb_parts_{ch}")
        for ch in FALLBACK_CHANNELS
    ),
    Check("phone", "phone", "phone_", kind="unparsable"),
    Check("amount.value", "_value_text", "amount_value", kind="unparsable"),
    Check("sent_at", "_sent_text", "sent_at_", kind="unparsable"),
    Check("delivered_at", "delivered_at", "delivered_at_", kind="unparsable"),
]


def _record_paths(paths: set[str]) -> set[str]:
    """Page-level paths -> paths relative to a record (`data[].colour` -> `colour`)."""
    return {p.removeprefix("data[].") for p in paths}


# --- nested objects ------------------------------------------------------------------------


def _coerce(value: JSON, dtype: PolarsDataType, path: str) -> JSON:
    """A decoded JSON value -> the Python value of `dtype`, or PathError (wrong shape)."""
    if value is None:
        return None
    if isinstance(dtype, pl.Struct):
        if not isinstance(value, dict):
            raise PathError(f"wrong type {path}: expected object")
        return {
            f.name: _coerce(value.get(f.name), f.dtype, f"{path}.{f.name}") for f in dtype.fields
        }
    if isinstance(dtype, pl.List):
        if not isinstance(value, list):
            raise PathError(f"wrong type {path}: expected list")
        return [_coerce(v, dtype.inner, f"{path}[]") for v in value]
    return scalar_text(value)


def _decode_nested(
    text: pl.Series, dtype: pl.DataType, path: str, money: bool = False
) -> tuple[pl.Series, pl.Series]:
    """JSON texts of one nested field -> (decoded Series, reason Series: null when fine).

    Column-wise `json_decode` first; only when some value has the wrong shape does it decode
    value by value with orjson to find which ones, and say why.
    """
    n = len(text)
    no_reason = pl.Series(path, [None] * n, dtype=pl.String)
    if text.null_count() == n:
        return pl.Series(path, [None] * n, dtype=dtype), no_reason
    decoded = _decode_column(_unwrap_one_item_lists(text) if money else text, dtype)
    if decoded is not None:
        return decoded.alias(path), no_reason
    return _decode_value_by_value(text, dtype, path, money)


def _unwrap_one_item_lists(text: pl.Series) -> pl.Series:
    """`amont` is documented as a list of cost objects: `[{...}]` -> `{...}` (the value-by-
    value decode says why when a list does not hold exactly one)."""
    stripped = text.str.strip_chars()
    return pl.select(
        pl.when(stripped.str.starts_with("["))
        .then(stripped.str.strip_prefix("[").str.strip_suffix("]").str.strip_chars())
        .otherwise(stripped)
    ).to_series()


def _decode_column(src: pl.Series, dtype: pl.DataType) -> pl.Series | None:
    """Column-wise `json_decode`, or None when some text does not fit `dtype`.

    Decodes each distinct text once (an RCS campaign's cards repeat on all its messages,
    prices repeat: measured 18x faster on `rcs_options`), then joins back.
    """
    try:
        frame = pl.DataFrame({"t": src})
        distinct = frame.unique("t").drop_nulls()
        decoded = distinct["t"].str.json_decode(dtype)
        # json_decode reads its input like NDJSON: blank texts vanish, so check the length
        if len(decoded) == distinct.height:
            lookup = distinct.with_columns(d=decoded)
            return frame.join(lookup, on="t", how="left", maintain_order="left")["d"]
    except Exception:  # the value-by-value decode finds the culprits
        return None
    return None


def _decode_value_by_value(
    text: pl.Series, dtype: pl.DataType, path: str, money: bool
) -> tuple[pl.Series, pl.Series]:
    values: list[JSON] = []
    reasons: list[str | None] = []
    for t in text.to_list():
        value, reason = _decode_value(t, dtype, path, money)
        values.append(value)
        reasons.append(reason)
    return pl.Series(path, values, dtype=dtype), pl.Series(path, reasons, dtype=pl.String)


def _decode_value(
    text: str | None, dtype: pl.DataType, path: str, money: bool
) -> tuple[JSON, str | None]:
    """One JSON text -> (its value as `dtype`, None) or (None, why it does not fit)."""
    if text is None:
        return None, None
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None, f"wrong type {path}: {text[:80]}"
    if money and isinstance(value, list):
        if len(value) != 1:
            return None, f"wrong type {path}: expected one cost object, got {len(value)}"
        value = value[0]
    try:
        return _coerce(value, dtype, path), None
    except PathError as exc:
        return None, str(exc)


# --- reading pages -------------------------------------------------------------------------


class _PageQuarantine:
    """The pages of one stream, each decoded with orjson at most once (only when needed), and
    the quarantine rows cut from them. A whole page counts as one record in."""

    def __init__(self, pages: list[RawPage], report: TransformReport, stream: str):
        self.pages = pages
        self.report = report
        self.counts = report.stream(stream)
        self.rows: list[QuarantineRow] = []
        self.decoded: dict[int, JSON] = {}

    def decode(self, i: int) -> JSON:
        if i not in self.decoded:
            self.decoded[i] = orjson.loads(self.pages[i].body)
        return self.decoded[i]

    def page_bad(self, i: int, reason: str) -> None:
        self.rows.append(quarantine_row(self.pages[i], reason, body_text(self.pages[i])))
        self.counts.records_in += 1
        self.counts.quarantined += 1
        self.report.pages_quarantined += 1

    def record_bad(self, i: int, j: int, reason: str, key: str | None, rec: JSON = None) -> None:
        """Record `j` of page `i` (`rec`, or read back from the page); counted by the caller."""
        if rec is None:
            rec = self.decode(i)["data"][j]
        raw = orjson.dumps(rec).decode()
        self.rows.append(
            quarantine_row(self.pages[i], reason, raw, key if key is not None else f"#{j}", j)
        )


class _PageReader:
    """Reads pages into frames of records (`_page`, `_rec`, the record's fields as text), in
    page and record order: polars NDJSON by chunks of pages; one page at a time when a chunk
    fails; orjson and one record at a time when a page fails. Collects unknown field paths."""

    def __init__(self, quarantine: _PageQuarantine):
        self.quarantine = quarantine
        self.frames: list[pl.DataFrame] = []
        self.unknown: set[str] = set()

    def read(self) -> None:
        """Every page, in chunks of about CHUNK_BYTES."""
        chunk: list[int] = []
        size = 0
        for i, page in enumerate(self.quarantine.pages):
            chunk.append(i)
            size += len(page.body)
            if size >= CHUNK_BYTES:
                self._chunk(chunk)
                chunk, size = [], 0
        if chunk:
            self._chunk(chunk)

    def _chunk(self, idx: list[int]) -> None:
        pages = self.quarantine.pages
        bodies = [pages[i].body.replace(b"\n", b" ").replace(b"\r", b" ") for i in idx]
        try:
            df = pl.read_ndjson(b"\n".join(bodies), schema=PAGE_SCHEMA)
            if df.height != len(idx):
                raise ValueError("line count")
        except Exception:
            if len(idx) == 1:
                self._fallback(idx[0])
            else:
                for i in idx:
                    self._chunk([i])
            return
        self._scan_unknown(idx, bodies, df)
        df = df.drop("links").with_columns(_page=pl.Series(idx, dtype=pl.Int32))
        nulls = df.filter(pl.col("data").is_null())["_page"].to_list()
        for i in nulls:
            self.quarantine.page_bad(i, "unexpected page shape: no `data` list")
        if nulls:
            df = df.filter(pl.col("data").is_not_null())
        self._add(df)

    def _add(self, df: pl.DataFrame, rec_map: list[int] | None = None) -> None:
        """df: one row per page with `data` (list of records) and `_page`; `rec_map`: the
        position in the page of each record of `data`, when `data` holds only some of them."""
        n = df.select(pl.col("data").list.len().sum()).item() or 0
        if not n:
            return
        df = (
            df.with_columns(_rec=pl.int_ranges(0, pl.col("data").list.len(), dtype=pl.Int32))
            .explode(["data", "_rec"])
            .unnest("data")
        )
        if rec_map is not None:
            df = df.with_columns(_rec=pl.Series(rec_map, dtype=pl.Int32).gather(df["_rec"]))
        self.frames.append(df)

    def _scan_unknown(self, idx: list[int], bodies: list[bytes], df: pl.DataFrame) -> None:
        for pos in _suspect_pages(bodies, df):
            with contextlib.suppress(orjson.JSONDecodeError):
                page = self.quarantine.decode(idx[pos])
                self.unknown |= _record_paths(unknown_paths(page, PAGE_SPEC))

    def _fallback(self, i: int) -> None:
        """One page that polars cannot read: orjson, then record by record."""
        try:
            obj = self.quarantine.decode(i)
        except orjson.JSONDecodeError as exc:
            self.quarantine.page_bad(i, f"not JSON: {exc}")
            return
        if not isinstance(obj, dict) or not isinstance(obj.get("data"), list):
            self.quarantine.page_bad(i, "unexpected page shape: no `data` list")
            return
        self.unknown |= _record_paths(unknown_paths(obj, PAGE_SPEC))
        records = obj["data"]
        good = self._objects_only(i, records)
        if good:
            self._add_records(i, records, good)

    def _objects_only(self, i: int, records: list[JSON]) -> list[int]:
        """Positions of the records that are objects (or null); the others go to quarantine."""
        counts = self.quarantine.counts
        good: list[int] = []
        for j, rec in enumerate(records):
            if rec is None or isinstance(rec, dict):
                good.append(j)
            else:
                counts.records_in += 1
                counts.quarantined += 1
                self.quarantine.record_bad(i, j, "wrong type record: expected object", None, rec)
        return good

    def _add_records(self, i: int, records: list[JSON], good: list[int]) -> None:
        """Records `good` of page `i` through polars: together, or else one by one, a record
        that polars cannot read going to quarantine."""
        try:
            self._add(_records_frame(i, records, good), good)
            return
        except Exception:  # noqa: S110 - one by one below finds the culprits
            pass
        counts = self.quarantine.counts
        for j in good:
            try:
                self._add(_records_frame(i, records, [j]), [j])
            except Exception as exc:
                counts.records_in += 1
                counts.quarantined += 1
                msg = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
                key = (records[j] or {}).get("id")
                reason = f"unparsable record: {msg}"
                self.quarantine.record_bad(i, j, reason, None if key is None else str(key))


def _records_frame(i: int, records: list[JSON], js: list[int]) -> pl.DataFrame:
    """Records `js` of page `i` as one page row (`data`, `_page`) of the reader's schema."""
    body = orjson.dumps({"data": [records[j] for j in js]})
    df = pl.read_ndjson(body, schema=PAGE_SCHEMA).drop("links")
    return df.with_columns(_page=pl.lit(i, pl.Int32))


def _suspect_pages(bodies: list[bytes], df: pl.DataFrame) -> list[int]:
    """Positions of the pages that may hold unknown keys, by counting: per page, every key
    token (`"...":`) against the tokens that carry a declared name, both minus the keys inside
    the free-form parts (each record's `options`, the page's `links`), which polars already
    holds as JSON text. Only these pages are decoded and walked, path by path. A declared name
    used at an undeclared place passes the count: the check is by name, the walk by path."""

    def keys(text: pl.Expr) -> pl.Expr:
        return text.str.count_matches('":', literal=True) + text.str.count_matches(
            '" :', literal=True
        )

    def known(text: pl.Expr) -> pl.Expr:
        return text.str.count_matches(_KNOWN_KEY_RE)

    def in_free(count: Callable[[pl.Expr], pl.Expr]) -> pl.Expr:
        options = pl.col("data").list.eval(count(pl.element().struct.field("options")))
        return options.list.sum().fill_null(0) + count(pl.col("links")).fill_null(0)

    s = pl.Series(bodies, dtype=pl.Binary).cast(pl.String, strict=False)
    counts = df.select(pl.lit(s).alias("s"), t_free=in_free(keys), k_free=in_free(known)).select(
        t=keys(pl.col("s")) - pl.col("t_free"),
        k=known(pl.col("s")) - pl.col("k_free"),
    )
    suspects: list[int] = (counts["t"] != counts["k"]).fill_null(True).arg_true().to_list()
    return suspects


# --- records -> tables ---------------------------------------------------------------------


def transform_messages(
    pages: list[RawPage], zone: tzinfo, report: TransformReport, stream: str = "messages"
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, list[QuarantineRow]]:
    """Pages of one stream -> (messages, rcs_cards, rcs_suggestions, quarantine rows)."""
    quarantine = _PageQuarantine(pages, report, stream)
    reader = _PageReader(quarantine)
    reader.read()
    report.add_unknown_fields(stream, reader.unknown)
    counts = report.stream(stream)
    if not reader.frames:
        return (
            conform(pl.DataFrame(), "messages"),
            conform(pl.DataFrame(), "rcs_cards"),
            conform(pl.DataFrame(), "rcs_suggestions"),
            quarantine.rows,
        )
    df = pl.concat(reader.frames, how="vertical")
    counts.records_in += df.height
    df = df.with_columns(
        extracted_at=fetched_series(pages, list(range(len(pages)))).gather(df["_page"])
    )
    df = _typed_columns(_decode_nested_fields(df), zone)
    df = _quarantine_failing(df, quarantine)

    # One row per message: rows are in page and record order, i.e. in arrival order.
    before = df.height
    df = latest(df, "messages")
    counts.duplicates += before - df.height
    counts.rows_out += df.height

    df = _output_names(df)
    _report_statuses_and_amounts(df, report, stream)
    cards, suggestions = _cards(df)
    return conform(df, "messages"), cards, suggestions, quarantine.rows


def _decode_nested_fields(df: pl.DataFrame) -> pl.DataFrame:
    """Each nested field's JSON text -> its object; `_nested_reason`: the first that failed."""
    reasons = []
    for col, shape in NESTED.items():
        text = df[col]
        if col in EMPTY_LIST_IS_NULL and text.null_count() != len(text):
            text = pl.select(
                pl.when(text.str.strip_chars() != "[]").then(text).alias(col)
            ).to_series()
        decoded, why = _decode_nested(text, shape, col, money=shape == MONEY_OBJ)
        df = df.with_columns(decoded.alias(col))
        if why.null_count() != len(why):
            reasons.append(why)
    return df.with_columns(
        _nested_reason=pl.coalesce(reasons) if reasons else pl.lit(None, pl.String)
    )


def _typed_columns(df: pl.DataFrame, zone: tzinfo) -> pl.DataFrame:
    """Typed columns beside the text ones (`message_id`, `phone_`, `amount_value`, the
    fallback's channel, ids and parts, the UTC times, ...): `MESSAGE_CHECKS` compares the two."""
    value_text = pl.coalesce(
        pl.col("amount").struct.field("value"), pl.col("amont").struct.field("value")
    )
    df = (
        df.with_columns(
            *_fallback_text_columns(),
            message_id=int_expr("id"),
            campaign_id_=int_expr("campaign_id"),
            validity_hours=int_expr("validity", pl.Int32()),
            parts_=int_expr("parts", pl.Int32()),
            phone_=phone_expr("phone"),
            _value_text=value_text,
            amount_currency=pl.coalesce(
                pl.col("amount").struct.field("currency"), pl.col("amont").struct.field("currency")
            ),
            _sent_text=pl.coalesce(pl.col("sent_at"), pl.col("send_at")),
            # an RCS text message (`rcs_options: {text}`) keeps its text
            text=pl.coalesce(pl.col("text"), pl.col("rcs_options").struct.field("text")),
        )
        .with_columns(
            *(
                int_expr(f"_fb_parts_text_{ch}", pl.Int32()).alias(f"_fb_parts_{ch}")
                for ch in FALLBACK_CHANNELS
            ),
            amount_value=money_expr("_value_text"),
        )
        .with_columns(*_fallback_columns())
    )
    return parse_times(
        df,
        {"created_at_": "created_at", "sent_at_": "_sent_text", "delivered_at_": "delivered_at"},
        zone,
    )


def _fallback_text_columns() -> list[pl.Expr]:
    """Per fallback channel: its parts' text, its ids as integers, whether some id is not one
    (and their text, for the reason); and `fallback_channel`, the first channel present."""
    ac = pl.col("alternative_channels")
    exprs: list[pl.Expr] = []
    channel: Then | ChainedThen | None = None
    for ch in FALLBACK_CHANNELS:
        fb = ac.struct.field(ch)
        ids_text = fb.struct.field("id")
        ids_int = ids_text.list.eval(pl.element().str.strip_chars(" ").cast(pl.Int64, strict=False))
        exprs += [
            fb.struct.field("parts").alias(f"_fb_parts_text_{ch}"),
            ids_int.alias(f"_fb_ids_{ch}"),
            (ids_text.list.drop_nulls().list.len() != ids_int.list.drop_nulls().list.len())
            .fill_null(False)
            .alias(f"_ids_bad_{ch}"),
            ids_text.list.join(",").alias(f"_ids_text_{ch}"),
        ]
        present = fb.is_not_null()
        channel = (
            pl.when(present).then(pl.lit(ch))
            if channel is None
            else channel.when(present).then(pl.lit(ch))
        )
    assert channel is not None
    return [*exprs, channel.otherwise(None).alias("fallback_channel")]


def _fallback_columns() -> list[pl.Expr]:
    """The table's fallback columns from the per-channel ones: the fallback's parts and ids
    (`[]` when it lists none), and the SMS-only `fallback_sms_*` as before: ids for any
    `alternative_channels` object that is not a Viber fallback (`[]` when none)."""
    channel = pl.col("fallback_channel")
    no_ids = pl.lit([], pl.List(pl.Int64))
    parts: Then | ChainedThen | None = None
    ids: Then | ChainedThen | None = None
    for ch in FALLBACK_CHANNELS:
        is_ch = channel == ch
        parts = (pl.when if parts is None else parts.when)(is_ch).then(pl.col(f"_fb_parts_{ch}"))
        ids = (pl.when if ids is None else ids.when)(is_ch).then(
            pl.coalesce(pl.col(f"_fb_ids_{ch}"), no_ids)
        )
    assert parts is not None and ids is not None
    not_viber = channel.is_null() | (channel != "viber")
    return [
        parts.otherwise(None).alias("fallback_parts"),
        ids.otherwise(None).alias("fallback_ids"),
        pl.col("_fb_parts_sms").alias("fallback_sms_parts"),
        pl.when(pl.col("alternative_channels").is_not_null() & not_viber)
        .then(pl.coalesce(pl.col("_fb_ids_sms"), no_ids))
        .alias("fallback_sms_ids"),
    ]


def _quarantine_failing(df: pl.DataFrame, quarantine: _PageQuarantine) -> pl.DataFrame:
    """Records that fail (a nested object's shape, then the fallback's ids, then
    `MESSAGE_CHECKS`) go to quarantine with the first reason; the others are returned."""
    reason: Then | ChainedThen = pl.when(pl.col("_nested_reason").is_not_null()).then(
        pl.col("_nested_reason")
    )
    for ch in FALLBACK_CHANNELS:
        reason = reason.when(pl.col(f"_ids_bad_{ch}")).then(
            pl.format(f"wrong type alternative_channels.{ch}.id: {{}}", pl.col(f"_ids_text_{ch}"))
        )
    df = df.with_columns(reason.otherwise(reason_expr(MESSAGE_CHECKS)).alias("_reason"))
    bad = df.filter(pl.col("_reason").is_not_null()).select("_page", "_rec", "_reason", "id")
    for i, j, why, key in bad.iter_rows():
        quarantine.record_bad(i, j, why, key)
    quarantine.counts.quarantined += bad.height
    return df.filter(pl.col("_reason").is_null())


def _output_names(df: pl.DataFrame) -> pl.DataFrame:
    """The table's names: the text columns step aside for the typed ones."""
    df = df.rename(
        {
            "created_at": "created_at_text",
            "campaign_id": "campaign_id_text",
            "phone": "phone_text",
            "parts": "parts_text",
            "sent_at": "sent_at_text",
            "delivered_at": "delivered_at_text",
        }
    ).rename(
        {
            "created_at_": "created_at",
            "sent_at_": "sent_at",
            "delivered_at_": "delivered_at",
            "campaign_id_": "campaign_id",
            "phone_": "phone",
            "parts_": "parts",
            "type": "channel",
            "options": "options_json",
        },
        strict=False,
    )
    return df.with_columns(created_date=pl.col("created_at").dt.date())


def _report_statuses_and_amounts(df: pl.DataFrame, report: TransformReport, stream: str) -> None:
    """Statuses nobody documented, and sent messages without an amount (both kept as data)."""
    report.add_unknown_statuses(stream, unknown_status_counts(df["status"], KNOWN_MESSAGE_STATUSES))
    report.add_null_amounts(
        stream,
        df.filter(
            pl.col("amount_value").is_null() & pl.col("status").is_in(list(SENT_STATUSES))
        ).height,
    )


def _cards(df: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """RCS messages' cards -> (rcs_cards, rcs_suggestions)."""
    rcs = df.filter(pl.col("rcs_options").is_not_null()).select(
        "message_id",
        "created_date",
        "extracted_at",
        cards=pl.col("rcs_options").struct.field("cards"),
    )
    rcs = rcs.filter(pl.col("cards").list.len() > 0)
    if rcs.is_empty():
        return conform(pl.DataFrame(), "rcs_cards"), conform(pl.DataFrame(), "rcs_suggestions")
    cards = (
        rcs.with_columns(card_index=pl.int_ranges(0, pl.col("cards").list.len(), dtype=pl.Int32))
        .explode(["cards", "card_index"])
        .filter(pl.col("cards").is_not_null())
        .unnest("cards")
        .with_columns(media_url=pl.col("media").struct.field("url"))
    )
    return conform(cards, "rcs_cards"), conform(_suggestions(cards), "rcs_suggestions")


def _suggestions(cards: pl.DataFrame) -> pl.DataFrame:
    """Cards (one row each, `suggestions` a list) -> one row per suggestion, with its kind:
    the published `type`, else (the page's typeless ones) link with a url, call with a phone,
    else reply."""
    return (
        cards.select("message_id", "card_index", "created_date", "extracted_at", "suggestions")
        .filter(pl.col("suggestions").list.len() > 0)
        .with_columns(
            suggestion_index=pl.int_ranges(0, pl.col("suggestions").list.len(), dtype=pl.Int32)
        )
        .explode(["suggestions", "suggestion_index"])
        .filter(pl.col("suggestions").is_not_null())
        .unnest("suggestions")
        .with_columns(
            kind=pl.when(pl.col("type").is_not_null())
            .then(pl.col("type"))
            .when(pl.col("url").is_not_null())
            .then(pl.lit(LINK))
            .when(pl.col("phone").is_not_null())
            .then(pl.lit(CALL))
            .otherwise(pl.lit(REPLY))
        )
    )
