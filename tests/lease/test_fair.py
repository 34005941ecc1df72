"""Fair (FIFO) waiting and ``limit=N``, across real OS processes on a real redis-server."""

from __future__ import annotations

import asyncio
import collections
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from singleton.lease._leases import Lease, LeasePolicy, Leases, Settled
from tests.lease.conftest import MakeLeases
from tests.redis_servers import RedisServer

pytestmark = pytest.mark.redis

ROOT = Path(__file__).resolve().parents[2]


def waiters(mode: str, url: str, name: str, tasks: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.lease.fair_contender", mode, url, name, str(tasks)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
    )


async def finish(processes: list[subprocess.Popen[bytes]], timeout: float) -> list[int]:
    try:
        return await asyncio.wait_for(
            asyncio.gather(*(asyncio.to_thread(p.wait) for p in processes)), timeout
        )
    finally:
        stop(processes)


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


async def until(check: object, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.02)
    pytest.fail(f"timed out waiting for {what}")


async def test_two_processes_of_50_waiters_are_served_in_arrival_order(
    redis_server: RedisServer, redis_client: aioredis.Redis
) -> None:
    leases = Leases(redis_client, namespace="fair", policy=LeasePolicy(ttl=30))
    keys = leases.keys("line")
    holder = await leases.acquire("line")  # everyone queues behind this one
    running = [waiters("line", redis_server.url, "line", 50) for _ in range(2)]
    try:

        async def all_in_line() -> bool:
            return int(await redis_client.zcard(keys.queue)) == 100

        await until(all_in_line, "100 waiters in line")
        arrival = [token.decode() for token in await redis_client.zrange(keys.queue, 0, -1)]
        await holder.release()
        assert await finish(running, 60) == [0, 0]
    finally:
        await leases.aclose()
    served = [entry.decode().split() for entry in await redis_client.lrange("served", 0, -1)]
    assert [token for _, token in served] == arrival  # FIFO by arrival at Redis
    shares = collections.Counter(pid for pid, _ in served)
    assert sorted(shares.values()) == [50, 50]
    assert await redis_client.get("overlaps") is None
    assert await redis_client.get("busy") is None  # nobody's wait ran out
    assert int(await redis_client.zcard(keys.queue)) == 0


async def test_two_processes_taking_turns_get_even_shares(
    redis_server: RedisServer, redis_client: aioredis.Redis
) -> None:
    # The measure: with a broadcast wake-up one process ran 119 bodies, the other 6.
    running = [waiters("loop", redis_server.url, "turns", 50) for _ in range(2)]
    try:
        for process in running:
            assert process.stdout is not None
            line = await asyncio.wait_for(asyncio.to_thread(process.stdout.readline), 30)
            assert line.strip() == b"ready"

        queue = Leases(redis_client, namespace="fair").keys("turns").queue

        async def both_in_line() -> bool:  # each process's 50 waiters have queued
            return int(await redis_client.zcard(queue)) >= 95

        await until(both_in_line, "both processes in line")
        start = int(await redis_client.llen("served"))

        async def enough() -> bool:
            return int(await redis_client.llen("served")) >= start + 400

        await until(enough, "400 turns", timeout=60)
        await redis_client.set("stop", 1)
        assert await finish(running, 60) == [0, 0]
    finally:
        stop(running)
    # Only turns while both were contending: each process had 50 waiters throughout.
    served = [pid.decode() for pid in await redis_client.lrange("served", start, start + 399)]
    shares = collections.Counter(served)
    assert len(shares) == 2
    for count in shares.values():
        assert 0.40 <= count / len(served) <= 0.60, shares
    assert await redis_client.get("overlaps") is None
    assert await redis_client.get("busy") is None


