"""``conflict=queue-next``: while an instance runs, the first queued request is kept as the ID's
one pending run; it starts once, with its input, when the instance has finished — by the next
start request or by the watchdog's hook (``SingletonStarter.start_pending``).

Real redis-server, the real Durable client over HTTP against the embedded backend; the starts
are counted from the backend's start records. On the code before queue-next every request
here is a 400 (``conflict 'queue-next'`` unknown).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
import redis.asyncio as aioredis

from singleton import (
    ConfigurationError,
    LeasePolicy,
    Leases,
    RuntimeStatus,
    Settings,
    SingletonStarter,
)
from singleton.functions.admin import handle_pending_request
from singleton.functions.http import handle_start_request
from singleton.lease._keys import lease_keys
from singleton.starter import Outcome
from singleton.starter._pending import PendingRuns, pending_key
from tests.redis_servers import RedisServer
from tests.singleton.conftest import HOSTS
from tests.singleton.durable_app import ECHO, WAIT_FOR_FINISH
from tests.singleton.harness import HUB, DurableHost, post, running_durable_host

pytestmark = pytest.mark.redis

ROOT = Path(__file__).resolve().parents[2]
CALLERS = 10
STORAGE_LATENCY = 0.005


async def call(
    durable: DurableHost,
    starter: SingletonStarter,
    instance_id: str,
    body: Any = None,
    *,
    orchestrator: str = WAIT_FOR_FINISH,
    headers: dict[str, str] | None = None,
    **params: str,
) -> tuple[int, dict[str, str], dict[str, Any]]:
    raw = b"" if body is None else json.dumps(body).encode()
    response = await handle_start_request(
        post(orchestrator, instance_id, raw, params=params, headers=headers),
        durable.client(),
        starter=lambda: starter,
    )
    return response.status_code, dict(response.headers), json.loads(response.get_body())


def inputs_started(durable: DurableHost, instance_id: str) -> list[Any]:
    """The inputs of the starts that created an instance, in order (decoded as the
    orchestrator sees them: the client posts its input JSON-encoded once more)."""
    found = []
    for record in durable.backend.start_records(instance_id):
        if record.created:
            value = record.input
            found.append(json.loads(value) if isinstance(value, str) else value)
    return found


async def finish(durable: DurableHost, instance_id: str) -> None:
    await durable.client().raise_event(instance_id, "finish", "done")
    await durable.wait_for_status(instance_id, RuntimeStatus.COMPLETED)


async def running(durable: DurableHost, starter: SingletonStarter, instance_id: str) -> None:
    code, _, _ = await call(durable, starter, instance_id, {"n": "current"})
    assert code == 202
    await durable.wait_for_status(instance_id, RuntimeStatus.RUNNING)


async def test_ten_concurrent_requests_keep_exactly_one_pending_run_and_tell_the_nine(
    durable: DurableHost, starter: SingletonStarter
) -> None:
    await running(durable, starter, "qn-10")

    answers = await asyncio.gather(
        *(call(durable, starter, "qn-10", {"n": n}, conflict="queue-next") for n in range(CALLERS))
    )

    codes = Counter(code for code, _, _ in answers)
    assert codes == {202: 1, 409: CALLERS - 1}
    ((_, headers, queued),) = [answer for answer in answers if answer[0] == 202]
    assert headers["Location"] == queued["statusQueryGetUri"]
    assert "X-Singleton-Fence" in headers
    assert queued["queued"] is True
    assert queued["id"] == "qn-10"
    assert queued["runtimeStatus"] == "Running"
    assert queued["statusQueryGetUri"].startswith("http://127.0.0.1:7071/")
    refused = [body for code, _, body in answers if code == 409]
    for body in refused:
        assert body["type"].endswith("next-already-queued")
        assert body["pendingRun"] == queued["pendingRun"]  # named: nobody is silently dropped
        assert body["runtimeStatus"] == "Running"
    # The one kept is the first to reach Redis: the record holds the queued caller's input.
    pending = await starter.pending.get(f"{HUB}/qn-10")
    assert pending is not None
    assert pending.id == queued["pendingRun"]
    others = {json.dumps(pending.input)} | {json.dumps({"n": n}) for n in range(CALLERS)}
    assert len(others) == CALLERS  # its input is one of the ten
    assert durable.started("qn-10") == 1  # nothing started while it runs

    await finish(durable, "qn-10")
    code, _, body = await call(durable, starter, "qn-10", {"n": "late"})  # conflict=fail

    # The next start request started the pending run first, then found it running.
    assert code == 409
    assert body["type"].endswith("already-running")
    assert inputs_started(durable, "qn-10") == [{"n": "current"}, pending.input]
    assert await starter.pending.get(f"{HUB}/qn-10") is None
    for _ in range(3):
        await call(durable, starter, "qn-10", {"n": "again"})
    assert durable.started("qn-10") == 2  # started exactly once


async def test_queue_next_on_a_finished_or_absent_id_starts_at_once(
    durable: DurableHost, starter: SingletonStarter
) -> None:
    code, headers, body = await call(durable, starter, "qn-fresh", {"a": 1}, conflict="queue-next")

    assert code == 202
    assert "queued" not in body  # started, the plain check-status answer
    assert "X-Singleton-Fence" in headers
    assert inputs_started(durable, "qn-fresh") == [{"a": 1}]
    assert await starter.pending.get(f"{HUB}/qn-fresh") is None


@pytest.fixture
async def racy() -> AsyncIterator[DurableHost]:
    """The backend emulating Azure Storage: a duplicate check and a write that are separate
    steps, a conflicting write swallowed (both starts answered 202) — so only the lease can
    keep a pending run from starting twice."""
    async with running_durable_host(storage_latency=STORAGE_LATENCY) as host:
        yield host


async def test_across_three_starters_one_run_is_queued_and_the_next_requests_start_it_once(
    racy: DurableHost, starters: list[SingletonStarter]
) -> None:
    """As if in three Function App instances (each starter its own Redis connections): the
    queue-next requests, and after the instance finished the concurrent requests of other
    policies, spread over them."""
    durable = racy
    await running(durable, starters[0], "qn-3")

    answers = await asyncio.gather(
        *(
            call(durable, starters[n % HOSTS], "qn-3", {"n": n}, conflict="queue-next")
            for n in range(CALLERS)
        )
    )

    assert Counter(code for code, _, _ in answers) == {202: 1, 409: CALLERS - 1}
    (queued,) = [body for code, _, body in answers if code == 202]
    assert {body["pendingRun"] for _, _, body in answers} == {queued["pendingRun"]}
    pending = await starters[1].pending.get(f"{HUB}/qn-3")
    assert pending is not None
    assert pending.id == queued["pendingRun"]

    await finish(durable, "qn-3")
    later = await asyncio.gather(
        *(
            call(durable, starters[n % HOSTS], "qn-3", {"n": f"later-{n}"}, conflict=conflict)
            for n, conflict in enumerate(["fail", "use-existing"] * 3)
        )
    )

    assert {code for code, _, _ in later} <= {200, 409}  # the pending run holds the ID now
    assert inputs_started(durable, "qn-3") == [{"n": "current"}, pending.input]
    assert durable.started("qn-3") == 2  # once: not even a start swallowed by the host


async def test_the_hook_starts_the_pending_run_once_after_the_instance_finishes(
    racy: DurableHost, starter: SingletonStarter
) -> None:
    durable = racy
    await running(durable, starter, "qn-hook")
    code, _, queued = await call(durable, starter, "qn-hook", {"n": "next"}, conflict="queue-next")
    assert code == 202

    assert await starter.start_pending(durable.client(), "qn-hook") is None  # still running
    assert durable.started("qn-hook") == 1
    await finish(durable, "qn-hook")
    results = await asyncio.gather(
        *(starter.start_pending(durable.client(), "qn-hook") for _ in range(CALLERS))
    )

    started = [r for r in results if r is not None and r.outcome is Outcome.STARTED]
    assert len(started) == 1
    assert started[0].pending_run == queued["pendingRun"]
    assert all(r is None for r in results if r not in started)
    assert inputs_started(durable, "qn-hook") == [{"n": "current"}, {"n": "next"}]
    assert durable.started("qn-hook") == 2  # no second start, not even a swallowed one
    assert await starter.start_pending(durable.client(), "qn-hook") is None  # nothing left


async def test_a_finished_instance_and_a_queue_next_request_start_the_pending_run_then_queue(
    durable: DurableHost, starter: SingletonStarter
) -> None:
    await running(durable, starter, "qn-chain")
    await call(durable, starter, "qn-chain", {"n": 1}, conflict="queue-next")
    await finish(durable, "qn-chain")

    code, _, body = await call(durable, starter, "qn-chain", {"n": 2}, conflict="queue-next")

    assert code == 202
    assert body["queued"] is True
    assert inputs_started(durable, "qn-chain") == [{"n": "current"}, {"n": 1}]
    pending = await starter.pending.get(f"{HUB}/qn-chain")
    assert pending is not None
    assert pending.input == {"n": 2}


def hook_caller(url: str, namespace: str, binding: str, go: str) -> subprocess.Popen[bytes]:
    """A process of concurrent hook calls (``tests/singleton/pending_process.py``)."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.singleton.pending_process",
            *(url, namespace, binding, "qn-procs", str(CALLERS), go),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
    )


