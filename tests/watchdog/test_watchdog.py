"""The watchdog against a real redis-server and the real Durable client over real HTTP to the
embedded Durable backend; starts are counted from the backend's start records."""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
import sys

import pytest
import redis.asyncio as aioredis

from singleton import (
    InvalidStartOption,
    LeasePolicy,
    Leases,
    RuntimeStatus,
    Settings,
    SingletonStarter,
)
from singleton._runtime import _build
from singleton.starter import PassOutcome, Reason, Watchdog, WatchlistFull
from tests.redis_servers import RedisServer
from tests.singleton.durable_app import FAILS, WAIT_FOR_FINISH
from tests.singleton.harness import DurableHost, running_durable_host

pytestmark = pytest.mark.redis


async def _terminated(durable: DurableHost, instance_id: str) -> None:
    """Start ``instance_id`` (WaitForFinish) outside the watchdog and terminate it."""
    client = durable.client()
    await client.start_new(WAIT_FOR_FINISH, instance_id, None)
    await durable.wait_for_status(instance_id, RuntimeStatus.RUNNING)
    await client.terminate(instance_id, "test")
    await durable.wait_for_status(instance_id, RuntimeStatus.TERMINATED)


async def _ticks(starter: SingletonStarter, durable: DurableHost, n: int) -> list[PassOutcome]:
    outcomes = []
    for _ in range(n):
        outcomes += [r.outcome for r in await starter.watchdog.tick(durable.client())]
    return outcomes


async def test_an_absent_instance_is_started_and_then_left_running(
    durable: DurableHost, starter: SingletonStarter
) -> None:
    result = await starter.ensure_running(durable.client(), WAIT_FOR_FINISH, "absent", {"a": 1})
    assert (result.outcome, result.reason) == (PassOutcome.RESTARTED, Reason.ABSENT)
    await durable.wait_for_status("absent", RuntimeStatus.RUNNING)
    assert await _ticks(starter, durable, 3) == [PassOutcome.RUNNING] * 3
    assert durable.started("absent") == 1
    assert json.loads(durable.backend.start_records("absent")[0].input_json) == {"a": 1}


async def test_a_failed_instance_is_restarted_once(
    durable: DurableHost, starter: SingletonStarter
) -> None:
    durable.plant("failed", RuntimeStatus.FAILED, WAIT_FOR_FINISH)
    result = await starter.ensure_running(durable.client(), WAIT_FOR_FINISH, "failed")
    assert (result.outcome, result.reason) == (PassOutcome.RESTARTED, Reason.FAILED)
    await durable.wait_for_status("failed", RuntimeStatus.RUNNING)
    assert await _ticks(starter, durable, 3) == [PassOutcome.RUNNING] * 3
    assert durable.started("failed") == 1


async def test_a_terminated_instance_is_restarted_once(
    durable: DurableHost, starter: SingletonStarter
) -> None:
    await starter.ensure_running(durable.client(), WAIT_FOR_FINISH, "terminated")
    await durable.wait_for_status("terminated", RuntimeStatus.RUNNING)
    assert await _ticks(starter, durable, 1) == [PassOutcome.RUNNING]  # resets the backoff
    await durable.client().terminate("terminated", "by hand")
    await durable.wait_for_status("terminated", RuntimeStatus.TERMINATED)
    [result] = await starter.watchdog.tick(durable.client())
    assert (result.outcome, result.reason) == (PassOutcome.RESTARTED, Reason.TERMINATED)
    await durable.wait_for_status("terminated", RuntimeStatus.RUNNING)
    assert await _ticks(starter, durable, 3) == [PassOutcome.RUNNING] * 3
    assert durable.started("terminated") == 2  # ensure_running's start and the one restart


