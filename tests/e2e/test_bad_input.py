"""Hostile bodies and instance IDs over real HTTP: a 4xx, nothing started, no lease taken.

Each case goes through the devhost to function_app.py's starter, with the real Durable
client and a real redis-server. "Nothing started" is read from the backend (its start
records and its instance list), "no lease" from Redis itself (no key at all: no lease, no
fence), not from the status code alone.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis
from yarl import URL

from devhost import RunningDevHost
from examples.orchestrations import AWAIT_APPROVAL
from tests.e2e.conftest import DevHostFactory
from tests.redis_servers import running_redis_server

pytestmark = pytest.mark.redis

HOSTILE_BODIES: dict[str, bytes] = {
    "NaN": b'{"x": NaN}',
    "Infinity": b"[Infinity]",
    "-Infinity": b"-Infinity",
    "a float that overflows to inf": b"1e999",
    "a 5,000-digit integer": b"9" * 5000,
    "a 5,000-digit negative integer inside an object": b'{"n": -' + b"9" * 5000 + b"}",
    "[ x 100000": b"[" * 100_000,
    "[ x 100000 closed": b"[" * 100_000 + b"]" * 100_000,
    '{"a": x 5000': b'{"a":' * 5000,
    "65 levels deep (limit 64)": b"[" * 65 + b"]" * 65,
    "invalid UTF-8": b'{"x": "\xff\xfe"}',
    "UTF-16 with a BOM": '{"x": 1}'.encode("utf-16"),
    "a UTF-8 BOM": b'\xef\xbb\xbf{"x": 1}',
    "truncated": b'{"x": [1, 2',
    "trailing garbage": b'{"x": 1} x',
    "single quotes": b"{'x': 1}",
}

# Percent-encoded on the wire so the request reaches the starter with the ID decoded.
HOSTILE_IDS: dict[str, str] = {
    "dot": "%2E",
    "dot-dot": "%2E%2E",
    "percent": "a%25b",
    "space": "a%20b",
    "question mark": "a%3Fb",
    "hash": "a%23b",
    "backslash": "a%5Cb",
    "leading @": "%40entity",
    "NUL": "a%00b",
    "tab": "a%09b",
    "DEL": "a%7Fb",
    "257 characters": "x" * 257,
}


async def post(
    http: aiohttp.ClientSession, url: str | URL, body: bytes = b""
) -> tuple[int, str, dict[str, Any]]:
    async with http.post(url, data=body) as response:
        return (
            response.status,
            response.headers.get("Content-Type", ""),
            await response.json(content_type=None),
        )


async def assert_nothing_started(host: RunningDevHost, redis_client: aioredis.Redis) -> None:
    assert await host.backend.list_states() == []
    assert await redis_client.keys("*") == []


@pytest.mark.parametrize("body", HOSTILE_BODIES.values(), ids=HOSTILE_BODIES.keys())
async def test_a_hostile_body_is_a_400_and_starts_nothing(
    devhost: DevHostFactory,
    http: aiohttp.ClientSession,
    redis_client: aioredis.Redis,
    body: bytes,
) -> None:
    async with devhost() as host:
        status, content_type, problem = await post(
            http, host.url(f"orchestrators/{AWAIT_APPROVAL}/hostile-body"), body
        )

        assert status == 400, problem
        assert content_type.startswith("application/problem+json")
        assert "request body" in problem["detail"]
        assert host.backend.start_records("hostile-body") == []
        await assert_nothing_started(host, redis_client)


async def test_a_body_over_the_limit_is_a_413_and_starts_nothing(
    devhost: DevHostFactory,
    http: aiohttp.ClientSession,
    redis_client: aioredis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SINGLETON_MAX_BODY_BYTES", "1000")
    async with devhost() as host:
        url = host.url(f"orchestrators/{AWAIT_APPROVAL}/big")
        too_big = b'"' + b"x" * 999 + b'"'  # 1001 bytes of valid JSON

        status, _, problem = await post(http, url, too_big)

        assert status == 413, problem
        assert "1001 bytes" in problem["detail"]
        assert "SINGLETON_MAX_BODY_BYTES" in problem["detail"]
        assert host.backend.start_records("big") == []
        await assert_nothing_started(host, redis_client)

        status, _, _ = await post(http, url, too_big[:-2] + b'"')  # 1000 bytes: allowed
        assert status == 202
        assert len(host.backend.start_records("big")) == 1


async def test_a_malformed_body_limit_is_a_500_naming_the_setting(
    devhost: DevHostFactory,
    http: aiohttp.ClientSession,
    redis_client: aioredis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SINGLETON_MAX_BODY_BYTES", "lots")
    async with devhost() as host:
        status, _, problem = await post(http, host.url(f"orchestrators/{AWAIT_APPROVAL}/x"))

        assert status == 500
        assert "SINGLETON_MAX_BODY_BYTES" in problem["detail"]
        await assert_nothing_started(host, redis_client)


@pytest.mark.parametrize("encoded_id", HOSTILE_IDS.values(), ids=HOSTILE_IDS.keys())
async def test_a_hostile_instance_id_is_a_400_before_any_lease(
    devhost: DevHostFactory,
    http: aiohttp.ClientSession,
    redis_client: aioredis.Redis,
    encoded_id: str,
) -> None:
    async with devhost() as host:
        url = URL(host.url(f"orchestrators/{AWAIT_APPROVAL}/{encoded_id}"), encoded=True)

        status, content_type, problem = await post(http, url, b'{"x": 1}')

        assert status == 400, problem
        assert content_type.startswith("application/problem+json")
        assert "instance ID" in problem["detail"] or "instance id" in problem["detail"].lower()
        await assert_nothing_started(host, redis_client)


async def test_the_checks_above_see_a_start_when_there_is_one(
    devhost: DevHostFactory, http: aiohttp.ClientSession, redis_client: aioredis.Redis
) -> None:
    """The control: a valid start leaves an instance and a Redis key, so their absence in the
    tests above means something."""
    async with devhost() as host:
        status, _, _ = await post(
            http, host.url(f"orchestrators/{AWAIT_APPROVAL}/control"), b'{"x": 1}'
        )

        assert status == 202
        assert [state.instance_id for state in await host.backend.list_states()] == ["control"]
        assert await redis_client.keys("*") != []


async def test_no_answer_names_an_internal_address(
    devhost: DevHostFactory,
    http: aiohttp.ClientSession,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Redis gone after start: a 503 whose body names no host or port (the log has them)."""
    with running_redis_server() as doomed:
        monkeypatch.setenv("REDIS_URL", doomed.url)
        monkeypatch.setenv("REDIS_RETRIES", "0")
        async with devhost() as host:
            doomed.stop()
            url = host.url(f"orchestrators/{AWAIT_APPROVAL}/no-redis")
            async with http.post(url) as response:
                text = await response.text()
                assert response.status == 503

    assert str(doomed.port) not in text
    assert "127.0.0.1" not in text
    assert "nothing was started" in text
    assert host.backend.start_records("no-redis") == []
