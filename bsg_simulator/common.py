"""Small pieces every part of the simulator's answers shares: the error answer (`ApiError`,
`invalid` for a 422), the reversible message id <-> `reference_id` codec and a stable string
hash (for quirk draws keyed by text)."""

from __future__ import annotations

import re
import zlib
from collections.abc import Mapping
from typing import Any

# Query parameters as the handlers get them (Starlette's QueryParams, or a dict in tests).
Query = Mapping[str, Any]

REF_RE = re.compile(r"^[A-Za-z0-9]{1,32}$")
REF_K = 0x9E3779B1
REF_MASK = (1 << 40) - 1
REF_KINV = pow(REF_K, -1, 1 << 40)


class ApiError(Exception):
    """An error answer: HTTP status and JSON body."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(status, body)
        self.status = status
        self.body = body


def invalid(field: str, msg: str) -> ApiError:
    """The One API's 422 answer for one bad query parameter."""
    return ApiError(422, {"message": msg, "errors": {field: [msg]}})


def reference_of(message_id: int) -> str:
    """The message's `reference_id`: `ext` + 13 digits, a bijection of the id."""
    return f"ext{(message_id * REF_K) & REF_MASK:013d}"


def message_id_of_reference(ref: str) -> int | None:
    """The message id a `reference_id` was made from; None if none could give it."""
    if not ref.startswith("ext") or not ref[3:].isdigit() or len(ref) != 16:
        return None
    mid = (int(ref[3:]) * REF_KINV) & REF_MASK
    return mid if reference_of(mid) == ref else None


def hash_key(text: str) -> int:
    """A stable non-negative 31-bit hash of `text` (CRC-32)."""
    return zlib.crc32(text.encode()) & 0x7FFFFFFF