async def test_two_processes_racing_the_hook_start_the_pending_run_once(
    racy: DurableHost, redis_server: RedisServer, redis_client: aioredis.Redis
) -> None:
    durable = racy
    namespace = "hook-race"
    leases = Leases(redis_client, namespace=namespace, policy=LeasePolicy(ttl=15.0, wait=10.0))
    starter = SingletonStarter(leases=leases)
    try:
        await running(durable, starter, "qn-procs")
        await call(durable, starter, "qn-procs", {"n": "next"}, conflict="queue-next")
        await finish(durable, "qn-procs")
        go = "hook-race-go"
        processes = [
            hook_caller(redis_server.url, namespace, durable.binding, go) for _ in range(2)
        ]
        try:
            deadline = asyncio.get_running_loop().time() + 60
            while int(await redis_client.get(f"{go}:ready") or 0) < len(processes):
                assert asyncio.get_running_loop().time() < deadline, "the callers never started"
                await asyncio.sleep(0.02)
            await redis_client.set(go, 1)
            outputs = await asyncio.gather(
                *(asyncio.to_thread(process.communicate, None, 120) for process in processes)
            )
        finally:
            for process in processes:
                if process.poll() is None:
                    process.kill()
                    process.wait()
    finally:
        await leases.aclose()
    assert [process.returncode for process in processes] == [0, 0]
    answers = [json.loads(line)["outcome"] for stdout, _ in outputs for line in stdout.splitlines()]
    assert len(answers) == 2 * CALLERS
    assert Counter(answers) == {"started": 1, None: 2 * CALLERS - 1}
    assert inputs_started(durable, "qn-procs") == [{"n": "current"}, {"n": "next"}]
    assert durable.started("qn-procs") == 2  # no second start, not even a swallowed one