async def test_limit_3_across_3_processes_never_admits_a_fourth(
    redis_server: RedisServer, redis_client: aioredis.Redis
) -> None:
    running = [waiters("limit", redis_server.url, "three", 4) for _ in range(3)]
    assert await finish(running, 90) == [0, 0, 0]
    assert await redis_client.get("overlaps") is None
    assert int(await redis_client.get("most") or 0) == 3  # 3 reached, never 4
    fences = [int(f) for f in await redis_client.lrange("fences", 0, -1)]
    assert len(fences) == 3 * 4 * 10
    assert len(set(fences)) == len(fences)  # each holder its own fence
    assert await redis_client.get("busy") is None


async def test_a_waiter_that_died_is_skipped_once_its_place_runs_out(
    redis_server: RedisServer, redis_client: aioredis.Redis, make_leases: MakeLeases
) -> None:
    # The dead waiter's place lives 3 wake fallbacks (1 s each) past its last try.
    leases = make_leases(ttl=30, wake_fallback=30)
    keys = Leases(redis_client, namespace="fair").keys("dead")
    holder_leases = Leases(redis_client, namespace="fair", policy=LeasePolicy(ttl=30))
    holder = await holder_leases.acquire("dead")
    dying = waiters("line", redis_server.url, "dead", 1)
    try:

        async def queued() -> bool:
            return int(await redis_client.zcard(keys.queue)) == 1

        await until(queued, "the doomed waiter in line")
        os.kill(dying.pid, signal.SIGKILL)
        dying.wait()
        alive = Leases(
            redis_client, namespace="fair", policy=LeasePolicy(ttl=30, wake_fallback=0.2)
        )
        second = asyncio.create_task(alive.acquire("dead", wait=20))
        await until(lambda: _zcard(redis_client, keys.queue, 2), "the second waiter in line")
        released_at = time.monotonic()
        await holder.release()  # hands over to the dead waiter first
        lease = await asyncio.wait_for(second, 10)
        waited = time.monotonic() - released_at
        # Not before the dead one's place could run out, and not much later.
        assert 0.5 < waited < 3.5, waited
        assert int(await redis_client.zcard(keys.queue)) == 0
        await lease.release()
        await alive.aclose()
    finally:
        stop([dying])
        await holder_leases.aclose()
    del leases


async def _zcard(client: aioredis.Redis, key: str, count: int) -> bool:
    return int(await client.zcard(key)) == count


async def test_a_follower_first_in_line_is_not_handed_a_lease_it_does_not_take(
    make_leases: MakeLeases, redis_client: aioredis.Redis
) -> None:
    # No fallback wake-ups: only the release's hand-off can wake the plain waiter in time.
    leases = make_leases(ttl=30, wake_fallback=30)
    keys = leases.keys("decided")
    entered = asyncio.Event()
    release = asyncio.Event()

    async def decide() -> None:
        async with leases.hold_or_follow("decided", wait=10) as held:
            assert isinstance(held, Lease)
            entered.set()
            await release.wait()
            held.settle("started")

    async def follow() -> Lease | Settled:
        async with leases.hold_or_follow("decided", wait=10) as held:
            return held

    async def plain() -> float:
        async with leases.hold("decided", wait=10):
            return time.monotonic()

    deciding = asyncio.create_task(decide())
    await entered.wait()
    followers = [asyncio.create_task(follow()) for _ in range(3)]
    await until(lambda: _zcard(redis_client, keys.queue, 3), "three followers in line")
    waiter = asyncio.create_task(plain())  # behind the followers
    await until(lambda: _zcard(redis_client, keys.queue, 4), "the plain waiter in line")
    released_at = time.monotonic()
    release.set()
    await deciding
    results = await asyncio.gather(*followers)
    assert all(isinstance(r, Settled) and r.result == "started" for r in results)
    acquired_at = await asyncio.wait_for(waiter, 5)
    assert acquired_at - released_at < 1.0  # handed over at the release, not after 3 s
    assert int(await redis_client.zcard(keys.queue)) == 0


