"""Followers of mixed policies in several OS processes, an orchestration that finishes at once:
exactly one start per trial, counted from the backend's own start records.

Every caller is concurrent with every decision: the test holds each trial's lease until all
callers of all processes wait on it, then releases it with nothing to adopt. A decision some
followers cannot adopt (``reuse-rejected`` under another reuse policy) must send them back to
follow the lease, never to a plain hold that decides afresh after the next holder's release
(the finished instance would be started again, once per process).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from singleton import LeasePolicy, Leases, Outcome, RuntimeStatus, SingletonStarter
from tests.lease.conftest import subscribers
from tests.redis_servers import RedisServer
from tests.singleton.durable_app import ECHO
from tests.singleton.follower_process import CONFLICTS, REUSES
from tests.singleton.harness import HUB, DurableHost

pytestmark = pytest.mark.redis

ROOT = Path(__file__).resolve().parents[2]
PROCESSES = 3
NAMESPACE = "followers"


def followers(*args: str) -> subprocess.Popen[bytes]:
    """A process of concurrent callers (``tests/singleton/follower_process.py``)."""
    return subprocess.Popen(
        [sys.executable, "-m", "tests.singleton.follower_process", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
    )


def created(durable: DurableHost, instance_id: str) -> int:
    """Starts of ``instance_id`` that created an instance (not lost to the host's race)."""
    return sum(record.created for record in durable.backend.start_records(instance_id))


async def test_followers_of_mixed_policies_in_three_processes_start_an_instant_orchestration_once(
    durable: DurableHost, redis_server: RedisServer, redis_client: aioredis.Redis
) -> None:
    finished = [f"done-{n}" for n in range(4)]  # Completed before the trial: one start allowed
    fresh = [f"fresh-{n}" for n in range(2)]
    client = durable.client()
    for instance_id in finished:
        await client.start_new(ECHO, instance_id, "before")
    for instance_id in finished:
        await durable.wait_for_status(instance_id, RuntimeStatus.COMPLETED)
    before = {instance_id: created(durable, instance_id) for instance_id in finished + fresh}

    leases = Leases(redis_client, namespace=NAMESPACE, policy=LeasePolicy(ttl=60.0))
    held = [await leases.acquire(f"{HUB}/{instance_id}") for instance_id in finished + fresh]
    ids = ",".join(finished + fresh)
    processes = [
        followers(redis_server.url, NAMESPACE, durable.binding, ECHO, ids) for _ in range(PROCESSES)
    ]
    try:
        deadline = time.monotonic() + 60
        for lease in held:
            channel = leases.keys(lease.name).channel
            while await subscribers(redis_client, channel) < PROCESSES:
                assert time.monotonic() < deadline, "the callers never all waited"
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # each caller found its lease busy, and tried once more
        for lease in held:
            assert await lease.release()  # nothing settled: nothing to adopt
        outputs = await asyncio.gather(
            *(asyncio.to_thread(process.communicate, None, 120) for process in processes)
        )
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
        await leases.aclose()
    assert [process.returncode for process in processes] == [0] * PROCESSES
    answers = [json.loads(line) for stdout, _ in outputs for line in stdout.splitlines()]
    callers = PROCESSES * len(CONFLICTS) * len(REUSES)
    assert len(answers) == callers * len(finished + fresh)
    for instance_id in finished + fresh:
        outcomes = Counter(a["outcome"] for a in answers if a["id"] == instance_id)
        new_starts = created(durable, instance_id) - before[instance_id]
        assert new_starts == 1, f"{instance_id}: {new_starts} starts, answers {dict(outcomes)}"
        assert outcomes["started"] == 1, f"{instance_id}: {dict(outcomes)}"
        assert "busy" not in outcomes


async def test_a_caller_does_not_adopt_a_stale_decision_when_the_holders_fence_is_unknown(
    durable: DurableHost, redis_client: aioredis.Redis
) -> None:
    """The acquire script answers fence 0 for a holder whose fence key was evicted; a follower
    must not take 0 as its bound and adopt the previous, finished decision."""
    leases = Leases(redis_client, namespace="stale", policy=LeasePolicy(ttl=30.0, wait=10.0))
    starter = SingletonStarter(leases=leases)
    try:
        first = await starter.start(durable.client(), ECHO, "stale-1", "first")
        assert first.outcome is Outcome.STARTED  # its decision stays in the release record
        await durable.wait_for_status("stale-1", RuntimeStatus.COMPLETED)
        holder = await leases.acquire(f"{HUB}/stale-1")
        await redis_client.delete(leases.keys(f"{HUB}/stale-1").fence)  # evicted
        caller = asyncio.create_task(starter.start(durable.client(), ECHO, "stale-1", "second"))
        await asyncio.sleep(0.5)
        assert not caller.done()  # it did not adopt the older "started" from the record
        await holder.release()
        second = await asyncio.wait_for(caller, 10)
    finally:
        await leases.aclose()
    assert second.outcome is Outcome.STARTED  # decided afresh: Completed, reuse allowed
    assert not second.adopted
    assert created(durable, "stale-1") == 2
