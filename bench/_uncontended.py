"""Uncontended acquire+release, and Redis commands per acquisition."""

from __future__ import annotations

import gc
import secrets
import time
from collections.abc import Awaitable, Callable

import redis
import redis.asyncio as aioredis
import redis_lock

from singleton.lease._keys import lease_keys
from singleton.lease._leases import LeasePolicy, Leases
from singleton.lease._scripts import SCRIPTS

COMPARE_AND_DELETE = """
-- KEYS[1] lock key; ARGV[1] token; return 1 deleted, 0 not ours
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

#: The ``limit=N`` contender, compared with ``acquire() + release()`` (limit 1).
LIMIT = 3
LIMIT_CYCLE = f"our lease: acquire(limit={LIMIT}) + release()"
ACQUIRE_CYCLE = "our lease: acquire() + release()"

AsyncCycle = Callable[[], Awaitable[None]]
SyncCycle = Callable[[], None]


async def async_cycles(client: aioredis.Redis, leases: Leases) -> dict[str, AsyncCycle]:
    """One uncontended acquire+release per call, for each asyncio contender."""
    release = client.register_script(COMPARE_AND_DELETE)
    for script in (SCRIPTS.acquire, SCRIPTS.release):
        await client.script_load(script.source)
    keys = lease_keys("bench", "bench/scripts")

    async def raw_floor() -> None:
        token = secrets.token_hex(16)
        if not await client.set("bench:raw", token, nx=True, px=15000):
            raise RuntimeError("raw floor: the key was not free")
        await release(keys=["bench:raw"], args=[token])

    async def raw_our_scripts() -> None:
        # The floor's two round trips, each running our lease's script instead (fence, TIME,
        # release record, PUBLISH): what Redis and the wire cost us, without the library.
        token = secrets.token_hex(16)
        reply = await client.evalsha(SCRIPTS.acquire.sha, 7, *keys.acquire_keys, token, 15000)
        if not isinstance(reply, int):  # acquired: fence * 2 + expired
            raise RuntimeError("raw floor with our scripts: the key was not free")
        await client.evalsha(SCRIPTS.release.sha, 7, *keys.release_keys, token, reply >> 1, 15000)

    async def lease_hold() -> None:
        async with leases.hold("bench/hold"):
            pass

    async def lease_acquire_release() -> None:
        lease = await leases.acquire("bench/acquire")
        await lease.release()

    async def lease_acquire_release_limit() -> None:
        lease = await leases.acquire("bench/acquire-limit", limit=LIMIT)
        await lease.release()

    async def redis_py_lock() -> None:
        lock = client.lock("bench:redis-py", timeout=15)
        if not await lock.acquire(blocking=False):
            raise RuntimeError("redis-py Lock: the key was not free")
        await lock.release()

    return {
        "raw SET NX PX + Lua compare-and-delete (floor)": raw_floor,
        "raw, running our lease's two scripts (bare client)": raw_our_scripts,
        "our lease: async with leases.hold()": lease_hold,
        "our lease: acquire() + release()": lease_acquire_release,
        LIMIT_CYCLE: lease_acquire_release_limit,
        "redis.asyncio Lock": redis_py_lock,
    }


def sync_cycles(client: redis.Redis) -> dict[str, SyncCycle]:
    """The sync-only contender, with a sync raw floor beside it for a fair ratio."""
    release = client.register_script(COMPARE_AND_DELETE)

    def raw_floor_sync() -> None:
        token = secrets.token_hex(16)
        if not client.set("bench:raw-sync", token, nx=True, px=15000):
            raise RuntimeError("raw floor (sync): the key was not free")
        release(keys=["bench:raw-sync"], args=[token])

    def python_redis_lock() -> None:
        lock = redis_lock.Lock(client, "bench:python-redis-lock", expire=15)
        if not lock.acquire(blocking=False):
            raise RuntimeError("python-redis-lock: the key was not free")
        lock.release()

    return {
        "raw floor, sync client": raw_floor_sync,
        "python-redis-lock (sync only)": python_redis_lock,
    }


async def time_async(
    cycles: dict[str, AsyncCycle], rounds: int, per_round: int
) -> dict[str, list[int]]:
    """Interleaved blocks (round-robin), so drift of the machine hits every contender alike."""
    samples: dict[str, list[int]] = {name: [] for name in cycles}
    for cycle in cycles.values():  # warm-up: connections, script caches
        for _ in range(200):
            await cycle()
    for _ in range(rounds):
        for name, cycle in cycles.items():
            gc.collect()
            out = samples[name]
            for _ in range(per_round):
                started = time.perf_counter_ns()
                await cycle()
                out.append(time.perf_counter_ns() - started)
    return samples


def time_sync(cycles: dict[str, SyncCycle], rounds: int, per_round: int) -> dict[str, list[int]]:
    samples: dict[str, list[int]] = {name: [] for name in cycles}
    for cycle in cycles.values():
        for _ in range(200):
            cycle()
    for _ in range(rounds):
        for name, cycle in cycles.items():
            gc.collect()
            out = samples[name]
            for _ in range(per_round):
                started = time.perf_counter_ns()
                cycle()
                out.append(time.perf_counter_ns() - started)
    return samples


def per_acquisition(stats: dict[str, dict[str, int]], cycles: int) -> str:
    """``INFO commandstats`` as "evalsha 2, get 2, set 1" per acquire+release. Redis counts the
    commands a Lua script runs as well, so a script's EVALSHA (one round trip) shows with the
    commands inside it."""
    counts = {
        name.removeprefix("cmdstat_"): int(row["calls"]) / cycles
        for name, row in stats.items()
        if not name.startswith(("cmdstat_config", "cmdstat_info"))
    }
    parts = [f"{name} {count:g}" for name, count in sorted(counts.items(), key=lambda kv: -kv[1])]
    return f"{sum(counts.values()):g} = " + ", ".join(parts)


async def commands_per_acquisition(
    client: aioredis.Redis, cycle: AsyncCycle, cycles: int = 200
) -> str:
    await client.config_resetstat()
    for _ in range(cycles):
        await cycle()
    return per_acquisition(await client.info("commandstats"), cycles)


def lease_for_bench(client: aioredis.Redis) -> Leases:
    return Leases(client, namespace="bench", policy=LeasePolicy(ttl=15.0))


async def cpu_per_cycle(
    client: aioredis.Redis, cycle: AsyncCycle, cycles: int = 1000
) -> tuple[float, float]:
    """(client CPU µs, Redis server µs) per cycle: this process's CPU time, and the usec
    Redis's commandstats charge to the commands sent. Both are CPU, not wall time, so a loaded
    machine's scheduling delays do not count."""
    await client.config_resetstat()
    started = time.process_time_ns()
    for _ in range(cycles):
        await cycle()
    client_us = (time.process_time_ns() - started) / 1000 / cycles
    stats = await client.info("commandstats")
    server_us = sum(
        int(row["usec"])
        for name, row in stats.items()
        if name in ("cmdstat_evalsha", "cmdstat_eval", "cmdstat_script|load")
    )
    return client_us, server_us / cycles