async def test_an_idempotency_key_replays_the_queued_answer_and_queues_nothing_more(
    durable: DurableHost, starter: SingletonStarter
) -> None:
    await running(durable, starter, "qn-key")
    key = {"Idempotency-Key": "order-7"}

    first = await call(durable, starter, "qn-key", {"n": 7}, headers=key, conflict="queue-next")
    again = await call(durable, starter, "qn-key", {"n": 7}, headers=key, conflict="queue-next")

    assert first[0] == again[0] == 202
    assert again[1].get("Idempotent-Replayed") == "true"
    assert again[2]["queued"] is True
    assert again[2]["pendingRun"] == first[2]["pendingRun"]
    # A different request (no key) finds that run pending: the replay queued nothing new.
    code, _, body = await call(durable, starter, "qn-key", {"n": 8}, conflict="queue-next")
    assert code == 409
    assert body["pendingRun"] == first[2]["pendingRun"]


async def test_event_with_start_and_queue_next_is_refused(
    durable: DurableHost, starter: SingletonStarter
) -> None:
    await running(durable, starter, "qn-event")

    code, _, body = await call(
        durable, starter, "qn-event", {"x": 1}, conflict="queue-next", event="finish"
    )

    assert code == 400
    assert "queue-next" in body["detail"]
    assert await starter.pending.get(f"{HUB}/qn-event") is None
    status = await durable.client().get_status("qn-event")
    assert status.runtime_status.value == "Running"  # the event was not raised either


async def test_a_pending_run_whose_reuse_policy_refuses_is_dropped_not_started(
    durable: DurableHost, starter: SingletonStarter
) -> None:
    await running(durable, starter, "qn-reuse")
    await call(durable, starter, "qn-reuse", {"n": 1}, conflict="queue-next", reuse="reject")
    await finish(durable, "qn-reuse")

    assert await starter.start_pending(durable.client(), "qn-reuse") is None

    assert durable.started("qn-reuse") == 1
    assert await starter.pending.get(f"{HUB}/qn-reuse") is None


def admin(method: str, **params: str) -> func.HttpRequest:
    return func.HttpRequest(
        method=method, url="http://127.0.0.1:7071/api/singleton/pending", params=params, body=b""
    )


