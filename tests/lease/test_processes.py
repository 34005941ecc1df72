"""The lease across real OS processes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from singleton.lease._leases import LeasePolicy, Leases
from tests.redis_servers import RedisServer

pytestmark = pytest.mark.redis

ROOT = Path(__file__).resolve().parents[2]


def contender(*args: str, stdout: int | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.lease.contender", *args],
        cwd=ROOT,
        stdout=stdout,
    )


async def test_processes_hold_the_lease_one_at_a_time(
    redis_server: RedisServer, redis_client: aioredis.Redis
) -> None:
    processes, rounds = 6, 15
    running = [
        contender("contend", redis_server.url, "shared", str(rounds)) for _ in range(processes)
    ]
    try:
        codes = await asyncio.wait_for(
            asyncio.gather(*(asyncio.to_thread(p.wait) for p in running)), 60
        )
    finally:
        for process in running:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert codes == [0] * processes
    assert await redis_client.get("overlaps") is None
    assert int(await redis_client.get("turns") or 0) == processes * rounds


async def test_a_killed_holder_stops_renewing_and_its_lease_expires_within_the_ttl(
    redis_server: RedisServer, redis_client: aioredis.Redis
) -> None:
    ttl = 0.4
    holder = contender("hold", redis_server.url, "abandoned", str(ttl), stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(holder.stdout.readline), 20)
        token, fence = line.decode().split()
        leases = Leases(redis_client, namespace="processes", policy=LeasePolicy(ttl=5))
        key = leases.keys("abandoned").lease
        await asyncio.sleep(3 * ttl)  # renewed in the other process, well past its TTL
        assert await redis_client.get(key) == token.encode()
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
        killed_at = time.monotonic()
        lease = await leases.acquire("abandoned", wait=2 * ttl + 1)
        assert time.monotonic() - killed_at <= ttl + 0.1  # it ran out with its TTL, no later
        assert lease.fence > int(fence)
        await lease.release()
        await leases.aclose()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
