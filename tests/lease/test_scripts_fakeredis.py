"""The Lua scripts' contracts, fast, on fakeredis[lua] (the real server runs them elsewhere)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fakeredis import FakeAsyncRedis

from singleton.lease._keys import lease_keys
from singleton.lease._store import LeaseStore, Release

KEYS = lease_keys("unit", "x")


@pytest.fixture
async def store() -> AsyncIterator[LeaseStore]:
    client = FakeAsyncRedis()
    yield LeaseStore(client, sharded=False)
    await client.aclose()


async def test_acquire_issues_fence_one_then_reports_the_holders_pttl(store: LeaseStore) -> None:
    assert await store.acquire(KEYS, "a", 5000) == (True, 1)
    acquired, pttl = await store.acquire(KEYS, "b", 5000)
    assert not acquired
    assert 4900 < pttl <= 5000


async def test_a_retried_acquire_with_the_same_token_is_ours_with_the_same_fence(
    store: LeaseStore,
) -> None:
    assert await store.acquire(KEYS, "a", 5000) == (True, 1)
    assert await store.acquire(KEYS, "a", 5000) == (True, 1)
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
    assert await store.acquire(KEYS, "b", 5000) == (True, 2)


async def test_a_flushed_script_cache_is_reloaded(store: LeaseStore) -> None:
    await store.acquire(KEYS, "a", 5000)
    await store.client.script_flush()
    assert await store.release(KEYS, "a", 1, record_ttl_ms=5000) is Release.RELEASED
