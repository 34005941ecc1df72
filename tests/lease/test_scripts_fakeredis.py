"""The Lua scripts' contracts, fast, on fakeredis[lua] (the real server runs them elsewhere)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from fakeredis import FakeAsyncRedis

from singleton.lease._keys import lease_keys
from singleton.lease._store import LeaseStore

KEYS = lease_keys("unit", "x")


@pytest.fixture
async def store() -> AsyncIterator[LeaseStore]:
    client = FakeAsyncRedis()
    yield LeaseStore(client, sharded=False)
    await client.aclose()


async def test_acquire_issues_a_clock_fence_then_reports_the_holders_pttl(
    store: LeaseStore,
) -> None:
    before = int(time.time() * 1_000_000)
    acquired, fence = await store.acquire(KEYS, "a", 5000)
    assert acquired
    assert before - 1_000_000 < fence < before + 1_000_000  # microseconds since the epoch
    assert await store.client.get(KEYS.fence) == str(fence).encode()  # every digit kept
    assert 4900 < await store.client.pttl(KEYS.fence) <= 5000  # it expires with the lease
    acquired, pttl = await store.acquire(KEYS, "b", 5000)
    assert not acquired
    assert 4900 < pttl <= 5000


async def test_a_retried_acquire_with_the_same_token_is_ours_with_the_same_fence(
    store: LeaseStore,
) -> None:
    _, fence = await store.acquire(KEYS, "a", 5000)
    assert await store.acquire(KEYS, "a", 5000) == (True, fence)
    assert await store.client.get(KEYS.fence) == str(fence).encode()


async def test_a_retry_whose_fence_key_was_evicted_gets_a_new_higher_fence(
    store: LeaseStore,
) -> None:
    _, fence = await store.acquire(KEYS, "a", 5000)
    await store.client.delete(KEYS.fence)
    acquired, again = await store.acquire(KEYS, "a", 5000)
    assert acquired
    assert again > fence


async def test_a_remembered_fence_ahead_of_the_clock_is_never_reissued(store: LeaseStore) -> None:
    ahead = int(time.time() * 1_000_000) + 3_600_000_000  # as if the clock stepped back 1 h
    await store.client.set(KEYS.fence, ahead, px=5000)
    assert await store.acquire(KEYS, "a", 5000) == (True, ahead + 1)
    assert await store.release(KEYS, "a") is True
    assert await store.acquire(KEYS, "b", 5000) == (True, ahead + 2)


async def test_release_and_extend_only_touch_our_own_lease(store: LeaseStore) -> None:
    _, fence = await store.acquire(KEYS, "a", 5000)
    assert await store.release(KEYS, "b") is False
    assert await store.extend(KEYS, "b", 9000) is False
    assert await store.client.get(KEYS.lease) == b"a"
    assert await store.extend(KEYS, "a", 9000) is True
    assert await store.client.pttl(KEYS.lease) > 5000
    assert await store.client.pttl(KEYS.fence) > 5000  # the fence key lives as long
    assert await store.release(KEYS, "a") is True
    assert await store.client.exists(KEYS.lease) == 0
    acquired, next_fence = await store.acquire(KEYS, "b", 5000)
    assert acquired
    assert next_fence > fence


async def test_a_flushed_script_cache_is_reloaded(store: LeaseStore) -> None:
    await store.acquire(KEYS, "a", 5000)
    await store.client.script_flush()
    assert await store.release(KEYS, "a") is True
