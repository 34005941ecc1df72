"""Many concurrent callers of one ID under each policy, counted from the backend's own start
records, against the embedded backend emulating Azure Storage (its non-atomic dedupe would let
racing starts through and swallow all but one)."""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter
from collections.abc import Callable
from typing import Any

import azure.functions as func
import pytest

from singleton import RuntimeStatus, SingletonStarter
from singleton.functions.http import handle_start_request
from tests.redis_servers import RedisServer
from tests.singleton.durable_app import ECHO, WAIT_FOR_FINISH
from tests.singleton.harness import DurableHost, input_of, post, running_durable_host

pytestmark = pytest.mark.redis

STORAGE_LATENCY = 0.005


@pytest.fixture
async def slow_durable() -> Any:
    async with running_durable_host(storage_latency=STORAGE_LATENCY) as host:
        yield host


async def storm(
    durable: DurableHost,
    starters: list[SingletonStarter],
    orchestrator: str,
    instance_id: str,
    callers: int,
    *,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    same_body: bool = False,
) -> list[func.HttpResponse]:
    """``callers`` concurrent POSTs through the HTTP adapter, spread over ``starters``."""

    def request(caller: int) -> func.HttpRequest:
        body = {"caller": 0 if same_body else caller}
        return post(
            orchestrator, instance_id, json.dumps(body).encode(), params=params, headers=headers
        )

    def starter_of(caller: int) -> Callable[[], SingletonStarter]:
        chosen = starters[caller % len(starters)]
        return lambda: chosen

    return await asyncio.gather(
        *(
            handle_start_request(request(caller), durable.client(), starter=starter_of(caller))
            for caller in range(callers)
        )
    )


def codes(responses: list[func.HttpResponse]) -> Counter[int]:
    return Counter(response.status_code for response in responses)


def bodies(responses: list[func.HttpResponse], status: int) -> list[dict[str, Any]]:
    return [json.loads(r.get_body()) for r in responses if r.status_code == status]


async def test_use_existing_storm_starts_once_and_names_it_to_everyone_else(
    slow_durable: DurableHost, starters: list[SingletonStarter]
) -> None:
    responses = await storm(
        slow_durable, starters, WAIT_FOR_FINISH, "ue", 100, params={"conflict": "use-existing"}
    )

    assert codes(responses) == Counter({202: 1, 200: 99})
    assert slow_durable.started("ue") == 1
    for body in bodies(responses, 200):
        assert body["id"] == "ue"
        assert body["runtimeStatus"] in {"Pending", "Running"}
        assert body["statusQueryGetUri"].startswith("http://127.0.0.1:7071/")


async def test_finishing_at_once_storm_of_100_starts_once(
    slow_durable: DurableHost, starter: SingletonStarter
) -> None:
    # Like ProcessBatch: done before most callers are answered. Every caller was concurrent
    # with the one start, so each is answered by it instead of starting it again.
    responses = await storm(slow_durable, [starter], ECHO, "batch", 100)

    assert codes(responses) == Counter({202: 1, 409: 99})
    assert slow_durable.started("batch") == 1
    for body in bodies(responses, 409):
        assert body["instanceId"] == "batch"
        assert "a concurrent request started instance 'batch'" in body["detail"]
    await slow_durable.wait_for_status("batch", RuntimeStatus.COMPLETED)


async def test_finishing_at_once_storm_over_several_hosts_starts_once(
    slow_durable: DurableHost, starters: list[SingletonStarter]
) -> None:
    # Three hosts, each its own Redis client and its own single-flight: the callers of the
    # other two wait on the first one's lease and adopt the decision it publishes at release,
    # instead of taking the lease in turn, finding the instance Completed and starting it again.
    for trial in range(5):
        instance_id = f"batch-hosts-{trial}"
        responses = await storm(slow_durable, starters, ECHO, instance_id, 60)

        assert codes(responses) == Counter({202: 1, 409: 59}), trial
        assert slow_durable.started(instance_id) == 1, trial
        for body in bodies(responses, 409):
            assert f"a concurrent request started instance {instance_id!r}" in body["detail"]
        await slow_durable.wait_for_status(instance_id, RuntimeStatus.COMPLETED)


async def test_callers_with_other_policies_take_their_own_turn(
    slow_durable: DurableHost, starter: SingletonStarter
) -> None:
    fail = storm(slow_durable, [starter], WAIT_FOR_FINISH, "mixed", 20)
    use = storm(
        slow_durable, [starter], WAIT_FOR_FINISH, "mixed", 20, params={"conflict": "use-existing"}
    )
    failing, using = await asyncio.gather(fail, use)

    assert slow_durable.started("mixed") == 1
    assert codes(failing) + codes(using) in (
        Counter({202: 1, 409: 19, 200: 20}),  # the fail attempt started it
        Counter({409: 20, 202: 1, 200: 19}),  # the use-existing attempt started it
    )


async def test_callers_on_several_hosts_adopt_only_a_decision_of_their_own_policy(
    slow_durable: DurableHost, starters: list[SingletonStarter]
) -> None:
    # A follower whose policy differs from the holder's cannot adopt its decision: it takes
    # the lease itself (and finds the instance the holder started).
    fail = storm(slow_durable, starters, ECHO, "mixed-hosts", 30)
    use = storm(
        slow_durable, starters, ECHO, "mixed-hosts", 30, params={"conflict": "use-existing"}
    )
    failing, using = await asyncio.gather(fail, use)

    assert slow_durable.started("mixed-hosts") == 1
    assert codes(failing) + codes(using) in (
        Counter({202: 1, 409: 29, 200: 30}),
        Counter({409: 30, 202: 1, 200: 29}),
    )


