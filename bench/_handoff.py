"""Hand-off latency: from the holder's release call to a blocked waiter holding the lock."""

from __future__ import annotations

import asyncio
import random
import threading
import time

import redis
import redis.asyncio as aioredis
import redis_lock

from singleton._lease import Leases

# Each sample: the holder takes the lock, a waiter blocks on it, the holder sleeps a random
# 5-20 ms (so a polling waiter is caught at a random phase) and releases.
_SETTLE = (0.005, 0.020)


async def lease_handoffs(leases: Leases, samples: int) -> list[int]:
    latencies: list[int] = []
    for _ in range(samples):
        holder = await leases.acquire("bench/handoff")
        acquired_at: list[int] = []

        async def wait(out: list[int] = acquired_at) -> None:
            lease = await leases.acquire("bench/handoff", wait=5)
            out.append(time.perf_counter_ns())
            await lease.release()

        waiter = asyncio.create_task(wait())
        await asyncio.sleep(random.uniform(*_SETTLE))
        released_at = time.perf_counter_ns()
        await holder.release()
        await waiter
        latencies.append(acquired_at[0] - released_at)
    return latencies


async def redis_py_lock_handoffs(client: aioredis.Redis, sleep: float, samples: int) -> list[int]:
    latencies: list[int] = []
    for _ in range(samples):
        holder = client.lock("bench:handoff-redis-py", timeout=15)
        await holder.acquire(blocking=False)
        acquired_at: list[int] = []

        async def wait(out: list[int] = acquired_at) -> None:
            lock = client.lock(
                "bench:handoff-redis-py", timeout=15, sleep=sleep, blocking_timeout=5
            )
            if not await lock.acquire():
                raise RuntimeError("redis-py Lock: waiter timed out")
            out.append(time.perf_counter_ns())
            await lock.release()

        waiter = asyncio.create_task(wait())
        await asyncio.sleep(random.uniform(*_SETTLE))
        released_at = time.perf_counter_ns()
        await holder.release()
        await waiter
        latencies.append(acquired_at[0] - released_at)
    return latencies


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
