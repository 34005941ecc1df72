"""Bounding an await by a timeout, without losing a cancellation; optionally shielded.

``asyncio.wait_for`` before Python 3.12 can swallow a cancellation that arrives as the
awaited operation completes: the caller then runs on although it was cancelled (seen here:
a task told to stop kept serving a connection for ever). :func:`bounded` behaves the same on
every version: a cancellation of the caller always propagates, and a timeout is
``asyncio.TimeoutError`` (on 3.10 not the builtin TimeoutError; one class from 3.11 on).

Every lease release and extend is bounded, so the cost counts. :func:`bounded` runs the call
in a task of its own, a timer cancels that task at the bound, and the caller waits on a
future the task's end fills in (the caller's own cancellation, the cut and the outcome can
never be mistaken for one another): one task, one future, one timer. :func:`bounded_call`,
which the lease's Redis calls use, needs no task at all on Python 3.11+ (the caller's task
counts its cancellations, which tells the cut from any other) and falls back to
:func:`bounded` on 3.10. Each extra task costs a few rounds of the event loop, about 10 µs
per release.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")

logger = logging.getLogger(__name__)


async def bounded(
    awaitable: Awaitable[T],
    timeout: float,
    *,
    shield_into: set[asyncio.Future[Any]] | None = None,
) -> T:
    """``await awaitable``, cut short (cancelled) after ``timeout`` seconds.

    With ``shield_into``, a cancellation of the caller propagates at once but does not stop
    the call: it runs on to its end or its cut, kept in that set until then (so its owner can
    wait for it). Without, the caller's cancellation cancels the call too."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(awaitable)
    outcome: asyncio.Future[T] = loop.create_future()
    cut = loop.call_later(max(0.0, timeout), task.cancel)

    def ended(done: asyncio.Future[T]) -> None:
        cut.cancel()
        if shield_into is not None:
            shield_into.discard(done)
        if done.cancelled():  # cut (nobody else cancels it while the caller waits)
            if not outcome.done():
                outcome.set_exception(asyncio.TimeoutError(f"not done within {timeout:.3f} s"))
            return
        error = done.exception()  # retrieved here: never "never retrieved"
        if outcome.done():  # the caller is gone (cancelled): nobody reads it
            if error is not None:
                logger.debug("bounded call failed after its caller left: %r", error)
        elif error is not None:
            outcome.set_exception(error)
        else:
            outcome.set_result(done.result())

    task.add_done_callback(ended)
    if shield_into is not None:
        shield_into.add(task)
    try:
        return await outcome
    except asyncio.CancelledError:
        if shield_into is None:
            task.cancel()  # ours was cancelled: so is what it waited for
        raise


async def bounded_call(
    call: Callable[[], Awaitable[T]],
    timeout: float,
    *,
    shield_into: set[asyncio.Future[Any]] | None = None,
) -> T:
    """``await call()`` like :func:`bounded`, in the caller's own task where it can be (Python
    3.11+, inside a task): a timer cancels the caller at the bound and is told from any other
    cancellation by the task's count of them — no second task, no extra rounds of the loop.

    ``call`` makes the awaitable. With ``shield_into``, a cancellation of the caller
    propagates at once and ``call()`` is made again in a task of its own, bounded by what is
    left of ``timeout`` and kept in that set until it ends: the cancelled one may or may not
    have reached Redis, so ``call`` must be safe to repeat."""
    # Tasks count cancellation requests (``cancelling``/``uncancel``) from Python 3.11 on.
    task = asyncio.current_task() if sys.version_info >= (3, 11) else None
    if task is None or sys.version_info < (3, 11):
        return await bounded(call(), timeout, shield_into=shield_into)
    loop = task.get_loop()
    deadline = loop.time() + max(0.0, timeout)
    before = task.cancelling()
    fired = False

    def cut() -> None:
        nonlocal fired
        fired = True
        task.cancel()

    timer = loop.call_at(deadline, cut)
    try:
        result = await call()
    except asyncio.CancelledError:
        if fired:  # our cut: a timeout, unless someone else cancelled the caller as well
            if task.uncancel() <= before:
                raise asyncio.TimeoutError(f"not done within {timeout:.3f} s") from None
        elif shield_into is not None:  # a cancellation from outside, time left: hand over
            _hand_over(call, deadline - loop.time(), shield_into)
        raise
    finally:
        timer.cancel()
    if fired:  # the call swallowed our cut: take the request back
        task.uncancel()
    return result


def _hand_over(
    call: Callable[[], Awaitable[T]], within: float, keep: set[asyncio.Future[Any]]
) -> None:
    """Make ``call()`` again in a task of its own, kept in ``keep`` until it ends."""
    again = asyncio.ensure_future(bounded(call(), within))
    keep.add(again)

    def ended(done: asyncio.Future[T]) -> None:
        keep.discard(done)
        if not done.cancelled() and done.exception() is not None:  # retrieved: never "lost"
            logger.debug("bounded call failed after its caller left: %r", done.exception())

    again.add_done_callback(ended)