async def test_terminate_existing_storm_never_has_two_active(
    slow_durable: DurableHost, starters: list[SingletonStarter]
) -> None:
    await slow_durable.client().start_new(WAIT_FOR_FINISH, "tx", {"caller": "first"})
    await slow_durable.wait_for_status("tx", RuntimeStatus.RUNNING)

    responses = await storm(
        slow_durable, starters, WAIT_FOR_FINISH, "tx", 10, params={"conflict": "terminate-existing"}
    )

    # Each caller terminated what ran and started its own input, one after another.
    assert codes(responses) == Counter({202: 10})
    records = slow_durable.backend.start_records("tx")
    assert len(records) == 1 + 10
    # No start overlapped another: the emulated store swallows overlapping starts (created=False).
    assert all(record.created for record in records)
    fences = sorted(int(r.headers["X-Singleton-Fence"]) for r in responses)
    assert len(set(fences)) == 10
    status = await slow_durable.client().get_status("tx")
    assert status.runtime_status.value in {"Pending", "Running"}
    assert input_of(status) == json.loads(records[-1].input_json or "null")


async def test_a_failed_shared_attempt_lets_its_callers_try_again_once(
    slow_durable: DurableHost, starter: SingletonStarter
) -> None:
    slow_durable.backend.inject_fault(operation="start", status=500, times=1)

    responses = await storm(slow_durable, [starter], WAIT_FOR_FINISH, "retry", 30)

    # The first attempt's caller gets its failure; everyone who had joined it tries again,
    # in one shared attempt of their own: one start.
    assert codes(responses) == Counter({502: 1, 202: 1, 409: 28})
    assert slow_durable.started("retry") == 1


async def test_idempotent_retries_in_sequence_get_the_first_answer(
    slow_durable: DurableHost, starter: SingletonStarter
) -> None:
    headers = {"Idempotency-Key": '"order-42"'}
    first = await storm(slow_durable, [starter], ECHO, "idem", 1, headers=headers)
    await slow_durable.wait_for_status("idem", RuntimeStatus.COMPLETED)
    retries = [
        (await storm(slow_durable, [starter], ECHO, "idem", 1, headers=headers))[0]
        for _ in range(3)
    ]

    # The instance has finished meanwhile (a new start would be allowed): still the first answer.
    assert slow_durable.started("idem") == 1
    for response in [*first, *retries]:
        assert response.status_code == 202
        assert response.headers["X-Singleton-Fence"] == first[0].headers["X-Singleton-Fence"]
        assert json.loads(response.get_body()) == json.loads(first[0].get_body())
    assert "Idempotent-Replayed" not in first[0].headers
    assert all(r.headers["Idempotent-Replayed"] == "true" for r in retries)


async def test_concurrent_idempotent_retries_start_once(
    slow_durable: DurableHost, starters: list[SingletonStarter]
) -> None:
    responses = await storm(
        slow_durable,
        starters,
        WAIT_FOR_FINISH,
        "idem-storm",
        30,
        headers={"Idempotency-Key": "k-1"},
        same_body=True,
    )

    assert codes(responses) == Counter({202: 30})
    assert slow_durable.started("idem-storm") == 1
    assert sum("Idempotent-Replayed" not in r.headers for r in responses) == 1


async def test_the_same_key_for_another_request_is_refused(
    slow_durable: DurableHost, starter: SingletonStarter
) -> None:
    headers = {"Idempotency-Key": "k-2"}
    await storm(slow_durable, [starter], WAIT_FOR_FINISH, "idem-a", 1, headers=headers)
    # A key is scoped to its instance ID (the records live in the ID's Redis slot): the same
    # key sent to another ID is another request, answered on its own.
    other_id = await storm(slow_durable, [starter], WAIT_FOR_FINISH, "idem-b", 1, headers=headers)
    other_body = handle_start_request(
        post(WAIT_FOR_FINISH, "idem-a", b'{"caller": 1}', headers=headers),
        slow_durable.client(),
        starter=lambda: starter,
    )

    assert other_id[0].status_code == 202
    response = await other_body
    assert response.status_code == 422
    assert json.loads(response.get_body())["type"].endswith("idempotency-key-reused")
    assert slow_durable.started("idem-b") == 1
    assert slow_durable.started("idem-a") == 1


async def test_a_holder_killed_mid_start_leaves_exactly_one_start(
    slow_durable: DurableHost, starters: list[SingletonStarter], redis_server: RedisServer
) -> None:
    holder = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.singleton.killed_starter",
        redis_server.url,
        "race",
        "1.0",
        slow_durable.binding,
        WAIT_FOR_FINISH,
        "killed",
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None
        line = await asyncio.wait_for(holder.stdout.readline(), 30)
        assert line.strip() == b"starting", line
        waiters = asyncio.ensure_future(
            storm(slow_durable, starters, WAIT_FOR_FINISH, "killed", 30)
        )
        await asyncio.sleep(0.2)
        assert not waiters.done()  # they wait on the holder's lease
        holder.kill()  # SIGKILL mid-start: no release, no renewal; its lease runs out (1 s)
        responses = await asyncio.wait_for(waiters, 10)
    finally:
        if holder.returncode is None:
            holder.kill()
        await holder.wait()

    assert codes(responses) == Counter({202: 1, 409: 29})
    assert slow_durable.started("killed") == 1
