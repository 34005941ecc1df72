"""The wake-up subscriber heals itself: no health-check race, a dead connection noticed by a
round trip, bounded waits whatever the connection does, nothing left behind by a waiter
that leaves early. Real redis-server, a misbehaving TCP proxy."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time

import pytest
import redis.asyncio as aioredis

from singleton._errors import LeaseBusy
from singleton.lease._leases import Lease, LeasePolicy, Leases
from singleton.lease._wakeups import Signal, WakeUps
from tests.lease.conftest import subscribers, until
from tests.lease.servers import LossyProxy
from tests.redis_servers import RedisServer

pytestmark = pytest.mark.redis

# redis-py 8.2 runs a due health check between the two CLIENT SETINFO commands it pipelines
# on connect: with a 5 ms interval the PING can read SETINFO's error from a Redis older than
# 7.2 (this machine's 7.0), and the connect fails (LeaseUnavailable, nothing held). That is
# redis-py's, not the lease's: this test turns SETINFO off (driver_info=None; lib_name=None
# before redis-py 8.2) to test the wake-ups alone.
_NO_SETINFO: dict[str, None] = (
    {"driver_info": None}
    if "driver_info" in inspect.signature(aioredis.Redis.__init__).parameters
    else {"lib_name": None}
)


async def test_many_first_waiters_after_quiet_spells_never_race_a_health_check(
    redis_server: RedisServer,
) -> None:
    # A health check due on every command: each round's first SUBSCRIBE comes after a spell
    # longer than that, which is what made redis-py PING and read beside the listener's read.
    client = aioredis.Redis(
        host="127.0.0.1", port=redis_server.port, health_check_interval=0.005, **_NO_SETINFO
    )
    # Fallbacks far beyond the test: every waiter must be woken by its push.
    leases = Leases(client, namespace="storm", policy=LeasePolicy(ttl=30, wake_fallback=30))
    try:
        for round_number in range(8):
            names = [f"r{round_number}-{n}" for n in range(12)]
            holders = [await leases.acquire(name) for name in names]
            waiters = [asyncio.create_task(leases.acquire(name, wait=20)) for name in names]
            await asyncio.sleep(0.05)  # every waiter subscribed, tried and asleep
            started = time.monotonic()
            for holder in holders:
                await holder.release()
            won: list[Lease] = await asyncio.wait_for(asyncio.gather(*waiters), 5)
            assert time.monotonic() - started < 1  # pushed, none stranded until a fallback
            # Each waiter acquired its own name right after its holder: a newer fence.
            assert all(w.fence > h.fence for w, h in zip(won, holders, strict=True))
            for lease in won:
                await lease.release()
            await asyncio.sleep(0.02)  # a quiet spell: the health check falls due again
    finally:
        await leases.aclose()
        await client.aclose()


async def test_a_half_open_wakeup_connection_still_wakes_waiters_and_is_replaced(
    proxy: LossyProxy, redis_client: aioredis.Redis
) -> None:
    client = aioredis.Redis(host="127.0.0.1", port=proxy.port)
    fallback = 0.3
    leases = Leases(client, namespace="half-open", policy=LeasePolicy(ttl=30, wake_fallback=0.3))
    try:
        holder = await leases.acquire("warm-up")  # the wake-up connection is made and used
        waiter = asyncio.create_task(leases.acquire("warm-up", wait=10))
        await until(
            lambda: subscribers(redis_client, leases.keys("warm-up").channel),
            "the wake-up connection did not subscribe",
        )
        await holder.release()
        await (await waiter).release()
        # The connection goes silent both ways and stays open: no error will ever come.
        assert proxy.cut(b"SUBSCRIBE", close=False) == 1

        holder = await leases.acquire("x")
        waiter = asyncio.create_task(leases.acquire("x", wait=10))
        await asyncio.sleep(0.05)
        started = time.monotonic()
        await holder.release()
        lease = await asyncio.wait_for(waiter, 5)
        # Its SUBSCRIBE was never confirmed; the fallback wakes it, not its 10 s deadline.
        assert time.monotonic() - started < 2 * fallback
        assert lease.fence > holder.fence
        await lease.release()

        # A round trip (PING, SUBSCRIBE) went unanswered: the connection is replaced and
        # a new waiter's channel is subscribed on the new one.
        holder = await leases.acquire("y")
        waiter = asyncio.create_task(leases.acquire("y", wait=10))
        await until(
            lambda: subscribers(redis_client, leases.keys("y").channel),
            "the wake-up connection was not replaced",
            timeout=10 * fallback,
        )
        await holder.release()
        await (await asyncio.wait_for(waiter, 5)).release()
    finally:
        await leases.aclose()
        await client.aclose()


async def test_waiters_keep_their_deadlines_while_the_wakeup_connection_reconnects(
    proxy: LossyProxy,
) -> None:
    client = aioredis.Redis(host="127.0.0.1", port=proxy.port, socket_timeout=5)
    leases = Leases(client, namespace="deadlines", policy=LeasePolicy(ttl=30, wake_fallback=30))
    try:
        holder = await leases.acquire("warm-up")
        first = asyncio.create_task(leases.acquire("warm-up", wait=10))
        await asyncio.sleep(0.1)  # subscribed over the proxy
        await holder.release()
        await (await first).release()
        await asyncio.gather(*(client.ping() for _ in range(8)))  # pooled connections, warm
        # The wake-up connection dies, and reconnecting hangs (new connections go nowhere,
        # for the 5 s socket timeout); the lease client's pooled connection still works.
        proxy.black_hole_new_connections()
        assert proxy.cut(b"SUBSCRIBE", close=True) == 1
        await asyncio.sleep(0.2)  # the wake-up side noticed, and is reconnecting
        busy = [await leases.acquire(f"busy-{n}") for n in range(3)]
        started = time.monotonic()
        outcomes = await asyncio.gather(
            *(leases.acquire(lease.name, wait=0.3) for lease in busy), return_exceptions=True
        )
        assert all(isinstance(outcome, LeaseBusy) for outcome in outcomes)
        assert time.monotonic() - started < 0.6  # each gave up at its own deadline
    finally:
        await leases.aclose()
        await client.aclose()


async def test_waiters_cancelled_before_their_subscription_is_confirmed_leave_nothing_behind(
    proxy: LossyProxy, redis_client: aioredis.Redis
) -> None:
    client = aioredis.Redis(host="127.0.0.1", port=proxy.port)
    leases = Leases(client, namespace="cancelled", policy=LeasePolicy(ttl=30, wake_fallback=30))
    try:
        holder = await leases.acquire("x")
        channel = leases.keys("x").channel
        proxy.hold_replies_to(b"SUBSCRIBE")  # Redis subscribes; the confirmation never comes
        waiters = [asyncio.create_task(leases.acquire("x", wait=10)) for _ in range(3)]
        await until(lambda: subscribers(redis_client, channel), "the waiters did not subscribe")
        await asyncio.sleep(0.05)
        assert not any(waiter.done() for waiter in waiters)  # all waiting for the confirmation
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
        await until(
            lambda: _no_subscribers(redis_client, channel),
            "a cancelled waiter's subscription was left behind",
        )
        await holder.release()
    finally:
        await leases.aclose()
        await client.aclose()


async def _no_subscribers(client: aioredis.Redis, channel: str) -> bool:
    return await subscribers(client, channel) == 0


async def test_a_waiter_registering_while_its_channel_is_unsubscribed_waits_for_redis(
    redis_client: aioredis.Redis,
) -> None:
    """The last waiter of a channel leaves, the subscriber sends UNSUBSCRIBE, and a new waiter
    of the same channel registers while that command is out. It must not be told "subscribed"
    until Redis has the subscription again (it was at once: a release then went unseen and the
    waiter slept its fallback nap)."""
    wakeups = WakeUps(redis_client)
    channel = "unsubscribing"
    seen: dict[str, object] = {}
    late = contextlib.ExitStack()
    try:
        with wakeups.watch(channel) as first:
            assert await first.subscribed(5)
            assert await subscribers(redis_client, channel) == 1
            subscriber = wakeups._subscribers[""]
            send = subscriber._send

            async def send_then_register(*command: str) -> None:
                await send(*command)
                if command[0] != "UNSUBSCRIBE" or "signal" in seen:
                    return
                await until(  # Redis has dropped the subscription
                    lambda: _no_subscribers(redis_client, channel), "UNSUBSCRIBE had no effect"
                )
                signal = seen["signal"] = late.enter_context(wakeups.watch(channel))
                seen["told subscribed"] = await signal.subscribed(0.2)
                seen["subscribers then"] = await subscribers(redis_client, channel)

            subscriber._send = send_then_register  # type: ignore[method-assign]
        await until(lambda: _is_set(seen, "subscribers then"), "no UNSUBSCRIBE was sent")
        assert seen["told subscribed"] is False, seen  # Redis had no subscriber then
        signal = seen["signal"]
        assert isinstance(signal, Signal)
        assert await signal.subscribed(5)
        assert await subscribers(redis_client, channel) == 1
        await redis_client.publish(channel, "released")
        assert await signal.wait(5)
    finally:
        late.close()
        await wakeups.aclose()


async def _is_set(seen: dict[str, object], key: str) -> bool:
    return key in seen