async def test_admin_lists_a_pending_run_and_drops_it(
    durable: DurableHost, starter: SingletonStarter
) -> None:
    await running(durable, starter, "qn-admin")
    _, _, queued = await call(durable, starter, "qn-admin", {"n": 1}, conflict="queue-next")

    listed = await handle_pending_request(admin("GET"), lambda: starter)
    assert listed.status_code == 200
    body = json.loads(listed.get_body())
    assert body["count"] == 1
    (run,) = body["pending"]
    assert run["id"] == queued["pendingRun"]
    assert run["name"] == f"{HUB}/qn-admin"
    assert run["instanceId"] == "qn-admin"
    assert run["orchestrator"] == WAIT_FOR_FINISH
    assert run["input"] == {"n": 1}

    wrong = await handle_pending_request(
        admin("DELETE", name=f"{HUB}/qn-admin", run="not-it"), lambda: starter
    )
    assert wrong.status_code == 404  # another run is pending: untouched
    missing = await handle_pending_request(admin("DELETE"), lambda: starter)
    assert missing.status_code == 400
    dropped = await handle_pending_request(
        admin("DELETE", name=f"{HUB}/qn-admin", run=queued["pendingRun"]), lambda: starter
    )
    assert dropped.status_code == 200
    assert json.loads(dropped.get_body())["dropped"]["id"] == queued["pendingRun"]
    gone = await handle_pending_request(admin("DELETE", name=f"{HUB}/qn-admin"), lambda: starter)
    assert gone.status_code == 404

    await finish(durable, "qn-admin")
    assert await starter.start_pending(durable.client(), "qn-admin") is None
    assert durable.started("qn-admin") == 1  # a dropped run never starts


async def test_admin_answers_503_when_redis_fails(durable: DurableHost) -> None:
    broken = aioredis.Redis(port=1, socket_connect_timeout=0.2)
    leases = Leases(broken, namespace="broken")
    try:
        answer = await handle_pending_request(admin("GET"), lambda: SingletonStarter(leases=leases))
    finally:
        await leases.aclose()
        await broken.aclose()
    assert answer.status_code == 503
    assert answer.headers["Retry-After"]


async def test_the_pending_record_expires_and_shares_the_leases_slot(
    redis_client: aioredis.Redis,
) -> None:
    pending = PendingRuns(redis_client, namespace="ttl", ttl=30.0)
    from singleton.starter._pending import new_run

    run = new_run(f"{HUB}/x{{y}}", ECHO, {"a": 1}, "allow")
    assert await pending.queue(run) is None
    key = pending_key("ttl", f"{HUB}/x{{y}}")
    assert 0 < await redis_client.pttl(key) <= 30_000
    # One Redis Cluster slot with the lease: the same hash tag.
    lease = lease_keys("ttl", f"{HUB}/x{{y}}").lease
    assert key[: key.index("}") + 1] == lease[: lease.index("}") + 1]
    second = new_run(f"{HUB}/x{{y}}", ECHO, {"a": 2}, "allow")
    assert (await pending.queue(second)) == run  # the first stays
    assert [r for r in await pending.list()] == [run]


async def test_an_input_that_is_not_json_is_refused_before_anything_is_queued(
    durable: DurableHost, starter: SingletonStarter
) -> None:
    await running(durable, starter, "qn-bad")
    from singleton import InvalidStartOption

    with pytest.raises(InvalidStartOption, match="input"):
        await starter.start(
            durable.client(), WAIT_FOR_FINISH, "qn-bad", {1, 2}, conflict="queue-next"
        )
    assert await starter.pending.get(f"{HUB}/qn-bad") is None


async def lease_gone(redis_client: aioredis.Redis, key: str) -> None:
    """Until the lease key has expired (polled: Redis expiry sends no event here)."""
    while await redis_client.exists(key):  # noqa: ASYNC110
        await asyncio.sleep(0.02)