async def test_a_stuck_pending_instance_is_terminated_then_restarted_once(
    durable: DurableHost, starter: SingletonStarter
) -> None:
    durable.plant("stuck", RuntimeStatus.PENDING, WAIT_FOR_FINISH)
    client = durable.client()
    result = await starter.ensure_running(client, WAIT_FOR_FINISH, "stuck", stuck_after=0.3)
    assert result.outcome is PassOutcome.PENDING  # not stuck yet
    assert durable.started("stuck") == 0
    await asyncio.sleep(0.35)
    [result] = await starter.watchdog.tick(client)
    assert (result.outcome, result.reason) == (PassOutcome.RESTARTED, Reason.STUCK_PENDING)
    # The planted instance was terminated before the new start (the start records are ours).
    assert durable.started("stuck") == 1
    await durable.wait_for_status("stuck", RuntimeStatus.RUNNING)
    assert await _ticks(starter, durable, 3) == [PassOutcome.RUNNING] * 3
    assert durable.started("stuck") == 1


async def test_one_that_stays_pending_is_reported_not_looped_on(
    durable: DurableHost, starter: SingletonStarter
) -> None:
    await durable.backend.stop()  # no executor: a terminate is queued but never carried out
    durable.plant("wedged", RuntimeStatus.PENDING, WAIT_FOR_FINISH)
    client = durable.client()
    await starter.ensure_running(client, WAIT_FOR_FINISH, "wedged", stuck_after=0.05)
    await asyncio.sleep(0.1)
    outcomes = await _ticks(starter, durable, 4)
    # Reported once, then it waits 1 tick, then 2: not a terminate on every tick.
    assert outcomes == [
        PassOutcome.STAYED_PENDING,
        PassOutcome.BACKING_OFF,
        PassOutcome.STAYED_PENDING,
        PassOutcome.BACKING_OFF,
    ]
    assert durable.started("wedged") == 0
    status = await client.get_status("wedged")
    assert status.runtime_status.value == "Pending"


async def test_a_crash_looping_instance_backs_off_1_2_4_up_to_32_ticks(
    durable: DurableHost, starter: SingletonStarter
) -> None:
    client = durable.client()
    result = await starter.ensure_running(client, FAILS, "crashes")
    assert result.outcome is PassOutcome.RESTARTED
    restarted_at = [0]
    for tick in range(1, 111):
        await durable.wait_for_status("crashes", RuntimeStatus.FAILED)
        [result] = await starter.watchdog.tick(client)
        if result.outcome is PassOutcome.RESTARTED:
            restarted_at.append(tick)
        else:
            assert result.outcome is PassOutcome.BACKING_OFF
    waits = [b - a - 1 for a, b in itertools.pairwise(restarted_at)]
    assert waits == [1, 2, 4, 8, 16, 32, 32]
    assert durable.started("crashes") == len(restarted_at) == 8


async def test_the_backoff_resets_once_the_instance_ran_a_whole_tick(
    durable: DurableHost, starter: SingletonStarter
) -> None:
    client = durable.client()
    await starter.ensure_running(client, WAIT_FOR_FINISH, "recovers")  # restart 1: wait 1
    await durable.wait_for_status("recovers", RuntimeStatus.RUNNING)
    assert await _ticks(starter, durable, 1) == [PassOutcome.RUNNING]
    await client.terminate("recovers", "by hand")
    await durable.wait_for_status("recovers", RuntimeStatus.TERMINATED)
    # Without the reset this tick would still be waiting out the first restart's backoff.
    assert await _ticks(starter, durable, 1) == [PassOutcome.RESTARTED]


async def test_a_failing_status_read_restarts_nothing(
    durable: DurableHost, starter: SingletonStarter
) -> None:
    await _terminated(durable, "unreadable")
    client = durable.client()
    for status in (500, 0):  # a host error, then a dropped connection on every retry
        durable.backend.inject_fault("status", status, times=3, instance_id="unreadable")
        if status == 500:
            result = await starter.ensure_running(client, WAIT_FOR_FINISH, "unreadable")
        else:
            [result] = await starter.watchdog.tick(client)
        assert result.outcome is PassOutcome.STATUS_READ_FAILED
        assert durable.started("unreadable") == 1  # only the test's own start
    durable.backend.clear_faults()
    [result] = await starter.watchdog.tick(client)  # readable again: Terminated, restarted
    assert (result.outcome, result.reason) == (PassOutcome.RESTARTED, Reason.TERMINATED)
    assert durable.started("unreadable") == 2


