"""Hand-off latency: from the holder's release call to a blocked waiter holding the lock."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis
import redis.asyncio as aioredis
import redis_lock

from singleton.lease._leases import Leases

# Each sample: the holder takes the lock, a waiter blocks on it, the holder sleeps a random
# 5-20 ms (so a polling waiter is caught at a random phase) and releases.
_SETTLE = (0.005, 0.020)


async def _handoffs(
    take: Callable[[], Awaitable[Any]],
    give_back: Callable[[Any], Awaitable[object]],
    take_waiting: Callable[[], Awaitable[Any]],
    samples: int,
) -> list[int]:
    """Hand-off latencies (ns) of one lock kind: ``take`` holds it at once, ``take_waiting``
    blocks until it is free, ``give_back`` releases what either returned."""
    latencies: list[int] = []
    for _ in range(samples):
        holder = await take()
        acquired_at: list[int] = []

        async def wait(out: list[int] = acquired_at) -> None:
            held = await take_waiting()
            out.append(time.perf_counter_ns())
            await give_back(held)

        waiter = asyncio.create_task(wait())
        await asyncio.sleep(random.uniform(*_SETTLE))
        released_at = time.perf_counter_ns()
        await give_back(holder)
        await waiter
        latencies.append(acquired_at[0] - released_at)
    return latencies


async def lease_handoffs(leases: Leases, samples: int) -> list[int]:
    return await _handoffs(
        lambda: leases.acquire("bench/handoff"),
        lambda lease: lease.release(),
        lambda: leases.acquire("bench/handoff", wait=5),
        samples,
    )


async def redis_py_lock_handoffs(client: aioredis.Redis, sleep: float, samples: int) -> list[int]:
    name = "bench:handoff-redis-py"

    async def take() -> Any:
        lock = client.lock(name, timeout=15)
        if not await lock.acquire(blocking=False):
            raise RuntimeError("redis-py Lock: the key was not free")
        return lock

    async def take_waiting() -> Any:
        lock = client.lock(name, timeout=15, sleep=sleep, blocking_timeout=5)
        if not await lock.acquire():
            raise RuntimeError("redis-py Lock: waiter timed out")
        return lock

    return await _handoffs(take, lambda lock: lock.release(), take_waiting, samples)


def python_redis_lock_handoffs(url: str, samples: int) -> list[int]:
    """Sync, so the waiter is a thread with its own connection (BLPOP on the signal list)."""
    holder_client, waiter_client = redis.Redis.from_url(url), redis.Redis.from_url(url)
    latencies: list[int] = []
    try:
        for _ in range(samples):
            holder = redis_lock.Lock(holder_client, "bench:handoff-prl", expire=15)
            holder.acquire(blocking=False)
            acquired_at: list[int] = []

            def wait(out: list[int] = acquired_at) -> None:
                lock = redis_lock.Lock(waiter_client, "bench:handoff-prl", expire=15)
                if not lock.acquire(timeout=5):
                    raise RuntimeError("python-redis-lock: waiter timed out")
                out.append(time.perf_counter_ns())
                lock.release()

            waiter = threading.Thread(target=wait)
            waiter.start()
            time.sleep(random.uniform(*_SETTLE))
            released_at = time.perf_counter_ns()
            holder.release()
            waiter.join(10)
            latencies.append(acquired_at[0] - released_at)
    finally:
        holder_client.close()
        waiter_client.close()
    return latencies
