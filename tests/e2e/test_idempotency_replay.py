"""A replay of an Idempotency-Key answer is the first answer, byte for byte, over real HTTP:
the real function_app.py on the devhost, the real Durable client, a real redis-server."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from examples.orchestrations import AWAIT_APPROVAL, PROCESS_BATCH
from tests.e2e.conftest import DevHostFactory, wait_for_status

pytestmark = pytest.mark.redis

#: Headers that differ between two answers by design: the clock, and the replay marker.
_VARYING = {"date", "idempotent-replayed"}

Answer = tuple[int, dict[str, str], bytes]


async def send(
    http: aiohttp.ClientSession, url: str, key: str, body: bytes = b'{"n": 1}'
) -> tuple[Answer, bool]:
    """What the client received (status, headers but the varying ones, raw body), and
    whether it was marked a replay."""
    async with http.post(url, data=body, headers={"Idempotency-Key": key}) as response:
        raw = await response.read()
        headers = {k.lower(): v for k, v in response.headers.items()}
    was_replayed = headers.get("idempotent-replayed") == "true"
    for name in _VARYING:
        headers.pop(name, None)
    return (response.status, headers, raw), was_replayed


async def test_every_answer_replays_byte_for_byte_over_http(
    devhost: DevHostFactory, http: aiohttp.ClientSession
) -> None:
    async with devhost(storage_latency=0.005) as host:
        # Concurrent first requests, each with its own key: one starts the instance, the
        # others are answered by its decision (adopted) or by the status after it.
        url = host.url(f"orchestrators/{AWAIT_APPROVAL}/replayed")
        keys = [f"k-{n}" for n in range(20)]
        firsts = await asyncio.gather(*(send(http, url, key) for key in keys))
        # A finished instance and the reuse policy that refuses it.
        done_url = host.url(f"orchestrators/{PROCESS_BATCH}/finished")
        started, _ = await send(http, done_url, "first", json.dumps({"items": [1]}).encode())
        await wait_for_status(http, started[1]["location"], {"Completed"})
        rejected = await send(http, done_url + "?reuse=reject", "again", b'{"items": [1]}')

        replays = await asyncio.gather(*(send(http, url, key) for key in keys))
        replay_rejected = await send(http, done_url + "?reuse=reject", "again", b'{"items": [1]}')

        statuses = sorted(answer[0] for answer, _ in firsts)
        assert statuses == [202] + [409] * 19
        details = [json.loads(answer[2])["detail"] for answer, _ in firsts if answer[0] == 409]
        assert any("a concurrent request started" in detail for detail in details)
        assert rejected[0][0] == 409
        for (first, first_replayed), (replay, was_replayed) in zip(
            [*firsts, rejected], [*replays, replay_rejected], strict=True
        ):
            assert not first_replayed
            assert was_replayed
            assert replay == first
        assert len(host.backend.start_records("replayed")) == 1
        assert len(host.backend.start_records("finished")) == 1