async def test_unwatch_stops_the_watching(durable: DurableHost, starter: SingletonStarter) -> None:
    client = durable.client()
    await starter.ensure_running(client, WAIT_FOR_FINISH, "let-go")
    await durable.wait_for_status("let-go", RuntimeStatus.RUNNING)
    assert await starter.unwatch(client, "let-go") is True
    assert await starter.unwatch(client, "let-go") is False
    await client.terminate("let-go", "deliberate")
    await durable.wait_for_status("let-go", RuntimeStatus.TERMINATED)
    assert await _ticks(starter, durable, 3) == []
    assert durable.started("let-go") == 1


async def test_the_registry_is_bounded_per_hub(
    durable: DurableHost, leases: Leases, redis_client: aioredis.Redis
) -> None:
    watchdog = Watchdog(leases, terminate_wait=0.5, max_ids=2)
    client = durable.client()
    await watchdog.watch(client, WAIT_FOR_FINISH, "one")
    await watchdog.watch(client, WAIT_FOR_FINISH, "two")
    with pytest.raises(WatchlistFull):
        await watchdog.watch(client, WAIT_FOR_FINISH, "three")
    assert durable.started("three") == 0
    await watchdog.watch(client, WAIT_FOR_FINISH, "two", {"updated": True})  # updating fits
    keys = sorted(k.decode() for k in await redis_client.keys("*watchdog*"))
    assert keys == ["watch:{=watchdog%2FTestHub}:ids", "watch:{=watchdog%2FTestHub}:state"]


@pytest.mark.parametrize("stuck_after", [0, -1, float("nan"), float("inf"), True, "5"])
async def test_a_bad_stuck_after_is_refused_before_anything(
    durable: DurableHost, starter: SingletonStarter, stuck_after: object
) -> None:
    with pytest.raises(InvalidStartOption):
        await starter.ensure_running(
            durable.client(),
            WAIT_FOR_FINISH,
            "bad",
            stuck_after=stuck_after,  # type: ignore[arg-type]
        )
    assert durable.started("bad") == 0
    assert await _ticks(starter, durable, 1) == []


async def test_two_watchdogs_in_two_processes_start_nothing_twice(
    redis_server: RedisServer, redis_client: aioredis.Redis
) -> None:
    ids = [f"eternal-{n}" for n in range(8)]
    # Azure Storage's racy dedupe (read, then a separate write): unguarded concurrent starts
    # would both be answered with success and both show in the start records.
    async with running_durable_host(storage_latency=0.02) as durable:
        leases = Leases(redis_client, namespace="two", policy=LeasePolicy(ttl=10.0, wait=5.0))
        starter = SingletonStarter(leases=leases)
        client = durable.client()
        for instance_id in ids:
            await starter.ensure_running(client, WAIT_FOR_FINISH, instance_id)
            await durable.wait_for_status(instance_id, RuntimeStatus.RUNNING)
        assert await _ticks(starter, durable, 1) == [PassOutcome.RUNNING] * len(ids)  # reset
        for instance_id in ids:
            await client.terminate(instance_id, "chaos")
        for instance_id in ids:
            await durable.wait_for_status(instance_id, RuntimeStatus.TERMINATED)
        command = [
            sys.executable,
            "-m",
            "tests.watchdog.watchdog_process",
            redis_server.url,
            "two",
            durable.binding,
            "3",
        ]
        processes = [
            await asyncio.create_subprocess_exec(
                *command, stdin=subprocess.PIPE, stdout=subprocess.PIPE
            )
            for _ in range(2)
        ]
        for process in processes:
            assert process.stdout is not None
            assert (await asyncio.wait_for(process.stdout.readline(), 30)).strip() == b"ready"
        for process in processes:
            assert process.stdin is not None
            process.stdin.write(b"go\n")
            await process.stdin.drain()
        outputs = [await asyncio.wait_for(p.communicate(), 60) for p in processes]
        assert [p.returncode for p in processes] == [0, 0]
        restarted = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
        assert sorted(restarted[0] + restarted[1]) == ids  # each ID restarted once in all
        for instance_id in ids:
            assert durable.started(instance_id) == 2, instance_id  # ensure_running's + one
        await leases.aclose()


