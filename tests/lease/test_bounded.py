"""The bound on every call made for a held lease: a timeout is a timeout, a cancellation of
the caller always propagates, and a shielded call goes on after its caller left. Run on
every Python the project supports (3.10 takes the task-based path, 3.11+ the inline one)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from singleton.lease._bounded import bounded, bounded_call


class Calls:
    """Counts the calls made, and how many of them ran to their end."""

    def __init__(self, takes: float) -> None:
        self.takes = takes
        self.started = 0
        self.finished = 0

    async def __call__(self) -> str:
        self.started += 1
        await asyncio.sleep(self.takes)
        self.finished += 1
        return "done"


@pytest.mark.parametrize("shielded", [False, True])
async def test_a_call_within_its_bound_gives_its_result(shielded: bool) -> None:
    keep: set[asyncio.Future[Any]] = set()
    call = Calls(0.0)
    assert await bounded_call(call, 1.0, shield_into=keep if shielded else None) == "done"
    assert await bounded(call(), 1.0, shield_into=keep if shielded else None) == "done"
    assert not keep


@pytest.mark.parametrize("shielded", [False, True])
async def test_a_call_past_its_bound_is_cut_and_raises_timeout(shielded: bool) -> None:
    keep: set[asyncio.Future[Any]] = set()
    call = Calls(10.0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(asyncio.TimeoutError):
        await bounded_call(call, 0.05, shield_into=keep if shielded else None)
    with pytest.raises(asyncio.TimeoutError):
        await bounded(call(), 0.05, shield_into=keep if shielded else None)
    assert loop.time() - started < 1
    assert call.finished == 0
    await asyncio.sleep(0)
    assert not keep
    task = asyncio.current_task()
    assert task is not None
    if hasattr(task, "cancelling"):  # the cut's request was taken back: asyncio.timeout works
        assert task.cancelling() == 0


@pytest.mark.parametrize("which", ["bounded_call", "bounded"])
async def test_a_cancelled_caller_is_cancelled_and_so_is_its_unshielded_call(which: str) -> None:
    call = Calls(10.0)

    async def caller() -> str:
        if which == "bounded":
            return await bounded(call(), 5.0)
        return await bounded_call(call, 5.0)

    task = asyncio.create_task(caller())
    await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.05)
    assert (call.started, call.finished) == (1, 0)


@pytest.mark.parametrize("which", ["bounded_call", "bounded"])
async def test_a_shielded_call_runs_to_its_end_after_its_caller_was_cancelled(which: str) -> None:
    keep: set[asyncio.Future[Any]] = set()
    call = Calls(0.1)

    async def caller() -> str:
        if which == "bounded":
            return await bounded(call(), 5.0, shield_into=keep)
        return await bounded_call(call, 5.0, shield_into=keep)

    task = asyncio.create_task(caller())
    await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task  # at once, not after the call
    assert call.finished == 0
    assert len(keep) == 1  # what its owner waits for
    await asyncio.gather(*keep)
    assert call.finished == 1  # made again in the background (inline) or went on (task)
    assert not keep


async def test_a_shielded_call_handed_over_keeps_the_original_bound() -> None:
    keep: set[asyncio.Future[Any]] = set()
    call = Calls(10.0)
    task = asyncio.create_task(bounded_call(call, 0.2, shield_into=keep))
    await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.gather(*keep, return_exceptions=True)
    assert loop.time() - started < 0.5
    assert call.finished == 0


@pytest.mark.parametrize("which", ["bounded_call", "bounded"])
async def test_a_cancellation_arriving_with_the_cut_still_propagates(which: str) -> None:
    callers: list[asyncio.Task[Any]] = []

    async def call() -> str:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:  # the cut: the caller is cancelled from outside now
            callers[0].cancel()
            raise
        return "done"

    async def caller() -> str:
        if which == "bounded":
            return await bounded(call(), 0.05)
        return await bounded_call(call, 0.05)

    callers.append(asyncio.create_task(caller()))
    with pytest.raises(asyncio.CancelledError):
        await callers[0]
