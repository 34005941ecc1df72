"""Inline route constraints, as ASP.NET Core routing (and so the Functions host) defines them.

``{id:int}``, ``{n:range(1,9)}``, ``{code:regex(^[a-z]{{2}}$)}``... Each constraint is a predicate
over the route value string. Culture-sensitive parsing in .NET uses the invariant culture; the
checks here follow those formats closely but not byte-for-byte (see ``README`` of devhost).
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable
from datetime import datetime

from devhost._errors import RouteTemplateError

RouteConstraint = Callable[[str], bool]

_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
# .NET NumberStyles.Integer: optional surrounding white space and a leading sign.
_INTEGER = re.compile(r"\s*[+-]?[0-9]+\s*")
_ALPHA = re.compile(r"[a-z]*", re.IGNORECASE)
_FLOAT_WORDS = {"nan", "infinity", "-infinity", "+infinity"}


def _integer_in(bounds: tuple[int, int]) -> RouteConstraint:
    low, high = bounds

    def check(value: str) -> bool:
        return _INTEGER.fullmatch(value) is not None and low <= int(value) <= high

    return check


def _is_bool(value: str) -> bool:
    return value.strip().lower() in {"true", "false"}


def _is_float(value: str) -> bool:
    if value.strip().lower() in _FLOAT_WORDS:
        return True
    try:
        number = float(value.replace(",", "")) if value.strip() else math.nan
    except ValueError:
        return False
    return not math.isnan(number)


def _is_decimal(value: str) -> bool:
    return value.strip().lower() not in _FLOAT_WORDS and _is_float(value)


def _is_guid(value: str) -> bool:
    try:
        uuid.UUID(value.strip())
    except ValueError:
        return False
    return True


def _is_datetime(value: str) -> bool:
    try:
        datetime.fromisoformat(value.strip())
    except ValueError:
        return False
    return True


def _as_long(constraint: str, text: str) -> int:
    if _INTEGER.fullmatch(text) is None:
        raise RouteTemplateError(
            f"constraint {constraint!r} needs an integer argument, got {text!r}"
        )
    return int(text)


def _long_value(value: str) -> int | None:
    return int(value) if _INTEGER.fullmatch(value) is not None else None


def _build_with_arguments(name: str, arguments: str, text: str) -> RouteConstraint:
    if name == "regex":
        try:
            pattern = re.compile(arguments, re.IGNORECASE)
        except re.error as exc:
            raise RouteTemplateError(
                f"constraint {text!r}: invalid regular expression: {exc}"
            ) from exc
        # ASP.NET does not anchor the expression: `regex(\d)` accepts "a1b".
        return lambda value: pattern.search(value) is not None
    numbers = [_as_long(text, part.strip()) for part in arguments.split(",")]
    if name in {"min", "max", "length", "minlength", "maxlength"} and len(numbers) == 1:
        (limit,) = numbers
        if name == "min":
            return lambda value: (n := _long_value(value)) is not None and n >= limit
        if name == "max":
            return lambda value: (n := _long_value(value)) is not None and n <= limit
        if name == "length":
            return lambda value: len(value) == limit
        if name == "minlength":
            return lambda value: len(value) >= limit
        return lambda value: len(value) <= limit
    if name in {"range", "length"} and len(numbers) == 2:
        low, high = numbers
        if name == "range":
            return lambda value: (n := _long_value(value)) is not None and low <= n <= high
        return lambda value: low <= len(value) <= high
    raise RouteTemplateError(f"unknown or malformed route constraint {text!r}")


_SIMPLE: dict[str, RouteConstraint] = {
    "int": _integer_in(_INT32),
    "long": _integer_in(_INT64),
    "bool": _is_bool,
    "double": _is_float,
    "float": _is_float,
    "decimal": _is_decimal,
    "guid": _is_guid,
    "datetime": _is_datetime,
    "alpha": lambda value: _ALPHA.fullmatch(value) is not None,
    "required": lambda value: value != "",
}

_WITH_ARGUMENTS = re.compile(r"(?P<name>[a-zA-Z]+)\((?P<arguments>.*)\)", re.DOTALL)


def parse_constraint(text: str) -> RouteConstraint:
    """The predicate for one inline constraint such as ``int`` or ``range(1,9)``.

    Raises ``RouteTemplateError`` for an unknown constraint, as the host refuses to start.
    """
    simple = _SIMPLE.get(text.lower())
    if simple is not None:
        return simple
    match = _WITH_ARGUMENTS.fullmatch(text)
    if match is None:
        raise RouteTemplateError(f"unknown route constraint {text!r}")
    return _build_with_arguments(match["name"].lower(), match["arguments"], text)
