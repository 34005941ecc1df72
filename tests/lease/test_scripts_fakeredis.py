"""The Lua scripts' contracts, fast, on fakeredis[lua] (the real server runs them elsewhere)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from fakeredis import FakeAsyncRedis

from singleton.lease._keys import lease_keys
from singleton.lease._store import Attempt, LeaseStore, Release

KEYS = lease_keys("unit", "x")


@pytest.fixture
async def store() -> AsyncIterator[LeaseStore]:
    client = FakeAsyncRedis()
    yield LeaseStore(client, sharded=False)
    await client.aclose()


async def test_acquire_issues_a_clock_fence_then_reports_the_holders_pttl_and_fence(
    store: LeaseStore,
) -> None:
    before = int(time.time() * 1_000_000)
    first = await store.acquire(KEYS, "a", 5000)
    assert first.acquired
    assert before - 1_000_000 < first.fence < before + 1_000_000  # microseconds since the epoch
    assert await store.client.get(KEYS.fence) == str(first.fence).encode()  # every digit kept
    assert first.after_expiry is False  # nobody held it before
    # It outlives the lease by one TTL: the trace of a lease that ran out.
    assert 9900 < await store.client.pttl(KEYS.fence) <= 10000
    busy = await store.acquire(KEYS, "b", 5000)
    assert not busy.acquired
    assert 4900 < busy.pttl_ms <= 5000
    assert busy.fence == first.fence  # the holder's


async def test_a_retried_acquire_with_the_same_token_is_ours_with_the_same_fence(
    store: LeaseStore,
) -> None:
    first = await store.acquire(KEYS, "a", 5000)
    # Whether the previous holder's lease had run out went with the lost reply: True, to check.
    assert await store.acquire(KEYS, "a", 5000) == Attempt(
        acquired=True, fence=first.fence, after_expiry=True
    )
    assert await store.client.get(KEYS.fence) == str(first.fence).encode()


async def test_a_retry_whose_fence_key_was_evicted_gets_a_new_higher_fence(
    store: LeaseStore,
) -> None:
    first = await store.acquire(KEYS, "a", 5000)
    await store.client.delete(KEYS.fence)
    again = await store.acquire(KEYS, "a", 5000)
    assert again.acquired
    assert again.fence > first.fence


async def test_a_remembered_fence_ahead_of_the_clock_is_never_reissued(store: LeaseStore) -> None:
    ahead = int(time.time() * 1_000_000) + 3_600_000_000  # as if the clock stepped back 1 h
    await store.client.set(KEYS.fence, ahead, px=5000)
    # A fence with no release record: its holder's lease ran out.
    assert await store.acquire(KEYS, "a", 5000) == Attempt(
        acquired=True, fence=ahead + 1, after_expiry=True
    )
    assert await store.release(KEYS, "a", ahead + 1, record_ttl_ms=5000) is Release.RELEASED
    assert await store.acquire(KEYS, "b", 5000) == Attempt(acquired=True, fence=ahead + 2)


async def test_release_and_extend_only_touch_our_own_lease(store: LeaseStore) -> None:
    fence = (await store.acquire(KEYS, "a", 5000)).fence
    assert await store.release(KEYS, "b", fence, record_ttl_ms=5000) is Release.TAKEN
    assert await store.extend(KEYS, "b", 9000) is False
    assert await store.client.get(KEYS.lease) == b"a"
    assert await store.extend(KEYS, "a", 9000) is True
    assert await store.client.pttl(KEYS.lease) > 5000
    assert await store.client.pttl(KEYS.fence) > 9000  # the fence key lives a TTL longer
    assert await store.release(KEYS, "a", fence, record_ttl_ms=5000) is Release.RELEASED
    assert await store.client.exists(KEYS.lease) == 0
    # Sent again (its reply was lost): the record says this token released it.
    assert await store.release(KEYS, "a", fence, record_ttl_ms=5000) is Release.RELEASED
    assert await store.release(KEYS, "b", fence, record_ttl_ms=5000) is Release.ABSENT
    after = await store.acquire(KEYS, "b", 5000)
    assert after.acquired
    assert after.fence > fence


async def test_a_flushed_script_cache_is_reloaded(store: LeaseStore) -> None:
    await store.acquire(KEYS, "a", 5000)
    await store.client.script_flush()
    assert await store.release(KEYS, "a", 1, record_ttl_ms=5000) is Release.RELEASED


async def test_a_follower_adopts_only_a_result_settled_at_or_after_its_fence(
    store: LeaseStore,
) -> None:
    first = (await store.acquire(KEYS, "a", 5000)).fence
    await store.release(KEYS, "a", first, record_ttl_ms=5000, result="first")
    second = (await store.acquire(KEYS, "b", 5000)).fence  # busy for a follower arriving now
    assert second > first
    # The first result predates the holder the follower found: not adopted, and b holds it.
    busy = await store.acquire(KEYS, "c", 5000, adopt_from=second)
    assert (busy.acquired, busy.result, busy.fence) == (False, None, second)
    await store.release(KEYS, "b", second, record_ttl_ms=5000, result="second with spaces\n")
    assert await store.acquire(KEYS, "c", 5000, adopt_from=second) == Attempt(
        acquired=False, fence=second, result="second with spaces\n"
    )
    assert await store.client.exists(KEYS.lease) == 0  # adopting took nothing


async def test_a_plain_release_leaves_nothing_to_adopt(store: LeaseStore) -> None:
    first = (await store.acquire(KEYS, "a", 5000)).fence
    await store.release(KEYS, "a", first, record_ttl_ms=5000)
    taken = await store.acquire(KEYS, "b", 5000, adopt_from=first)
    assert taken.acquired
    assert taken.result is None
    assert taken.fence > first
