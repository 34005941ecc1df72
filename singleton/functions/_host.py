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
* on a Service Bus trigger, also no longer than the host keeps renewing the message's lock:
  ``extensions.serviceBus.maxAutoLockRenewalDuration`` (default 5 minutes; ``00:00:00``, no
  renewal, counts as the entity's default lock duration, 1 minute). Past it the lock is lost
  and the message is delivered again while this invocation still waits;
* less a margin of 10% of that, at least 1 s and at most 60 s.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from singleton._errors import ConfigurationError

logger = logging.getLogger(__name__)

SCRIPT_ROOT = "AzureWebJobsScriptRoot"
SKU = "WEBSITE_SKU"
CONSUMPTION_SKU = "Dynamic"
CONSUMPTION_TIMEOUT = 5 * 60.0
PLAN_TIMEOUT = 30 * 60.0
#: With ``functionTimeout: -1`` the host never cuts the invocation off; a wait still ends.
UNLIMITED_WAIT = 24 * 60 * 60.0
#: The Service Bus extension's default ``maxAutoLockRenewalDuration``.
LOCK_RENEWAL = 5 * 60.0
#: A Service Bus entity's default lock duration (when the host does not renew the lock).
ENTITY_LOCK = 60.0
_TIMESPAN = re.compile(r"(?:(\d+)\.)?(\d{1,2}):(\d{1,2}):(\d{1,2}(?:\.\d+)?)")


def function_timeout(environ: Mapping[str, str], cwd: Path | None = None) -> float | None:
    """The host's function timeout in seconds, None when unlimited."""
    host = _host_json(environ, cwd)
    configured = _timespan(host.get("functionTimeout"), "functionTimeout", host)
    if configured is not _ABSENT:
        return configured if isinstance(configured, float) else None
    if environ.get(SKU, CONSUMPTION_SKU) == CONSUMPTION_SKU:
        return CONSUMPTION_TIMEOUT
    return PLAN_TIMEOUT


def lock_renewal(environ: Mapping[str, str], cwd: Path | None = None) -> float:
    """How long the host keeps a Service Bus message locked for one invocation, in seconds."""
    host = _host_json(environ, cwd)
    extensions = host.get("extensions")
    service_bus = extensions.get("serviceBus") if isinstance(extensions, dict) else None
    value = service_bus.get("maxAutoLockRenewalDuration") if isinstance(service_bus, dict) else None
    configured = _timespan(value, "extensions.serviceBus.maxAutoLockRenewalDuration", host, 0.0)
    if configured is _ABSENT:
        return LOCK_RENEWAL
    if configured is None:  # "-1": not a TimeSpan the extension accepts either
        raise ConfigurationError(
            f"{host.get(_PATH)}: extensions.serviceBus.maxAutoLockRenewalDuration must be a "
            "TimeSpan [d.]hh:mm:ss"
        )
    return configured if isinstance(configured, float) and configured > 0 else ENTITY_LOCK


def message_wait(
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    *,
    service_bus: bool = False,
) -> float:
    """How long a queue or Service Bus invocation waits for a busy scope (see the module)."""
    environ = os.environ if environ is None else environ
    timeout = function_timeout(environ, cwd)
    if service_bus:
        renewal = lock_renewal(environ, cwd)
        timeout = renewal if timeout is None else min(timeout, renewal)
    if timeout is None:
        return UNLIMITED_WAIT
    return max(0.0, timeout - min(60.0, max(1.0, timeout / 10)))


_ABSENT = object()


_PATH = "\0path"  # where _host_json keeps the file's path (no JSON key can be it)


def _host_json(environ: Mapping[str, str], cwd: Path | None) -> dict[str, Any]:
    """host.json of the app's root, as a dict (empty when absent or not plain JSON)."""
    path = Path(environ.get(SCRIPT_ROOT) or (cwd or Path.cwd())) / "host.json"
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError:
        return {_PATH: str(path)}
    try:
        host = json.loads(text)
    except ValueError as exc:
        # The host reads host.json with a parser that allows comments; ours does not. Never
        # fail an invocation for it: fall back to the defaults, loudly.
        logger.warning("%s is not plain JSON (%s); using the plan's defaults", path, exc)
        return {_PATH: str(path)}
    if not isinstance(host, dict):
        return {_PATH: str(path)}
    return {**host, _PATH: str(path)}


def _timespan(
    value: object, what: str, host: Mapping[str, Any], minimum: float = 0.001
) -> float | object | None:
    """A host.json TimeSpan in seconds, None for ``-1``, _ABSENT when not set."""
    if value is None:
        return _ABSENT
    text = str(value).strip()
    if text == "-1":
        return None
    match = _TIMESPAN.fullmatch(text)
    if match is None:
        raise ConfigurationError(
            f"{host.get(_PATH)}: {what} {value!r} is not a TimeSpan [d.]hh:mm:ss or -1"
        )
    days, hours, minutes, secs = match.groups()
    total = int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + float(secs)
    if not math.isfinite(total) or total < minimum:
        raise ConfigurationError(f"{host.get(_PATH)}: {what} {value!r} must be positive")
    return total
