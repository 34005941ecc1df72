"""A release hands the lease straight to the first waiter in line (QUEUE's ``grant``): the
waiter holds it without another round trip. On a real redis-server, with real processes
where a waiter must be stopped mid-line."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from singleton.lease._keys import LeaseKeys
from singleton.lease._leases import LeasePolicy, Leases
from singleton.lease._store import Release
from tests.lease.conftest import MakeLeases
from tests.lease.test_fair import stop, until, waiters
from tests.redis_servers import RedisServer

pytestmark = pytest.mark.redis

PLACE_MS = 3000  # how long a place in line lives past a try (3 fallbacks of 1 s)


async def join_line(leases: Leases, keys: LeaseKeys, token: str) -> None:
    """``token`` tries the busy lease and so takes its place in line (as a waiter would)."""
    attempt = await leases.store.acquire(keys, token, 30_000, place_ms=PLACE_MS)
    assert not attempt.acquired


@contextlib.asynccontextmanager
async def listening(client: aioredis.Redis, channel: str) -> AsyncIterator[aioredis.client.PubSub]:
    """A subscription to ``channel``, confirmed before the block runs."""
    pubsub = client.pubsub()
    await pubsub.subscribe(channel)
    await pubsub.get_message(timeout=1.0)  # the subscription's confirmation
    try:
        yield pubsub
    finally:
        await pubsub.aclose()


async def next_message(pubsub: aioredis.client.PubSub) -> str:
    """The next message published on the subscribed channel."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
        if message is not None:
            return message["data"].decode()  # type: ignore[no-any-return]
    pytest.fail("no message on the lease's channel")


