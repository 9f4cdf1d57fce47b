"""Phone numbers and message texts, as a team may or may not keep them (`BSG_PII`).

- ``keep`` (the default): pages land as the API sent them;
- ``hash``: every phone becomes a keyed pseudonym (HMAC-SHA256 with ``BSG_PII_KEY``, written
  as "0" and 17 digits: the same phone gives the same pseudonym, in every sync and table, and
  no real E.164 number starts with 0), every message text is dropped;
- ``drop``: phones and texts are both dropped (null).

It is applied as a page lands (`RawStore(scrub=...)`), to the streams whose pages hold them
(`Stream.personal`), so neither `D/raw/`, nor the tables and the quarantine made from it,
nor a rebuild hold what is not kept. What is scrubbed, per record (the page's own object and
each item of its `RECORD_LISTS`): `PHONE_KEYS`, `TEXT_KEYS`, and the text of an RCS message
(`rcs_options.text`); cards and suggestions are the sender's content and are kept.
Pages landed before the setting changed keep what they hold (module doc of README: PII).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson

MODES = ("keep", "hash", "drop")
PHONE_KEYS = ("phone", "msisdn")
TEXT_KEYS = ("text", "body", "message")
# the lists of records a page holds: One API pages, the export, legacy getStatus, and the SMS a
# legacy Viber message fell back to
RECORD_LISTS = ("data", "result", "alt_route_messages")
PSEUDONYM_DIGITS = 17


@dataclass(frozen=True)
class PiiPolicy:
    mode: str = "keep"
    key: bytes = b""

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"BSG_PII must be one of {', '.join(MODES)}, not {self.mode!r}")
        if self.mode == "hash" and not self.key:
            raise ValueError("BSG_PII=hash needs a key: set BSG_PII_KEY")

    def pseudonym(self, phone: Any) -> str:
        """The phone's keyed pseudonym: "0" and 17 digits (spaces and a leading + ignored)."""
        text = str(phone).replace(" ", "").removeprefix("+")
        digest = hmac.new(self.key, text.encode(), hashlib.sha256).digest()
        return "0" + str(int.from_bytes(digest[:8], "big") % 10**PSEUDONYM_DIGITS).zfill(
            PSEUDONYM_DIGITS
        )

    def _record(self, rec: dict[str, Any]) -> None:
        for key in PHONE_KEYS:
            value = rec.get(key)
            if value is not None and not isinstance(value, dict | list):
                rec[key] = self.pseudonym(value) if self.mode == "hash" else None
        for key in TEXT_KEYS:
            if key in rec:
                rec[key] = None
        rcs = rec.get("rcs_options")
        if isinstance(rcs, dict) and "text" in rcs:
            rcs["text"] = None

    def scrub(self, body: bytes) -> bytes:
        """`body` with its phones and texts as the mode says (a body that is no JSON object is
        landed as it is: only parseable answers are landed)."""
        if self.mode == "keep":
            return body
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            return body
        if not isinstance(data, dict):
            return body
        self._record(data)
        for name in RECORD_LISTS:
            items = data.get(name)
            if isinstance(items, list):
                for item in items:
                    if isinstance(item, dict):
                        self._record(item)
        return orjson.dumps(data)

    def scrubber(self, streams: Iterable[str]) -> Callable[[str, bytes], bytes] | None:
        """What `RawStore(scrub=...)` takes for the pages of `streams`; None keeps all."""
        if self.mode == "keep":
            return None
        personal = frozenset(streams)

        def scrub(stream: str, body: bytes) -> bytes:
            return self.scrub(body) if stream in personal else body

        return scrub
