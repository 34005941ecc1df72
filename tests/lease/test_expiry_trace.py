"""A lease taken after its previous holder's lease *ran out* says so (``Lease.after_expiry``):
the fence key outlives the lease by one TTL, and a release cuts it to its record's life.

Real redis-server."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from singleton._errors import LeaseLost
from singleton.lease import Lease
from singleton.lease._admin import force_release
from tests.lease.conftest import MakeLeases

pytestmark = pytest.mark.redis


async def test_a_lease_nobody_held_is_not_after_expiry(make_leases: MakeLeases) -> None:
    lease = await make_leases(ttl=5).acquire("fresh")
    assert lease.after_expiry is False


async def test_a_released_lease_is_not_after_expiry(make_leases: MakeLeases) -> None:
    leases = make_leases(ttl=5)
    async with leases.hold("r"):
        pass
    plain = await leases.acquire("r")
    await plain.release()
    async with leases.hold_or_follow("r") as held:
        assert isinstance(held, Lease)
        assert held.after_expiry is False
        held.settle("done")
    assert (await leases.acquire("r")).after_expiry is False


async def test_a_lease_that_ran_out_is_after_expiry_for_one_ttl(
    make_leases: MakeLeases, redis_client: aioredis.Redis
) -> None:
    leases = make_leases(ttl=0.4, wait=5)
    dead = await leases.acquire("e")  # its holder "dies": never released
    taken = await leases.acquire("e")  # waits until it runs out
    assert taken.fence > dead.fence
    assert taken.after_expiry is True
    last = await leases.acquire("e")  # `taken` ran out too, unreleased
    assert last.after_expiry is True
    await asyncio.sleep(1.0)  # `last` ran out, and its fence key's trace (two TTLs) too
    assert await redis_client.exists(leases.keys("e").fence) == 0
    assert (await leases.acquire("e")).after_expiry is False


async def test_a_force_released_lease_is_after_expiry(make_leases: MakeLeases) -> None:
    leases = make_leases(ttl=30)
    await leases.acquire("f")
    assert await force_release(leases, "f")
    assert (await leases.acquire("f")).after_expiry is True


async def test_a_renewed_lease_leaves_its_trace_past_its_end(
    make_leases: MakeLeases,
) -> None:
    leases = make_leases(ttl=0.4, renew_every=0.1, wait=5)
    hold = leases.hold("g")
    renewed = asyncio.Event()

    async def stalling_holder() -> None:
        async with hold:
            await asyncio.sleep(0.6)  # renewed past its first TTL
            hold.stop_renewing()  # then its holder stalls: the lease runs out
            renewed.set()
            await asyncio.sleep(30)

    holder = asyncio.create_task(stalling_holder())
    await renewed.wait()
    taken = await leases.acquire("g", wait=5)
    assert taken.after_expiry is True
    with pytest.raises(LeaseLost):
        await holder
