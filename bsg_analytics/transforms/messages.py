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
"""

from __future__ import annotations

import contextlib
from datetime import tzinfo

import orjson
import polars as pl

from bsg_analytics.schemas.statuses import KNOWN_MESSAGE_STATUSES, SENT_STATUSES

from .common import (
    FREE,
    Check,
    PathError,
    QuarantineRow,
    TransformReport,
    conform,
    fetched_series,
    int_expr,
    money_expr,
    page_file,
    parse_times,
    phone_expr,
    reason_expr,
    scalar_text,
    spec_names,
    unknown_paths,
    unknown_status_counts,
)

S = pl.String()
MONEY_OBJ = pl.Struct({"value": S, "currency": S})
SUGGESTION = pl.Struct({"text": S, "phone": S, "url": S})
CARD = pl.Struct({"text": S, "media": pl.Struct({"url": S}), "suggestions": pl.List(SUGGESTION)})
RCS_OPTIONS = pl.Struct({"cards": pl.List(CARD)})
ALTERNATIVE_CHANNELS = pl.Struct({"sms": pl.Struct({"parts": S, "id": pl.List(S)})})
# Every field is read as text: polars gives a scalar's text and an object's JSON text, so no
# value can break the parse. Nested objects are decoded column-wise afterwards (cheaper than a
# nested schema in the reader, measured 3x), each against its own shape.
RECORD_FIELDS = (
    "id",
    "campaign_id",
    "reference_id",
    "type",
    "source",
    "text",
    "phone",
    "validity",
    "status",
    "amount",
    "amont",
    "sender",
    "created_at",
    "sent_at",
    "send_at",
    "delivered_at",
    "options",
    "country",
    "parts",
    "rcs_options",
    "alternative_channels",
)
RECORD = pl.Struct(dict.fromkeys(RECORD_FIELDS, S))
# `links` is read (as text) only to discount its free-form keys in `scan_unknown`.
PAGE_SCHEMA = {"data": pl.List(RECORD), "links": S}

# Every field the pages declare (for the unknown-field report). `options` is the sender's own.
_MONEY_SPEC = {"value": None, "currency": None}
RECORD_SPEC = {
    "id": None,
    "campaign_id": None,
    "reference_id": None,
    "type": None,
    "source": None,
    "text": None,
    "phone": None,
    "validity": None,
    "status": None,
    "amount": _MONEY_SPEC,
    "amont": _MONEY_SPEC,
    "sender": None,
    "created_at": None,
    "sent_at": None,
    "send_at": None,
    "delivered_at": None,
    "options": FREE,
    "country": None,
    "parts": None,
    "rcs_options": {
        "cards": {
            "text": None,
            "media": {"url": None},
            "suggestions": {"text": None, "phone": None, "url": None},
        }
    },
    "alternative_channels": {"sms": {"parts": None, "id": None}},
}
PAGE_SPEC = {
    "data": RECORD_SPEC,
    "meta": {"page": {"total": None, "offset": None, "limit": None}},
    "links": FREE,
}
_KNOWN_KEY_RE = '"(?:' + "|".join(sorted(spec_names(PAGE_SPEC))) + r')"\s*:'

CHUNK_BYTES = 64 * 1024 * 1024


def _record_paths(paths: set[str]) -> set[str]:
    """Page-level paths -> paths relative to a record (`data[].colour` -> `colour`)."""
    return {p.removeprefix("data[].") for p in paths}


def _coerce(value, dtype: pl.DataType, path: str):
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


def _decode_nested(text: pl.Series, dtype: pl.DataType, path: str, money: bool = False):
    """JSON texts of one nested field -> (decoded Series, reason Series: null when fine).

    Column-wise `json_decode` first; only when some value has the wrong shape does it decode
    value by value with orjson to find which ones, and say why.
    """
    n = len(text)
    no_reason = pl.Series(path, [None] * n, dtype=pl.String)
    if text.null_count() == n:
        return pl.Series(path, [None] * n, dtype=dtype), no_reason
    src = text
    if money:  # `amont` is documented as a list of cost objects: take the only one
        stripped = text.str.strip_chars()
        src = pl.select(
            pl.when(stripped.str.starts_with("["))
            .then(stripped.str.strip_prefix("[").str.strip_suffix("]").str.strip_chars())
            .otherwise(stripped)
        ).to_series()
    try:
        # Decode each distinct text once (an RCS campaign's cards repeat on all its messages,
        # prices repeat: measured 18x faster on `rcs_options`), then join back.
        frame = pl.DataFrame({"t": src})
        distinct = frame.unique("t").drop_nulls()
        decoded = distinct["t"].str.json_decode(dtype)
        # json_decode reads its input like NDJSON: blank texts vanish, so check the length
        if len(decoded) == distinct.height:
            lookup = distinct.with_columns(d=decoded)
            out = frame.join(lookup, on="t", how="left", maintain_order="left")["d"]
            return out.alias(path), no_reason
    except Exception:  # noqa: S110 - slow path below finds the culprits
        pass
    values, reasons = [], []
    for t in text.to_list():
        if t is None:
            values.append(None)
            reasons.append(None)
            continue
        try:
            v = orjson.loads(t)
        except orjson.JSONDecodeError:
            values.append(None)
            reasons.append(f"wrong type {path}: {t[:80]}")
            continue
        if money and isinstance(v, list):
            if len(v) != 1:
                values.append(None)
                reasons.append(f"wrong type {path}: expected one cost object, got {len(v)}")
                continue
            v = v[0]
        try:
            values.append(_coerce(v, dtype, path))
            reasons.append(None)
        except PathError as exc:
            values.append(None)
            reasons.append(str(exc))
    return pl.Series(path, values, dtype=dtype), pl.Series(path, reasons, dtype=pl.String)


class _Pages:
    """Parses message pages into one frame of records (`_page`, `_rec`, record fields)."""

    def __init__(self, pages: list, report: TransformReport, stream: str):
        self.pages = pages
        self.report = report
        self.stream = stream
        self.quarantine: list[QuarantineRow] = []
        self.decoded: dict[int, object] = {}
        self.unknown: set[str] = set()
        self.frames: list[pl.DataFrame] = []

    # page-level quarantine
    def page_bad(self, i: int, reason: str) -> None:
        page = self.pages[i]
        raw = page.body.decode("utf-8", errors="replace")
        self.quarantine.append(
            QuarantineRow(page.endpoint, reason, raw, None, page_file(page), page.fetched_at)
        )
        self.report.stream(self.stream).records_in += 1
        self.report.stream(self.stream).quarantined += 1
        self.report.pages_quarantined += 1

    def record_bad(self, i: int, j: int, reason: str, key: str | None, rec=None) -> None:
        page = self.pages[i]
        if rec is None:
            rec = self.decode(i)["data"][j]
        raw = orjson.dumps(rec).decode()
        self.quarantine.append(
            QuarantineRow(
                page.endpoint,
                reason,
                raw,
                key if key is not None else f"#{j}",
                page_file(page),
                page.fetched_at,
                record_index=j,
            )
        )

    def decode(self, i: int):
        if i not in self.decoded:
            self.decoded[i] = orjson.loads(self.pages[i].body)
        return self.decoded[i]

    def run(self, idx: list[int]) -> None:
        chunk: list[int] = []
        size = 0
        for i in idx:
            chunk.append(i)
            size += len(self.pages[i].body)
            if size >= CHUNK_BYTES:
                self.chunk(chunk)
                chunk, size = [], 0
        if chunk:
            self.chunk(chunk)

    def chunk(self, idx: list[int]) -> None:
        bodies = [self.pages[i].body.replace(b"\n", b" ").replace(b"\r", b" ") for i in idx]
        try:
            df = pl.read_ndjson(b"\n".join(bodies), schema=PAGE_SCHEMA)
            if df.height != len(idx):
                raise ValueError("line count")
        except Exception:
            if len(idx) == 1:
                self.fallback(idx[0])
            else:
                for i in idx:
                    self.chunk([i])
            return
        self.scan_unknown(idx, bodies, df)
        df = df.drop("links").with_columns(_page=pl.Series(idx, dtype=pl.Int32))
        nulls = df.filter(pl.col("data").is_null())["_page"].to_list()
        for i in nulls:
            self.page_bad(i, "unexpected page shape: no `data` list")
        if nulls:
            df = df.filter(pl.col("data").is_not_null())
        self.add(df)

    def add(self, df: pl.DataFrame, rec_map: list[int] | None = None) -> None:
        """df: one row per page with `data` (list of records) and `_page`."""
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

    def scan_unknown(self, idx: list[int], bodies: list[bytes], df: pl.DataFrame) -> None:
        """Unknown keys, by counting: per page, every key token (`"...":`) against the tokens
        that carry a declared name, both minus the keys inside the free-form parts (each
        record's `options`, the page's `links`), which polars already holds as JSON text.
        Only pages whose counts differ are decoded and walked, path by path. A declared name
        used at an undeclared place passes the count: the check is by name, the walk by path."""

        def keys(text: pl.Expr) -> pl.Expr:
            return text.str.count_matches('":', literal=True) + text.str.count_matches(
                '" :', literal=True
            )

        def known(text: pl.Expr) -> pl.Expr:
            return text.str.count_matches(_KNOWN_KEY_RE)

        def in_free(count) -> pl.Expr:
            options = pl.col("data").list.eval(count(pl.element().struct.field("options")))
            return options.list.sum().fill_null(0) + count(pl.col("links")).fill_null(0)

        s = pl.Series(bodies, dtype=pl.Binary).cast(pl.String, strict=False)
        counts = df.select(
            pl.lit(s).alias("s"), t_free=in_free(keys), k_free=in_free(known)
        ).select(
            t=keys(pl.col("s")) - pl.col("t_free"),
            k=known(pl.col("s")) - pl.col("k_free"),
        )
        suspects = (counts["t"] != counts["k"]).fill_null(True).arg_true().to_list()
        for pos in suspects:
            i = idx[pos]
            with contextlib.suppress(orjson.JSONDecodeError):
                self.unknown |= _record_paths(unknown_paths(self.decode(i), PAGE_SPEC))

    def fallback(self, i: int) -> None:
        """One page that polars cannot read: orjson, then record by record."""
        try:
            obj = self.decode(i)
        except orjson.JSONDecodeError as exc:
            self.page_bad(i, f"not JSON: {exc}")
            return
        if not isinstance(obj, dict) or not isinstance(obj.get("data"), list):
            self.page_bad(i, "unexpected page shape: no `data` list")
            return
        self.unknown |= _record_paths(unknown_paths(obj, PAGE_SPEC))
        counts = self.report.stream(self.stream)
        good: list[int] = []
        for j, rec in enumerate(obj["data"]):
            if rec is None or isinstance(rec, dict):
                good.append(j)
            else:
                counts.records_in += 1
                counts.quarantined += 1
                self.record_bad(i, j, "wrong type record: expected object", None, rec)
        if not good:
            return

        def parse(js: list[int]) -> pl.DataFrame:
            body = orjson.dumps({"data": [obj["data"][j] for j in js]})
            df = pl.read_ndjson(body, schema=PAGE_SCHEMA).drop("links")
            return df.with_columns(_page=pl.lit(i, pl.Int32))

        try:
            self.add(parse(good), good)
        except Exception:
            for j in good:
                try:
                    self.add(parse([j]), [j])
                except Exception as exc:
                    counts.records_in += 1
                    counts.quarantined += 1
                    msg = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
                    key = (obj["data"][j] or {}).get("id")
                    self.record_bad(
                        i, j, f"unparsable record: {msg}", None if key is None else str(key)
                    )


def transform_messages(pages: list, zone: tzinfo, report: TransformReport, stream="messages"):
    """Pages of one stream -> (messages, rcs_cards, rcs_suggestions, quarantine rows)."""
    p = _Pages(pages, report, stream)
    p.run(list(range(len(pages))))
    report.add_unknown_fields(stream, p.unknown)
    counts = report.stream(stream)
    if not p.frames:
        return (
            conform(pl.DataFrame(), "messages"),
            conform(pl.DataFrame(), "rcs_cards"),
            conform(pl.DataFrame(), "rcs_suggestions"),
            p.quarantine,
        )
    df = pl.concat(p.frames, how="vertical")
    counts.records_in += df.height
    df = df.with_columns(
        extracted_at=fetched_series(pages, list(range(len(pages)))).gather(df["_page"])
    )
    nested_reasons = []
    for col, dtype, money in (
        ("amount", MONEY_OBJ, True),
        ("amont", MONEY_OBJ, True),
        ("alternative_channels", ALTERNATIVE_CHANNELS, False),
        ("rcs_options", RCS_OPTIONS, False),
    ):
        decoded, why = _decode_nested(df[col], dtype, col, money=money)
        df = df.with_columns(decoded.alias(col))
        if why.null_count() != len(why):
            nested_reasons.append(why)
    df = df.with_columns(
        _nested_reason=pl.coalesce(nested_reasons) if nested_reasons else pl.lit(None, pl.String)
    )

    ac = pl.col("alternative_channels")
    sms = ac.struct.field("sms")
    ids_text = sms.struct.field("id")
    ids_int = ids_text.list.eval(pl.element().str.strip_chars(" ").cast(pl.Int64, strict=False))
    value_text = pl.coalesce(
        pl.col("amount").struct.field("value"), pl.col("amont").struct.field("value")
    )
    df = df.with_columns(
        message_id=int_expr("id"),
        campaign_id_=int_expr("campaign_id"),
        validity_hours=int_expr("validity", pl.Int32()),
        parts_=int_expr("parts", pl.Int32()),
        _fb_parts_text=sms.struct.field("parts"),
        _ids_bad=(
            ids_text.list.drop_nulls().list.len() != ids_int.list.drop_nulls().list.len()
        ).fill_null(False),
        _ids_text=ids_text.list.join(","),
        fallback_sms_ids=pl.when(ac.is_not_null()).then(
            pl.coalesce(ids_int, pl.lit([], pl.List(pl.Int64)))
        ),
        phone_=phone_expr("phone"),
        _value_text=value_text,
        amount_currency=pl.coalesce(
            pl.col("amount").struct.field("currency"), pl.col("amont").struct.field("currency")
        ),
        _sent_text=pl.coalesce(pl.col("sent_at"), pl.col("send_at")),
    ).with_columns(
        fallback_sms_parts=int_expr("_fb_parts_text", pl.Int32()),
        amount_value=money_expr("_value_text"),
    )
    df = parse_times(
        df,
        {"created_at_": "created_at", "sent_at_": "_sent_text", "delivered_at_": "delivered_at"},
        zone,
    )
    checks = [
        Check("id", "id", "message_id", required=True),
        Check("created_at", "created_at", "created_at_", required=True, kind="unparsable"),
        Check("campaign_id", "campaign_id", "campaign_id_"),
        Check("validity", "validity", "validity_hours"),
        Check("parts", "parts", "parts_"),
        Check("alternative_channels.sms.parts", "_fb_parts_text", "fallback_sms_parts"),
        Check("phone", "phone", "phone_", kind="unparsable"),
        Check("amount.value", "_value_text", "amount_value", kind="unparsable"),
        Check("sent_at", "_sent_text", "sent_at_", kind="unparsable"),
        Check("delivered_at", "delivered_at", "delivered_at_", kind="unparsable"),
    ]
    reason = reason_expr(checks)
    df = df.with_columns(
        pl.when(pl.col("_nested_reason").is_not_null())
        .then(pl.col("_nested_reason"))
        .when(pl.col("_ids_bad"))
        .then(pl.format("wrong type alternative_channels.sms.id: {}", pl.col("_ids_text")))
        .otherwise(reason)
        .alias("_reason")
    )
    bad = df.filter(pl.col("_reason").is_not_null()).select("_page", "_rec", "_reason", "id")
    for i, j, why, key in bad.iter_rows():
        p.record_bad(i, j, why, key)
    counts.quarantined += bad.height
    df = df.filter(pl.col("_reason").is_null())

    before = df.height
    if df["message_id"].n_unique() != before:
        df = (
            df.sort(["extracted_at", "_page", "_rec"])
            .unique(subset=["message_id"], keep="last", maintain_order=True)
            .sort(["_page", "_rec"])
        )
    counts.duplicates += before - df.height
    counts.rows_out += df.height

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
    df = df.with_columns(created_date=pl.col("created_at").dt.date())
    report.add_unknown_statuses(stream, unknown_status_counts(df["status"], KNOWN_MESSAGE_STATUSES))
    report.add_null_amounts(
        stream,
        df.filter(
            pl.col("amount_value").is_null() & pl.col("status").is_in(list(SENT_STATUSES))
        ).height,
    )
    messages = conform(df, "messages")
    cards, suggestions = _cards(df)
    return messages, cards, suggestions, p.quarantine


def _cards(df: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
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
    sugg = (
        cards.select("message_id", "card_index", "created_date", "extracted_at", "suggestions")
        .filter(pl.col("suggestions").list.len() > 0)
        .with_columns(
            suggestion_index=pl.int_ranges(0, pl.col("suggestions").list.len(), dtype=pl.Int32)
        )
        .explode(["suggestions", "suggestion_index"])
        .filter(pl.col("suggestions").is_not_null())
        .unnest("suggestions")
        .with_columns(
            kind=pl.when(pl.col("phone").is_not_null())
            .then(pl.lit("phone"))
            .when(pl.col("url").is_not_null())
            .then(pl.lit("url"))
            .otherwise(pl.lit("reply"))
        )
    )
    return conform(cards, "rcs_cards"), conform(sugg, "rcs_suggestions")
