"""Following a lease: every waiter of one settled release adopts its result in one round.

Real redis-server; several OS processes; Redis's own command statistics count the work."""

from __future__ import annotations

import asyncio
import subprocess
import time
from typing import Any

import pytest
import redis.asyncio as aioredis

from singleton.lease import Lease, LeasePolicy, Leases, Settled
from singleton.lease._scripts import SCRIPTS
from tests.lease.conftest import MakeLeases, subscribers
from tests.lease.servers import LossyProxy
from tests.lease.test_processes import contender
from tests.redis_servers import RedisServer

pytestmark = pytest.mark.redis


#: Commands our scripts run inside Redis: counted by its statistics, never sent by a client.
SCRIPT_INNER = {"set", "get", "time", "del", "publish", "spublish", "pexpire", "pttl"}
# The line of waiters (fair waiting) adds these inside the scripts.
SCRIPT_INNER |= {"exists", "zadd", "zrem", "zrange", "zrangebyscore", "zscore", "zrank"}
SCRIPT_INNER |= {"zcard", "hdel", "hget", "hset", "hsetnx"}


async def command_calls(client: aioredis.Redis) -> dict[str, int]:
    """Commands clients sent since the last CONFIG RESETSTAT, by name (from Redis's own stats;
    the scripts' inner commands left out)."""
    stats = await client.info("commandstats")
    calls = {name.removeprefix("cmdstat_"): int(stat["calls"]) for name, stat in stats.items()}
    return {name: count for name, count in calls.items() if name not in SCRIPT_INNER}


async def test_an_uncontended_hold_or_follow_is_two_round_trips(
    make_leases: MakeLeases, redis_client: aioredis.Redis
) -> None:
    leases = make_leases(ttl=5)
    async with leases.hold_or_follow("warm-up"):
        pass
    # The first use's background eviction check (INFO, on a connection of its own whose
    # handshake can trail a fast warm-up) is over: not what this test counts.
    await leases.eviction.result()
    await redis_client.config_resetstat()
    async with leases.hold_or_follow("x") as held:
        assert isinstance(held, Lease)
        held.settle("done")
    calls = await command_calls(redis_client)
    assert calls.pop("evalsha") == 2  # acquire, release
    assert set(calls) <= {"info", "config|resetstat"}  # nothing else was sent


async def test_waiters_in_several_processes_all_adopt_one_holders_result(
    redis_server: RedisServer, redis_client: aioredis.Redis
) -> None:
    processes, tasks = 4, 25
    leases = Leases(redis_client, namespace="processes", policy=LeasePolicy(ttl=30))
    channel = leases.keys("storm").channel
    followers: list[subprocess.Popen[bytes]] = []
    try:
        async with leases.hold_or_follow("storm") as held:
            assert isinstance(held, Lease)
            # Loaded once per Redis server; not what this test counts.
            await redis_client.script_load(SCRIPTS.follow.source)
            await redis_client.config_resetstat()
            followers = [
                contender("follow", redis_server.url, "storm", str(tasks), stdout=subprocess.PIPE)
                for _ in range(processes)
            ]
            deadline = time.monotonic() + 30
            while await subscribers(redis_client, channel) < processes:
                assert time.monotonic() < deadline, "the followers never all subscribed"
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)  # each task found it busy, and its one follow-up try too
            held.settle("started instance i-1")
        outputs = await asyncio.gather(
            *(asyncio.to_thread(process.communicate, None, 60) for process in followers)
        )
        calls = await command_calls(redis_client)
    finally:
        for process in followers:
            if process.poll() is None:
                process.kill()
                process.wait()
        await leases.aclose()
    assert [process.returncode for process in followers] == [0] * processes
    lines = [line for stdout, _ in outputs for line in stdout.decode().splitlines()]
    assert lines == [f"settled {held.fence} started instance i-1"] * (processes * tasks)
    assert await redis_client.get(leases.keys("storm").fence) == str(held.fence).encode()
    # Per waiter: its first try and one follow-up after its subscription was confirmed; the
    # adoption itself came with the release message. Plus the holder's release.
    waiters = processes * tasks
    assert calls["evalsha"] <= 2 * waiters + 1
    # Everything the followers' processes sent: connections' handshakes, SUBSCRIBE, PING.
    sent = sum(count for name, count in calls.items() if name not in {"info", "pubsub|numsub"})
    print(f"Redis commands per waiter: {sent / waiters:.2f} ({calls})")
    assert sent / waiters <= 8


async def test_a_holder_that_raises_publishes_nothing_and_exactly_one_waiter_acquires(
    make_leases: MakeLeases,
) -> None:
    leases = make_leases(ttl=30, wake_fallback=30)
    acquired: list[int] = []
    holder_in = asyncio.Event()
    fail = asyncio.Event()

    async def failing_holder() -> None:
        async with leases.hold_or_follow("z") as held:
            assert isinstance(held, Lease)
            held.settle("would be wrong to adopt")
            holder_in.set()
            await fail.wait()
            raise RuntimeError("the holder's work failed")

    async def follow() -> Lease | Settled:
        async with leases.hold_or_follow("z", wait=10) as held:
            if isinstance(held, Lease):
                acquired.append(held.fence)
                held.settle("redone")
            return held

    first = asyncio.create_task(failing_holder())
    await holder_in.wait()
    followers = [asyncio.create_task(follow()) for _ in range(8)]
    await asyncio.sleep(0.1)
    fail.set()
    with pytest.raises(RuntimeError):
        await first
    outcomes = await asyncio.wait_for(asyncio.gather(*followers), 10)
    assert len(acquired) == 1
    assert all(o == Settled("redone", acquired[0]) for o in outcomes if isinstance(o, Settled))
    assert sum(isinstance(o, Settled) for o in outcomes) == 7