async def test_a_waiter_that_gives_up_leaves_the_line_and_hands_on_its_turn(
    make_leases: MakeLeases, redis_client: aioredis.Redis
) -> None:
    leases = make_leases(ttl=30, wake_fallback=30)
    keys = leases.keys("impatient")
    holder = await leases.acquire("impatient")
    short = asyncio.create_task(leases.acquire("impatient", wait=0.3))
    await until(lambda: _zcard(redis_client, keys.queue, 1), "the impatient waiter in line")
    patient = asyncio.create_task(leases.acquire("impatient", wait=10))
    await until(lambda: _zcard(redis_client, keys.queue, 2), "the patient waiter in line")
    with pytest.raises(Exception, match="still held"):
        await short
    assert int(await redis_client.zcard(keys.queue)) == 1  # it left at once
    await holder.release()
    lease = await asyncio.wait_for(patient, 2)  # handed over, no 30 s fallback
    await lease.release()


async def test_a_caller_that_does_not_wait_never_takes_a_free_lease_from_the_line(
    make_leases: MakeLeases, redis_client: aioredis.Redis
) -> None:
    leases = make_leases(ttl=30, wake_fallback=30)
    keys = leases.keys("turn")
    # A waiter first in line whose hand-off is still on its way: the lease is free.
    await redis_client.zadd(keys.queue, {"someone": 1})
    await redis_client.zadd(keys.alive, {"someone": int(time.time() * 1000) + 60_000})
    with pytest.raises(Exception, match="held by someone else"):
        await leases.acquire("turn", wait=0)
    assert int(await redis_client.zcard(keys.queue)) == 1  # it did not queue either


async def test_limit_n_acquire_renew_and_release_keep_their_own_fences(
    make_leases: MakeLeases, redis_client: aioredis.Redis
) -> None:
    leases = make_leases(ttl=5)
    held = [await leases.acquire("pool", limit=2) for _ in range(2)]
    assert len({lease.fence for lease in held}) == 2
    with pytest.raises(Exception, match="held by someone else"):
        await leases.acquire("pool", limit=2, wait=0)
    assert await held[0].extend()
    assert await held[0].release()
    third = await leases.acquire("pool", limit=2, wait=0)
    assert third.fence > max(lease.fence for lease in held)
    assert await third.release()
    assert await held[1].release()
    assert not await held[1].release()  # already gone: nothing to give back twice
    assert int(await redis_client.zcard(leases.keys("pool").holders)) == 0


@pytest.mark.parametrize("limit", [0, -1, True, 1.5, "2"])
async def test_a_bad_limit_is_refused(make_leases: MakeLeases, limit: object) -> None:
    leases = make_leases(ttl=5)
    with pytest.raises((TypeError, ValueError), match="limit"):
        await leases.acquire("bad", limit=limit)  # type: ignore[arg-type]
    with pytest.raises((TypeError, ValueError), match="limit"):
        leases.hold("bad", limit=limit)  # type: ignore[arg-type]


async def test_a_limit_n_hold_is_renewed_and_a_dead_holders_slot_is_reclaimed(
    make_leases: MakeLeases, redis_client: aioredis.Redis
) -> None:
    leases = make_leases(ttl=0.3)
    holders = leases.keys("renewed").holders
    async with leases.hold("renewed", limit=2) as lease:
        await asyncio.sleep(1.0)  # three TTLs: only renewal keeps the slot
        assert await redis_client.zscore(holders, lease.token) is not None
        assert lease.remaining() > 0
    abandoned = [await leases.acquire("renewed", limit=2) for _ in range(2)]  # never released
    with pytest.raises(Exception, match="held by someone else"):
        await leases.acquire("renewed", limit=2, wait=0)
    await asyncio.sleep(0.4)  # both ran out without their release
    reclaimed = await leases.acquire("renewed", limit=2, wait=0)
    assert reclaimed.after_expiry
    assert reclaimed.fence > max(lease.fence for lease in abandoned)
    assert await reclaimed.release()
    assert not await abandoned[0].release()
