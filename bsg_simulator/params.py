"""The One API's list parameters, checked as the API checks them: paging integers, `sort` /
`way`, and the `filter[from]` / `filter[to]` window (local time, at most 3 months, not after
now). A bad value raises the API's 422 (`ApiError`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .common import Query, invalid
from .timezone import TimeZone, minus_months


def int_param(
    q: Query, name: str, default: int | None, lo: int | None = None, hi: int | None = None
) -> int | None:
    """The integer parameter `name` (or `default` when absent or empty), within [lo, hi]."""
    raw = q.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid(name, f"The {name} must be an integer.") from None
    if lo is not None and value < lo:
        raise invalid(name, f"The {name} must be at least {lo}.")
    if hi is not None and value > hi:
        raise invalid(name, f"The {name} may not be greater than {hi}.")
    return value


def paging(q: Query, min_limit: int = 15) -> tuple[int, int]:
    """`page[limit]` (min_limit..500, default 50: messages 15.., the campaign list 30..) and
    `page[offset]` (>= 0, default 0)."""
    limit = int_param(q, "page[limit]", 50, min_limit, 500)
    offset = int_param(q, "page[offset]", 0, 0)
    assert limit is not None and offset is not None  # they have defaults
    return limit, offset


def sort_way(q: Query, allowed: Sequence[str]) -> tuple[str, str]:
    """`sort` (one of `allowed`, default id) and `way` (asc/desc); either spelling's case."""
    sort = q.get("sort") or q.get("Sort") or "id"
    way = (q.get("way") or q.get("Way") or "asc").lower()
    if sort not in allowed:
        raise invalid("sort", f"The selected sort is invalid; one of {', '.join(allowed)}.")
    if way not in ("asc", "desc"):
        raise invalid("way", "The selected way is invalid; asc or desc.")
    return sort, way


def _bound(q: Query, name: str, label: str, now: int, tz: TimeZone) -> tuple[int, Any] | None:
    """(epoch seconds, local time) of one end of a window when given; the API's answers to one
    that is malformed or after now."""
    text = q.get(name)
    if not text:
        return None
    try:
        epoch, local = tz.parse(text)
    except ValueError:
        raise invalid(name, f"The {label} does not match the format Y-m-d H:i:s.") from None
    if epoch > now:
        raise invalid(name, f"The {label} must be a date before or equal to now.")
    return epoch, local


def window(
    q: Query, now: int, tz: TimeZone, name_from: str = "filter[from]", name_to: str = "filter[to]"
) -> tuple[int, int]:
    """(from, to) epoch seconds, both inclusive: `to` defaults to now, `from` to 3 months
    before `to` (in the account's zone)."""
    to_e, to_local = _bound(q, name_to, "filter[to]", now, tz) or (now, tz.local(now))
    limit_local = minus_months(to_local, 3)
    given = _bound(q, name_from, "filter[from]", now, tz)
    if given is None:
        return int(limit_local.replace(tzinfo=tz.zone).timestamp()), to_e
    from_e, from_local = given
    if from_e > to_e:
        raise invalid(name_from, "The filter[from] must be a date before filter[to].")
    if from_local < limit_local:
        raise invalid(name_from, "The period may not be longer than 3 months.")
    return from_e, to_e
