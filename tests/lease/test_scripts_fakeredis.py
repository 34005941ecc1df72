"""The Lua scripts' contracts, fast, on fakeredis[lua] (the real server runs them elsewhere)."""

from __future__ import annotations

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


async def test_acquire_issues_fence_one_then_reports_the_holders_pttl_and_fence(
    store: LeaseStore,
) -> None:
    assert await store.acquire(KEYS, "a", 5000) == Attempt(acquired=True, fence=1)
    busy = await store.acquire(KEYS, "b", 5000)
    assert not busy.acquired
    assert 4900 < busy.pttl_ms <= 5000
    assert busy.fence == 1  # the holder's


async def test_a_retried_acquire_with_the_same_token_is_ours_with_the_same_fence(
    store: LeaseStore,
) -> None:
    assert await store.acquire(KEYS, "a", 5000) == Attempt(acquired=True, fence=1)
    assert await store.acquire(KEYS, "a", 5000) == Attempt(acquired=True, fence=1)
    assert await store.client.get(KEYS.fence) == b"1"


async def test_release_and_extend_only_touch_our_own_lease(store: LeaseStore) -> None:
    await store.acquire(KEYS, "a", 5000)
    assert await store.release(KEYS, "b", 1, record_ttl_ms=5000) is Release.TAKEN
    assert await store.extend(KEYS, "b", 9000) is False
    assert await store.client.get(KEYS.lease) == b"a"
    assert await store.extend(KEYS, "a", 9000) is True
    assert await store.client.pttl(KEYS.lease) > 5000
    assert await store.release(KEYS, "a", 1, record_ttl_ms=5000) is Release.RELEASED
    assert await store.client.exists(KEYS.lease) == 0
    # Sent again (its reply was lost): the record says this token released it.
    assert await store.release(KEYS, "a", 1, record_ttl_ms=5000) is Release.RELEASED
    assert await store.release(KEYS, "b", 1, record_ttl_ms=5000) is Release.ABSENT
    assert await store.acquire(KEYS, "b", 5000) == Attempt(acquired=True, fence=2)


async def test_a_flushed_script_cache_is_reloaded(store: LeaseStore) -> None:
    await store.acquire(KEYS, "a", 5000)
    await store.client.script_flush()
    assert await store.release(KEYS, "a", 1, record_ttl_ms=5000) is Release.RELEASED


async def test_a_follower_adopts_only_a_result_settled_at_or_after_its_fence(
    store: LeaseStore,
) -> None:
    await store.acquire(KEYS, "a", 5000)  # fence 1
    await store.release(KEYS, "a", 1, record_ttl_ms=5000, result="first")
    await store.acquire(KEYS, "b", 5000)  # fence 2: busy for a follower arriving now
    # fence 1's result predates the holder the follower found: not adopted, and b holds it.
    busy = await store.acquire(KEYS, "c", 5000, adopt_from=2)
    assert (busy.acquired, busy.result, busy.fence) == (False, None, 2)
    await store.release(KEYS, "b", 2, record_ttl_ms=5000, result="second with spaces\n")
    assert await store.acquire(KEYS, "c", 5000, adopt_from=2) == Attempt(
        acquired=False, fence=2, result="second with spaces\n"
    )
    assert await store.client.exists(KEYS.lease) == 0  # adopting took nothing


async def test_a_plain_release_leaves_nothing_to_adopt(store: LeaseStore) -> None:
    await store.acquire(KEYS, "a", 5000)
    await store.release(KEYS, "a", 1, record_ttl_ms=5000)
    assert await store.acquire(KEYS, "b", 5000, adopt_from=1) == Attempt(acquired=True, fence=2)