async def test_a_release_hands_the_lease_to_the_first_in_line(
    make_leases: MakeLeases, redis_client: aioredis.Redis
) -> None:
    leases = make_leases(ttl=30)
    keys = leases.keys("handed")
    holder = await leases.acquire("handed")
    await join_line(leases, keys, "first")
    await join_line(leases, keys, "second")
    async with listening(redis_client, keys.channel) as pubsub:
        assert await holder.release()
        # The first in line holds it now, before it has sent anything: for what its place
        # had left, with the fence the fence key remembers; it has left the line.
        assert await redis_client.get(keys.lease) == b"first"
        left = int(await redis_client.pttl(keys.lease))
        assert PLACE_MS - 1000 < left <= PLACE_MS
        fence = int(await redis_client.get(keys.fence))
        assert fence > holder.fence
        assert await redis_client.zrange(keys.queue, 0, -1) == [b"second"]
        # One message, to that waiter only: its token, its fence, and when the lease runs out
        # by the server's clock (when its place would have).
        token, given_fence, until = (await next_message(pubsub)).removeprefix("next ").split()
        assert (token, int(given_fence)) == ("first", fence)
        seconds, micros = await redis_client.time()
        assert abs(int(until) - (seconds * 1000 + micros // 1000) - left) < 100


async def test_a_waiter_holds_the_handed_lease_and_extends_it_to_its_ttl(
    make_leases: MakeLeases, redis_client: aioredis.Redis
) -> None:
    leases = make_leases(ttl=30, wake_fallback=30)  # no fallback tries: only the hand-off
    keys = leases.keys("extended")
    holder = await leases.acquire("extended")
    waiter = asyncio.create_task(leases.acquire("extended", wait=10))
    await until(lambda: _in_line(redis_client, keys, 1), "the waiter in line")
    # Subscribed too: a release before that is found by the waiter's next try instead, which
    # counts it (to be safe) as after an expiry.
    await until(lambda: _subscribed(redis_client, keys.channel), "the waiter subscribed")
    await asyncio.sleep(0.2)  # and its try after the confirmation answered (busy)
    await holder.release()
    lease = await asyncio.wait_for(waiter, 2)
    assert lease.fence == int(await redis_client.get(keys.fence))
    assert await redis_client.get(keys.lease) == lease.token.encode()
    assert not lease.after_expiry  # handed over by a release, not after an expiry

    async def extended() -> bool:
        return int(await redis_client.pttl(keys.lease)) > 25_000 and lease.remaining() > 25

    await until(extended, "the handed lease extended to its 30 s TTL", timeout=5)
    assert await lease.release()


async def test_a_hold_handed_the_lease_is_renewed_and_kept(
    make_leases: MakeLeases, redis_client: aioredis.Redis
) -> None:
    # The place's 3 s would end the hold if the lease were not extended to its TTL at once.
    leases = make_leases(ttl=6, wake_fallback=1)
    keys = leases.keys("kept")
    holder = await leases.acquire("kept")
    entered = asyncio.Event()

    async def hold() -> int:
        async with leases.hold("kept", wait=10) as lease:
            entered.set()
            await asyncio.sleep(4)  # past the 3 s place
            return lease.fence

    holding = asyncio.create_task(hold())
    await until(lambda: _in_line(redis_client, keys, 1), "the waiter in line")
    await holder.release()
    await asyncio.wait_for(entered.wait(), 2)
    fence = await asyncio.wait_for(holding, 10)  # no LeaseLost
    assert fence > holder.fence


async def test_a_retried_release_after_the_hand_over_is_still_a_release(
    make_leases: MakeLeases, redis_client: aioredis.Redis
) -> None:
    leases = make_leases(ttl=30)
    keys = leases.keys("retried")
    holder = await leases.acquire("retried")
    await join_line(leases, keys, "next-one")

    async def release() -> Release:
        return await leases.store.release(keys, holder.token, holder.fence, record_ttl_ms=5000)

    assert await release() is Release.RELEASED
    # redis-py sends it again after a lost reply: the lease is the next one's by now, and
    # the record tells this release it did that — not "taken by another holder".
    assert await release() is Release.RELEASED
    assert await redis_client.get(keys.lease) == b"next-one"


async def test_a_waiter_that_leaves_as_it_is_handed_the_lease_gives_it_back(
    make_leases: MakeLeases, redis_client: aioredis.Redis
) -> None:
    leases = make_leases(ttl=30)
    keys = leases.keys("left")
    holder = await leases.acquire("left")
    await join_line(leases, keys, "leaving")
    await join_line(leases, keys, "staying")
    await holder.release()  # handed to "leaving", which gives up its wait just then
    assert await redis_client.get(keys.lease) == b"leaving"
    async with listening(redis_client, keys.channel) as pubsub:
        assert await leases.store.leave(keys, "leaving")
        assert not await redis_client.exists(keys.lease)  # free again, not held for 3 s
        assert await next_message(pubsub) == "next staying"  # and the next one told


async def test_a_waiter_that_misses_the_hand_over_finds_the_lease_its_own(
    make_leases: MakeLeases, redis_client: aioredis.Redis
) -> None:
    # A lost message, or a waiter of an earlier version that only knows 'next <token>'.
    leases = make_leases(ttl=30)
    keys = leases.keys("missed")
    holder = await leases.acquire("missed")
    await join_line(leases, keys, "deaf")
    await holder.release()
    fence = int(await redis_client.get(keys.fence))
    attempt = await leases.store.acquire(keys, "deaf", 30_000, place_ms=PLACE_MS)
    assert attempt.acquired
    assert attempt.fence == fence  # the one the hand-over issued
    assert int(await redis_client.pttl(keys.lease)) > 25_000  # its own TTL from now


async def test_a_waiter_stopped_past_its_hand_over_never_overlaps_the_next_holder(
    redis_server: RedisServer, redis_client: aioredis.Redis
) -> None:
    # The stopped waiter (another process, place 3 s) is handed the lease at the release; a
    # second waiter takes it once that hand-over ran out. Resumed, the first must not think
    # it holds the lease: the hand-over's time is gone by its own clock, so it tries again.
    namespace = "fair"  # the contender's
    holder_leases = Leases(redis_client, namespace=namespace, policy=LeasePolicy(ttl=30))
    second_leases = Leases(
        redis_client, namespace=namespace, policy=LeasePolicy(ttl=30, wake_fallback=0.2)
    )
    keys = holder_leases.keys("stopped")
    holder = await holder_leases.acquire("stopped")
    stopped = waiters("line", redis_server.url, "stopped", 1)
    try:
        await until(lambda: _in_line(redis_client, keys, 1), "the waiter in line")
        os.kill(stopped.pid, signal.SIGSTOP)
        second = asyncio.create_task(second_leases.acquire("stopped", wait=20))
        await until(lambda: _in_line(redis_client, keys, 2), "the second waiter in line")
        released_at = time.monotonic()
        await holder.release()  # handed to the stopped waiter
        lease = await asyncio.wait_for(second, 10)
        assert time.monotonic() - released_at < 3.5  # no later than the place's end
        await redis_client.incr("holders")  # as the contender counts its holders
        os.kill(stopped.pid, signal.SIGCONT)
        await asyncio.sleep(1.5)  # the resumed waiter acts on what it missed
        assert await redis_client.llen("served") == 0  # it does not hold it meanwhile
        await redis_client.decr("holders")
        assert await lease.release()  # handed over to it now, properly
        await until(lambda: _served(redis_client), "the resumed waiter served", timeout=10)
        assert await redis_client.get("overlaps") is None
    finally:
        os.kill(stopped.pid, signal.SIGCONT)
        stop([stopped])
        await holder_leases.aclose()
        await second_leases.aclose()


async def _in_line(client: aioredis.Redis, keys: LeaseKeys, count: int) -> bool:
    return int(await client.zcard(keys.queue)) == count


async def _subscribed(client: aioredis.Redis, channel: str) -> bool:
    counts = await client.pubsub_numsub(channel)
    return bool(counts and int(counts[0][1]) > 0)


async def _served(client: aioredis.Redis) -> bool:
    return int(await client.llen("served")) == 1
