"""What the Functions host does to a waiting invocation: its function timeout.

A queue or Service Bus invocation that waits for a busy scope must give up before the host's
``functionTimeout`` cuts it off, or the host counts a timeout (and may restart) instead of a
failure; it need not give up sooner, or a message whose scope would have freed in time is
retried for nothing, and after ``maxDequeueCount`` tries poisoned. So the wait is the
function's own timeout less a margin:

* ``functionTimeout`` from ``host.json`` in the app's root (``AzureWebJobsScriptRoot``, which
  the host sets, else the working directory, which is the app's root for the worker), as a
  TimeSpan ``[d.]hh:mm:ss``; ``-1`` (unlimited, Premium and Dedicated plans) waits
  :data:`UNLIMITED_WAIT`;
* absent, the hosting plan's default, read from ``WEBSITE_SKU`` (set by App Service on every
  plan): ``Dynamic`` (Consumption) 5 minutes, any other plan 30 minutes. Without
  ``WEBSITE_SKU`` (a local run) the shortest, 5 minutes;
* less a margin of 10% of the timeout, at least 1 s and at most 60 s.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path

from singleton._errors import ConfigurationError

logger = logging.getLogger(__name__)

SCRIPT_ROOT = "AzureWebJobsScriptRoot"
SKU = "WEBSITE_SKU"
CONSUMPTION_SKU = "Dynamic"
CONSUMPTION_TIMEOUT = 5 * 60.0
PLAN_TIMEOUT = 30 * 60.0
#: With ``functionTimeout: -1`` the host never cuts the invocation off; a wait still ends.
UNLIMITED_WAIT = 24 * 60 * 60.0
_TIMESPAN = re.compile(r"(?:(\d+)\.)?(\d{1,2}):(\d{1,2}):(\d{1,2}(?:\.\d+)?)")


def function_timeout(environ: Mapping[str, str], cwd: Path | None = None) -> float | None:
    """The host's function timeout in seconds, None when unlimited."""
    root = Path(environ.get(SCRIPT_ROOT) or (cwd or Path.cwd()))
    configured = _host_json_timeout(root / "host.json")
    if configured is not _ABSENT:
        return configured if isinstance(configured, float) else None
    if environ.get(SKU, CONSUMPTION_SKU) == CONSUMPTION_SKU:
        return CONSUMPTION_TIMEOUT
    return PLAN_TIMEOUT


def message_wait(environ: Mapping[str, str] | None = None, cwd: Path | None = None) -> float:
    """How long a queue or Service Bus invocation waits for a busy scope (see the module)."""
    timeout = function_timeout(os.environ if environ is None else environ, cwd)
    if timeout is None:
        return UNLIMITED_WAIT
    return max(0.0, timeout - min(60.0, max(1.0, timeout / 10)))


_ABSENT = object()


def _host_json_timeout(path: Path) -> float | object | None:
    """``functionTimeout`` of ``path``: seconds, None for ``-1``, _ABSENT when not set."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError:
        return _ABSENT
    try:
        host = json.loads(text)
    except ValueError as exc:
        # The host reads host.json with a parser that allows comments; ours does not. Never
        # fail an invocation for it: fall back to the plan's default, loudly.
        logger.warning("%s is not plain JSON (%s); using the plan's default timeout", path, exc)
        return _ABSENT
    value = host.get("functionTimeout") if isinstance(host, dict) else None
    if value is None:
        return _ABSENT
    text = str(value).strip()
    if text == "-1":
        return None
    match = _TIMESPAN.fullmatch(text)
    if match is None:
        raise ConfigurationError(
            f"{path}: functionTimeout {value!r} is not a TimeSpan [d.]hh:mm:ss or -1"
        )
    days, hours, minutes, secs = match.groups()
    total = int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + float(secs)
    if not math.isfinite(total) or total <= 0:
        raise ConfigurationError(f"{path}: functionTimeout {value!r} must be positive")
    return total
