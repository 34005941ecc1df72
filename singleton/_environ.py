"""Strict parsers of app settings: a malformed value is a ConfigurationError naming it."""

from __future__ import annotations

import math
from collections.abc import Mapping

from singleton._errors import ConfigurationError

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})


def parse_bool(environ: Mapping[str, str], name: str) -> bool:
    """``environ[name]`` as a bool (true/false, yes/no, on/off, 1/0; unset is false)."""
    raw = environ.get(name, "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ConfigurationError(f"{name} must be true or false, got {environ[name]!r}")


def parse_seconds(
    environ: Mapping[str, str], name: str, default: float, *, minimum: float
) -> float:
    """A duration in seconds (float) from ``environ[name]``, at least ``minimum``."""
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number of seconds, got {raw!r}") from None
    if not math.isfinite(value) or value < minimum:
        raise ConfigurationError(f"{name} must be at least {minimum} seconds, got {raw!r}")
    return value


def parse_count(environ: Mapping[str, str], name: str, default: int, *, minimum: int) -> int:
    """A whole number from ``environ[name]``, at least ``minimum``."""
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise ConfigurationError(f"{name} must be at least {minimum}, got {raw!r}")
    return value