async def test_a_run_started_by_a_holder_that_died_before_deleting_it_is_not_started_again(
    durable: DurableHost, redis_client: aioredis.Redis
) -> None:
    """The holder started the pending run, then died with the record still there and its
    lease running out. The next holder finds the instance running the run's input, so it
    deletes the record instead of starting the run again once that instance finishes."""
    namespace, name = "crashed", f"{HUB}/qn-crash"
    leases = Leases(redis_client, namespace=namespace, policy=LeasePolicy(ttl=5.0, wait=5.0))
    dead = Leases(redis_client, namespace=namespace, policy=LeasePolicy(ttl=0.3))
    starter = SingletonStarter(leases=leases)
    try:
        await running(durable, starter, "qn-crash")
        await call(durable, starter, "qn-crash", {"n": "next"}, conflict="queue-next")
        await finish(durable, "qn-crash")
        await dead.acquire(name)  # the holder that dies: never released
        await durable.client().start_new(WAIT_FOR_FINISH, "qn-crash", {"n": "next"})
        await asyncio.wait_for(lease_gone(redis_client, dead.keys(name).lease), 10)

        assert await starter.start_pending(durable.client(), "qn-crash") is None
        assert await starter.pending.get(name) is None
        await finish(durable, "qn-crash")
        assert await starter.start_pending(durable.client(), "qn-crash") is None
    finally:
        await leases.aclose()
        await dead.aclose()
    assert inputs_started(durable, "qn-crash") == [{"n": "current"}, {"n": "next"}]


def test_the_pending_ttl_comes_from_the_app_settings() -> None:
    url = {"REDIS_URL": "redis://127.0.0.1:6379/0"}
    assert Settings.from_environ(url).pending_ttl == 24 * 3600.0
    assert Settings.from_environ({**url, "SINGLETON_PENDING_TTL": "90"}).pending_ttl == 90.0
    with pytest.raises(ConfigurationError, match="SINGLETON_PENDING_TTL"):
        Settings.from_environ({**url, "SINGLETON_PENDING_TTL": "0"})
    with pytest.raises(ConfigurationError, match="SINGLETON_PENDING_TTL"):
        Settings.from_environ({**url, "SINGLETON_PENDING_TTL": "a day"})


def test_the_default_starter_keeps_pending_runs_for_the_configured_ttl() -> None:
    from singleton._runtime import create_starter

    starter = create_starter(
        Settings.from_environ(
            {"REDIS_URL": "redis://127.0.0.1:1/0", "SINGLETON_PENDING_TTL": "120"}
        )
    )
    assert starter.pending.ttl == 120.0
    assert starter.pending.namespace == "durable-singleton"


async def test_a_pending_record_of_another_version_is_neither_overwritten_nor_a_crash(
    durable: DurableHost, starter: SingletonStarter, redis_client: aioredis.Redis
) -> None:
    await running(durable, starter, "qn-version")
    name = f"{HUB}/qn-version"
    key = pending_key(starter.pending.namespace, name)
    await redis_client.set(key, json.dumps({"v": 99, "id": "from-the-future"}), px=60_000)

    code, _, body = await call(durable, starter, "qn-version", {"n": 1}, conflict="queue-next")

    assert code == 409
    assert body["type"].endswith("next-already-queued")
    assert "another version" in body["detail"]
    assert json.loads(await redis_client.get(key))["v"] == 99  # untouched
    listed = json.loads((await handle_pending_request(admin("GET"), lambda: starter)).get_body())
    assert listed["pending"] == [{"name": name, "unreadable": True}]
    await finish(durable, "qn-version")
    assert await starter.start_pending(durable.client(), "qn-version") is None
    assert durable.started("qn-version") == 1
    assert await redis_client.exists(key)  # left to the version that wrote it
    dropped = await handle_pending_request(admin("DELETE", name=name), lambda: starter)
    assert dropped.status_code == 200
    assert json.loads(dropped.get_body())["dropped"] == {"name": name, "unreadable": True}
    assert not await redis_client.exists(key)


async def test_the_tick_starts_every_finished_ids_pending_run_and_leaves_the_running_ones(
    racy: DurableHost, starter: SingletonStarter
) -> None:
    durable = racy
    for instance_id in ("qn-tick-a", "qn-tick-b", "qn-tick-c"):
        await running(durable, starter, instance_id)
        code, _, _ = await call(
            durable, starter, instance_id, {"n": f"next-{instance_id}"}, conflict="queue-next"
        )
        assert code == 202
    await finish(durable, "qn-tick-a")
    await finish(durable, "qn-tick-b")

    # Two ticks at once, as two app instances' timers would fire: each run starts once.
    ticks = await asyncio.gather(*(starter.start_pending_runs(durable.client()) for _ in range(2)))

    assert sorted(r.instance_id for tick in ticks for r in tick) == ["qn-tick-a", "qn-tick-b"]
    assert inputs_started(durable, "qn-tick-a") == [{"n": "current"}, {"n": "next-qn-tick-a"}]
    assert inputs_started(durable, "qn-tick-b") == [{"n": "current"}, {"n": "next-qn-tick-b"}]
    assert durable.started("qn-tick-c") == 1  # still running: its run stays pending
    assert await starter.start_pending_runs(durable.client()) == []