async def test_concurrent_ensure_running_calls_start_it_once(
    durable: DurableHost, starter: SingletonStarter
) -> None:
    client = durable.client()
    results = await asyncio.gather(
        *(starter.ensure_running(client, WAIT_FOR_FINISH, "many-callers", n) for n in range(20))
    )
    assert [r.outcome for r in results].count(PassOutcome.RESTARTED) == 1
    assert durable.started("many-callers") == 1


async def test_the_default_starter_takes_its_bound_from_the_app_setting(
    durable: DurableHost, redis_server: RedisServer, redis_client: aioredis.Redis
) -> None:
    environ = {"REDIS_URL": redis_server.url, "SINGLETON_WATCHDOG_MAX_IDS": "1"}
    runtime = _build(Settings.from_environ(environ))
    starter = runtime.starter
    client = durable.client()
    await starter.ensure_running(client, WAIT_FOR_FINISH, "only-one")
    with pytest.raises(WatchlistFull):
        await starter.ensure_running(client, WAIT_FOR_FINISH, "one-too-many")
    assert durable.started("one-too-many") == 0
    await starter.unwatch(client, "only-one")
    await runtime.aclose()


async def test_an_unreadable_registration_is_reported_and_the_tick_goes_on(
    durable: DurableHost, starter: SingletonStarter, redis_client: aioredis.Redis
) -> None:
    client = durable.client()
    await starter.ensure_running(client, WAIT_FOR_FINISH, "z-readable")
    await redis_client.hset("watch:{=watchdog%2FTestHub}:ids", "a-garbled", "{not json")
    await durable.wait_for_status("z-readable", RuntimeStatus.RUNNING)
    outcomes = await _ticks(starter, durable, 1)
    assert outcomes == [PassOutcome.UNREADABLE, PassOutcome.RUNNING]
    assert durable.started("a-garbled") == 0


class _OneQueuedRun:
    """A queue-next store holding one pending run (the hook's contract: taken once)."""

    def __init__(self, orchestrator: str, client_input: object) -> None:
        self.run: tuple[str, object] | None = (orchestrator, client_input)
        self.asked: list[tuple[str, str]] = []

    async def take(self, hub: str, instance_id: str) -> tuple[str, object] | None:
        self.asked.append((hub, instance_id))
        run, self.run = self.run, None
        return run


async def test_the_queue_next_hook_starts_the_pending_run_once_after_completion(
    durable: DurableHost, leases: Leases
) -> None:
    queued = _OneQueuedRun(WAIT_FOR_FINISH, {"next": True})
    watchdog = Watchdog(leases, terminate_wait=0.5, queued=queued)
    client = durable.client()
    result = await watchdog.watch(client, WAIT_FOR_FINISH, "queued")  # absent: takes the run
    assert (result.outcome, result.reason) == (PassOutcome.RESTARTED, Reason.QUEUED_NEXT)
    assert queued.asked == [("TestHub", "queued")]
    await durable.wait_for_status("queued", RuntimeStatus.RUNNING)
    [result] = await watchdog.tick(client)  # running: the hook is not asked
    assert result.outcome is PassOutcome.RUNNING
    await client.raise_event("queued", "finish", "done")
    await durable.wait_for_status("queued", RuntimeStatus.COMPLETED)
    [result] = await watchdog.tick(client)  # completed, nothing queued: left alone
    assert result.outcome is PassOutcome.COMPLETED
    assert durable.started("queued") == 1
    inputs = [json.loads(r.input_json) for r in durable.backend.start_records("queued")]
    assert inputs == [{"next": True}]