async def test_a_result_settled_before_the_wait_began_is_never_adopted(
    make_leases: MakeLeases, redis_client: aioredis.Redis
) -> None:
    leases = make_leases(ttl=0.3, result_ttl=30, wake_fallback=30)
    async with leases.hold_or_follow("x") as older:
        assert isinstance(older, Lease)
        older.settle("stale")
    assert await redis_client.exists(leases.keys("x").result)  # its record is still there
    current = await leases.acquire("x")  # never released: it runs out after 0.3 s
    async with leases.hold_or_follow("x", wait=5) as held:
        # Woken at the holder's TTL: the record holds an older fence than the holder it found.
        assert isinstance(held, Lease)
        assert held.fence > current.fence  # it acquired: a new fence, above the holder it found


async def test_a_waiter_whose_release_message_was_lost_adopts_from_the_record(
    redis_server: RedisServer, redis_client: aioredis.Redis
) -> None:
    proxy = LossyProxy(redis_server.port)
    await proxy.start()
    client = aioredis.Redis(host="127.0.0.1", port=proxy.port)
    holder_side = Leases(redis_client, namespace="lost", policy=LeasePolicy(ttl=30))
    follower_side = Leases(client, namespace="lost", policy=LeasePolicy(ttl=30, wake_fallback=0.3))
    try:
        holding = holder_side.hold_or_follow("x")
        held = await holding.__aenter__()
        assert isinstance(held, Lease)
        follower = asyncio.create_task(follower_side._take("x", 10, follow=True))
        channel = holder_side.keys("x").channel
        deadline = time.monotonic() + 5
        while not await subscribers(redis_client, channel):
            assert time.monotonic() < deadline, "the follower never subscribed"
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        # Its wake-up connection goes silent: the release message will never reach it.
        assert proxy.cut(b"SUBSCRIBE", close=False) == 1
        held.settle("answer")
        await holding.__aexit__(None, None, None)
        outcome = await asyncio.wait_for(follower, 5)
        assert outcome == Settled(result="answer", fence=held.fence)
        assert await redis_client.exists(holder_side.keys("x").lease) == 0  # nothing acquired
    finally:
        await follower_side.aclose()
        await holder_side.aclose()
        await client.aclose()
        await proxy.close()


async def test_a_holder_whose_fence_key_is_gone_is_not_followed_into_a_stale_record(
    make_leases: MakeLeases, redis_client: aioredis.Redis
) -> None:
    """The acquire script answers fence 0 for a holder whose fence key was evicted; 0 must not
    become the "adopt from" bound, or every older record would be adopted."""
    leases = make_leases(ttl=30, result_ttl=30, wake_fallback=0.05)
    async with leases.hold_or_follow("x") as older:
        assert isinstance(older, Lease)
        older.settle("stale")
    current = await leases.acquire("x")
    await redis_client.delete(leases.keys("x").fence)  # evicted
    follower = asyncio.create_task(_enter(leases.hold_or_follow("x", wait=10)))
    await asyncio.sleep(0.3)  # it found the lease busy and naps, trying again every ~50 ms
    assert not follower.done()  # the stale record was not adopted
    await current.release()
    held = await asyncio.wait_for(follower, 10)
    assert isinstance(held, Lease)  # it took the lease itself
    assert held.fence > older.fence


async def test_newer_than_adopts_only_a_later_holders_result(
    make_leases: MakeLeases,
) -> None:
    """A follower handed a result it cannot use follows again: the same result is not handed
    to it twice, the next holder's is — also when that holder was already done."""
    leases = make_leases(ttl=30, result_ttl=30, wake_fallback=30)
    async with leases.hold_or_follow("y") as first:
        assert isinstance(first, Lease)
        first.settle("not for you")
    # The record of `first` is there; past it, nothing to adopt: the lease is taken.
    async with leases.hold_or_follow("y", newer_than=first.fence) as second:
        assert isinstance(second, Lease)
        second.settle("for you")
    # A later holder settled before this turn began: adopted from its record, at once.
    async with leases.hold_or_follow("y", newer_than=first.fence) as adopted:
        assert adopted == Settled("for you", second.fence)
    # And while waiting: a holder busy now, whose result comes with its release.
    third = await leases.acquire("y")
    follower = asyncio.create_task(
        _enter(leases.hold_or_follow("y", wait=10, newer_than=second.fence))
    )
    await asyncio.sleep(0.2)
    third.settle("third")
    await third.release()
    assert await asyncio.wait_for(follower, 5) == Settled("third", third.fence)


async def test_an_unknown_fence_is_followed_past_a_result_already_seen(
    make_leases: MakeLeases, redis_client: aioredis.Redis
) -> None:
    leases = make_leases(ttl=30, result_ttl=30, wake_fallback=0.05)
    async with leases.hold_or_follow("z") as seen:
        assert isinstance(seen, Lease)
        seen.settle("seen")
    current = await leases.acquire("z")
    await redis_client.delete(leases.keys("z").fence)  # evicted while `current` holds it
    follower = asyncio.create_task(
        _enter(leases.hold_or_follow("z", wait=10, newer_than=seen.fence))
    )
    await asyncio.sleep(0.2)
    assert not follower.done()
    current.settle("current")
    await current.release()
    assert await asyncio.wait_for(follower, 5) == Settled("current", current.fence)


async def _enter(hold: Any) -> Lease | Settled:
    """Enter ``hold`` and leave it at once: what it gave."""
    async with hold as held:
        result: Lease | Settled = held
        if isinstance(held, Lease):
            held.settle("entered")
        return result
