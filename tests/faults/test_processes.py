"""Four OS processes start one instance ID against one Durable backend with the Azure
Storage race switched on (storage latency: the duplicate check and the write are separate
steps and a conflicting write is swallowed). Counted from the backend's start records."""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from singleton.lease._keys import lease_keys
from tests.faults.conftest import (
    HUB,
    racer_processes,
    read_json_line,
    served_backend,
)
from tests.redis_servers import RedisServer

pytestmark = pytest.mark.redis

PROCESSES = 4
STORAGE_LATENCY = 0.02  # seconds per store operation, about an Azure Storage round trip
CI_TRIALS = 15
LONG_TRIALS = 200


async def run_trials(
    tmp_path: Path, redis_server: RedisServer, trials: int, mode: str
) -> tuple[Counter[str], int]:
    """Outcomes reported by the processes, and how many trials the store started twice."""
    reported: Counter[str] = Counter()
    doubled = 0
    async with served_backend(storage_latency=STORAGE_LATENCY) as served:
        with racer_processes(
            tmp_path, served.binding, redis_server.url, count=PROCESSES, mode=mode
        ) as racers:
            for trial in range(trials):
                instance_id = f"{mode}-{trial}"
                answers = await asyncio.to_thread(racers.race, instance_id)
                reported.update(answer["outcome"] for answer in answers)
                started = sum(answer["outcome"] == "started" for answer in answers)
                # The store's own count of 202s it gave for this ID.
                assert served.started(instance_id) == started, (instance_id, answers)
                assert served.created(instance_id) == 1, instance_id
                if served.started(instance_id) > 1:
                    doubled += 1
    return reported, doubled


async def test_the_unguarded_start_shows_the_race_the_suite_must_catch(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """The control: the documentation's check-then-start, same processes and backend."""
    _, doubled = await run_trials(tmp_path, redis_server, 8, "unguarded")
    assert doubled >= 1, "the race never showed: the setup could not catch a double start"


async def check_guarded(tmp_path: Path, redis_server: RedisServer, trials: int) -> None:
    reported, doubled = await run_trials(tmp_path, redis_server, trials, "guarded")
    assert doubled == 0
    assert reported["started"] == trials
    assert reported["started"] + reported["already_running"] == trials * PROCESSES, reported


async def test_four_processes_start_one_id_exactly_once(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    await check_guarded(tmp_path, redis_server, CI_TRIALS)


@pytest.mark.faults_long
async def test_four_processes_start_one_id_exactly_once_200_trials(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    await check_guarded(tmp_path, redis_server, LONG_TRIALS)


async def test_a_holder_killed_mid_start_blocks_the_id_only_until_its_lease_expires(
    tmp_path: Path, redis_server: RedisServer, redis_client: aioredis.Redis
) -> None:
    """SIGKILL a process while it holds the lease (its status read under the lease is slow).
    Its lease dies with its TTL; the next start starts the ID once."""
    ttl = 1.0
    lease_key = lease_keys("faults", f"{HUB}/killed").lease
    async with served_backend(storage_latency=0.4) as served:
        with racer_processes(
            tmp_path, served.binding, redis_server.url, count=2, ttl=ttl, wait=5.0
        ) as racers:
            victim, survivor = racers.processes
            assert victim.stdin is not None
            victim.stdin.write("killed\n")
            victim.stdin.flush()
            deadline = time.monotonic() + 10
            while not await redis_client.exists(lease_key):
                assert time.monotonic() < deadline, "the victim never took the lease"
                await asyncio.sleep(0.01)
            victim.send_signal(signal.SIGKILL)
            victim.wait(timeout=10)
            assert await redis_client.exists(lease_key)  # orphaned, with its TTL
            assert 0 < await redis_client.pttl(lease_key) <= ttl * 1000

            started_at = time.monotonic()
            assert survivor.stdin is not None
            survivor.stdin.write("killed\n")
            survivor.stdin.flush()
            answer = await asyncio.to_thread(read_json_line, survivor)
            waited = time.monotonic() - started_at

    assert answer["outcome"] == "started", answer
    assert served.created("killed") == 1
    assert served.started("killed") == 1
    assert waited < ttl + 3 * 0.4 + 1.0  # the orphaned lease's TTL, plus three store round trips
