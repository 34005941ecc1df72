"""Bounding an await by a timeout, without losing a cancellation.

``asyncio.wait_for`` before Python 3.12 can swallow a cancellation that arrives as the
awaited operation completes: the caller then runs on although it was cancelled (seen here:
a task told to stop kept serving a connection for ever). :func:`bounded` behaves the same on
every version: a cancellation of the caller always propagates, and a timeout is
``asyncio.TimeoutError`` (on 3.10 not the builtin TimeoutError; one class from 3.11 on).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def bounded(awaitable: Awaitable[T], timeout: float) -> T:
    """``await awaitable``, cut short (cancelled) after ``timeout`` seconds."""
    task = asyncio.ensure_future(awaitable)
    try:
        done, _ = await asyncio.wait({task}, timeout=max(0.0, timeout))
    except asyncio.CancelledError:
        task.cancel()  # ours was cancelled: so is what it waited for
        raise
    if not done:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if not task.cancelled():  # it finished as it was being cut: keep its outcome
            return task.result()
        raise asyncio.TimeoutError(f"not done within {timeout:.3f} s")
    return task.result()
