"""A sync ``@singleton`` body cancelled from outside while its lease is lost (issue 14).

A thread cannot be stopped, so the invocation waits for the body before it ends; meanwhile
both a cancellation from outside (the host gave up on the invocation) and the lease's own
(renewal refused) can arrive, in either order. The outside one must win: the invocation ends
with CancelledError, as the caller asked, never with LeaseLost. (Before, the second
cancellation was swallowed, so the hold counted one and reported LeaseLost.)
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

import azure.functions as func
import pytest
import redis.asyncio as aioredis

from singleton import LeaseLost, current_lease, singleton
from tests.functions.conftest import MakeLeases, queue_message

pytestmark = pytest.mark.redis

BODY_SECONDS = 1.0
Handler = Callable[[func.QueueMessage], Coroutine[Any, Any, int]]
RUNNING = threading.Event()  # set by the body, in its thread


async def until_running() -> None:
    """Wait until the body runs in its thread (a condition, not a nap)."""
    assert await asyncio.to_thread(RUNNING.wait, 5)


def sync_body(make_leases: MakeLeases, ended: list[float]) -> tuple[Handler, str]:
    leases = make_leases(ttl=0.3, wait=0)  # renewed every 0.1 s

    @singleton(name="cancelled-sync", leases=lambda: leases)
    def handle(msg: func.QueueMessage) -> int:
        fence = current_lease().fence
        RUNNING.set()
        time.sleep(BODY_SECONDS)
        ended.append(time.monotonic())
        return fence

    return handle, leases.keys("function:cancelled-sync:").lease


async def lose(redis_client: aioredis.Redis, key: str) -> None:
    assert await redis_client.delete(key) == 1  # the next renewal is refused


@pytest.mark.parametrize("order", ["outside-then-lost", "lost-then-outside"])
async def test_an_outside_cancellation_stays_cancelled_error_when_the_lease_is_also_lost(
    order: str, make_leases: MakeLeases, redis_client: aioredis.Redis
) -> None:
    ended: list[float] = []
    handle, key = sync_body(make_leases, ended)
    RUNNING.clear()
    task = asyncio.create_task(handle(queue_message({"n": 1})))
    await until_running()
    if order == "outside-then-lost":
        task.cancel()
        await asyncio.sleep(0.05)
        await lose(redis_client, key)
    else:
        await lose(redis_client, key)
        await asyncio.sleep(0.3)  # the keeper has cancelled the holder by now
        task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
    assert task.cancelled()
    assert len(ended) == 1  # the body ran to its end before the invocation ended
    assert await redis_client.exists(key) == 0


async def test_an_outside_cancellation_alone_is_cancelled_error_and_the_lease_is_released(
    make_leases: MakeLeases, redis_client: aioredis.Redis
) -> None:
    ended: list[float] = []
    handle, key = sync_body(make_leases, ended)
    RUNNING.clear()
    task = asyncio.create_task(handle(queue_message({"n": 1})))
    await until_running()
    task.cancel()
    assert await redis_client.exists(key) == 1  # held while the body still runs
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
    assert len(ended) == 1
    assert await redis_client.exists(key) == 0  # released after it


async def test_the_lease_lost_alone_is_lease_lost(
    make_leases: MakeLeases, redis_client: aioredis.Redis
) -> None:
    ended: list[float] = []
    handle, key = sync_body(make_leases, ended)
    RUNNING.clear()
    task = asyncio.create_task(handle(queue_message({"n": 1})))
    await until_running()
    await lose(redis_client, key)
    with pytest.raises(LeaseLost, match="was lost"):
        await asyncio.wait_for(task, 5)
    assert len(ended) == 1
