"""The problem answers (RFC 9457 ``application/problem+json``) the Functions adapters share.

The HTTP starter (:mod:`.http`), the admin endpoint (:mod:`.admin`) and ``@singleton``
(:mod:`.decorator`) answer their failures in one shape, from here, so that none of them
imports another adapter for it:

* :func:`problem`: any status, ``type`` = ``urn:durable-singleton:problem:<slug>``;
* :func:`misconfigured`: 500 naming the app settings at fault, never their values;
* :func:`retry_later`: 503 with ``Retry-After`` and a generic detail (the cause, which may
  name a Redis address, goes to the log only); :func:`lease_store_unavailable`, the one for
  Redis failing, with :func:`configured_retry_after`.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import azure.functions as func

from singleton._errors import ConfigurationError
from singleton._runtime import default_settings
from singleton._settings import DEFAULT_BUSY_RETRY_AFTER, DEFAULT_RETRY_AFTER

__all__ = ["PROBLEM_JSON", "RETRY_AFTER_SECONDS", "misconfigured", "problem", "retry_later"]

logger = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
#: The ``Retry-After`` of a 503: Redis failed, or a lease was lost.
RETRY_AFTER_SECONDS = 5
_SETTING_NAME = re.compile(r"\b(?:REDIS|SINGLETON)_[A-Z_]+\b")


def problem(
    status: int,
    slug: str,
    title: str,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> func.HttpResponse:
    """An RFC 9457 problem response; ``extensions`` become extra members."""
    body = {
        "type": f"urn:durable-singleton:problem:{slug}",
        "title": title,
        "status": status,
        "detail": detail,
        **extensions,
    }
    return func.HttpResponse(
        json.dumps(body),
        status_code=status,
        headers=headers,
        mimetype=PROBLEM_JSON,
        charset="utf-8",
    )


def misconfigured(
    exc: ConfigurationError,
    *,
    what: str = "singleton starter",
    consequence: str = "nothing was started",
    **extensions: Any,
) -> func.HttpResponse:
    """500 naming the settings at fault, never their values (a URL may name a host); the
    whole error goes to the log."""
    logger.error("%s is misconfigured: %s", what, exc)
    settings = sorted(set(_SETTING_NAME.findall(str(exc))))
    named = f"app setting {', '.join(settings)}" if settings else "the app settings"
    return problem(
        500,
        "misconfigured",
        f"The {what} is not configured",
        f"{named}: missing or malformed (the function's log says why); {consequence}",
        **extensions,
    )


def retry_later(
    slug: str,
    title: str,
    detail: str,
    *,
    retry_after: int = RETRY_AFTER_SECONDS,
    **extensions: Any,
) -> func.HttpResponse:
    """503 with ``Retry-After`` (default 5 s): Redis failed, or a lease was lost. ``detail`` is
    generic: the cause (with its Redis address) belongs in the log, never in the answer."""
    return problem(
        503,
        slug,
        title,
        detail,
        headers={"Retry-After": str(retry_after)},
        **extensions,
    )


def configured_retry_after(default: bool, *, busy: bool = False) -> int:
    """``SINGLETON_RETRY_AFTER`` (``busy``: ``SINGLETON_BUSY_RETRY_AFTER``) of the default
    runtime, read once when it was built, when the answer is for it (``default``); their
    defaults for leases or a starter of your own."""
    if not default:
        return DEFAULT_BUSY_RETRY_AFTER if busy else DEFAULT_RETRY_AFTER
    settings = default_settings()
    return settings.busy_retry_after if busy else settings.retry_after


def lease_store_unavailable(retry_after: int) -> func.HttpResponse:
    """503 ``lease-unavailable``: Redis failed or could not be reached (the cause is logged)."""
    return retry_later(
        "lease-unavailable",
        "The singleton lease store is unavailable",
        "Redis failed or could not be reached; retry later",
        retry_after=retry_after,
    )
