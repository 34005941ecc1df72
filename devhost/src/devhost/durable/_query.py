"""Query-string values read the way HttpApiHandler reads them: with .NET's ``TryParse``.

A value a ``TryParse`` refuses is treated as absent, never as an error (HttpApiHandler's
``TryGet*QueryParameterValue`` helpers), so each function returns None for it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

_INTEGER = re.compile(r"[+-]?\d+")


def parse_bool(value: str | None) -> bool | None:
    """``bool.TryParse``: "true"/"false" in any case, surrounding whitespace allowed."""
    if value is None:
        return None
    lowered = value.strip().lower()
    return {"true": True, "false": False}.get(lowered)


def parse_int(value: str | None) -> int | None:
    """``int.TryParse``: an optionally signed Int32, surrounding whitespace allowed."""
    if value is None or not _INTEGER.fullmatch(value.strip()):
        return None
    number = int(value.strip())
    return number if -(2**31) <= number < 2**31 else None


def parse_seconds(value: str | None) -> timedelta | None:
    """``double.TryParse`` then ``TimeSpan.FromSeconds`` (the createAndWait ``timeout`` and
    ``pollingInterval``)."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return timedelta(seconds=seconds) if math.isfinite(seconds) else None


def parse_enum(values: Iterable[str], names: dict[str, int]) -> frozenset[int] | None:
    """``TryGetIEnumerableQueryParameterValue<T>``: every value split on ``,``, each parsed with
    ``Enum.TryParse`` — names case-*sensitive*, any integer accepted (even one no member has);
    unparsable parts dropped. None (no filter at all) when nothing parsed."""
    parsed: set[int] = set()
    for value in values:
        for part in value.split(","):
            text = part.strip()
            if text in names:
                parsed.add(names[text])
            elif _INTEGER.fullmatch(text):
                parsed.add(int(text))
    return frozenset(parsed) or None


_DATE = r"(?P<y>\d{4})[-/](?P<mo>\d{1,2})[-/](?P<d>\d{1,2})"
_US_DATE = r"(?P<mo>\d{1,2})/(?P<d>\d{1,2})/(?P<y>\d{4})"
_TIME = (
    r"(?:[T ]\s*(?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2})(?:\.(?P<f>\d{1,7}))?)?"
    r"(?:\s*(?P<ampm>[AaPp][Mm]))?)?"
)
_ZONE = r"\s*(?P<z>Z|[+-]\d{2}(?::?\d{2})?)?"
_DATETIMES = [re.compile(rf"{date}{_TIME}{_ZONE}") for date in (_DATE, _US_DATE)]


def parse_datetime(value: str | None) -> datetime | None:
    """``DateTime.TryParse`` (invariant culture) for the forms people send: ISO 8601 with ``T``
    or a space, ``yyyy/MM/dd``, ``M/d/yyyy`` with an optional 12-hour ``AM``/``PM``, an
    optional ``Z`` or offset, and RFC 1123 (``Mon, 01 Jan 2024 00:00:00 GMT``).

    A zone makes .NET convert to local time, which is UTC on Azure; a value without one is
    compared as UTC by the Table query (``datetime'...'``). Either way: an aware UTC datetime.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    for pattern in _DATETIMES:
        match = pattern.fullmatch(text)
        if match is not None:
            return _from_match(match)
    try:
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed.astimezone(timezone.utc) if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _from_match(match: re.Match[str]) -> datetime | None:
    hour = int(match["h"] or 0)
    if match["ampm"]:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if match["ampm"].lower() == "pm" else 0)
    try:
        moment = datetime(
            int(match["y"]),
            int(match["mo"]),
            int(match["d"]),
            hour,
            int(match["mi"] or 0),
            int(match["s"] or 0),
            int((match["f"] or "0").ljust(7, "0")[:6]),
        )
    except ValueError:
        return None
    zone = match["z"]
    if not zone or zone == "Z":
        return moment.replace(tzinfo=timezone.utc)
    digits = zone[1:].replace(":", "")
    offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0))
    sign = 1 if zone[0] == "+" else -1
    return (moment - sign * offset).replace(tzinfo=timezone.utc)
