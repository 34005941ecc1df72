"""Each policy against each prior status of the ID, over the real gRPC client (the Durable
Task SDK's ``AsyncTaskHubGrpcClient``), the SDK's gRPC backend with a real worker, and real
Redis; starts counted from the backend's own StartInstance records."""

from __future__ import annotations

import json
import uuid

import pytest
from durabletask import client as dt
from durabletask.internal import orchestrator_service_pb2 as pb

from singleton import (
    ConflictPolicy,
    Event,
    IdempotencyKeyReused,
    Outcome,
    ReusePolicy,
    RuntimeStatus,
    SingletonStarter,
)
from tests.grpc.backends import CountingBackend
from tests.grpc.conftest import wait_for_status
from tests.grpc.orchestrations import FAILS, WAIT_FOR_FINISH
from tests.policy_table import (
    ACTIVE,
    PRIORS,
    S,
    expected_for_conflict,
    expected_for_reuse,
    prior_name,
)

pytestmark = pytest.mark.redis

G = dt.OrchestrationStatus
POLICIES = [("conflict", c) for c in ConflictPolicy] + [("reuse", r) for r in ReusePolicy]


def fresh(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def put_in(
    client: dt.AsyncTaskHubGrpcClient,
    backend: CountingBackend,
    instance_id: str,
    prior: RuntimeStatus | None,
) -> None:
    """Make ``instance_id`` report ``prior`` (None: no instance), through the SDK's client."""
    if prior is None:
        return
    if prior is S.FAILED:
        await client.schedule_new_orchestration(FAILS, instance_id=instance_id)
        await wait_for_status(client, instance_id, G.FAILED)
        return
    await client.schedule_new_orchestration(
        WAIT_FOR_FINISH, instance_id=instance_id, input={"old": True}
    )
    await wait_for_status(client, instance_id, G.RUNNING)
    if prior is S.PENDING:
        backend.plant(instance_id, pb.ORCHESTRATION_STATUS_PENDING)
    elif prior is S.CONTINUED_AS_NEW:
        backend.plant(instance_id, pb.ORCHESTRATION_STATUS_CONTINUED_AS_NEW)
    elif prior is S.SUSPENDED:
        await client.suspend_orchestration(instance_id, reason="test")
        await wait_for_status(client, instance_id, G.SUSPENDED)
    elif prior is S.COMPLETED:
        await client.raise_orchestration_event(instance_id, "finish", data="old done")
        await wait_for_status(client, instance_id, G.COMPLETED)
    elif prior is S.TERMINATED:
        await client.terminate_orchestration(instance_id, output="test")
        await wait_for_status(client, instance_id, G.TERMINATED)
    state = await client.get_orchestration_state(instance_id)
    assert state is not None
    assert state.runtime_status.name == prior.name


@pytest.mark.parametrize("prior", PRIORS, ids=prior_name)
@pytest.mark.parametrize(("option", "policy"), POLICIES, ids=lambda p: getattr(p, "value", p))
async def test_policy_against_prior_status(
    grpc_backend: CountingBackend,
    grpc_client: dt.AsyncTaskHubGrpcClient,
    starter: SingletonStarter,
    option: str,
    policy: ConflictPolicy | ReusePolicy,
    prior: RuntimeStatus | None,
) -> None:
    instance_id = fresh(f"{option}-{policy.value}-{prior_name(prior)}")
    await put_in(grpc_client, grpc_backend, instance_id, prior)
    before = grpc_backend.created[instance_id]

    result = await starter.start(
        grpc_client, WAIT_FOR_FINISH, instance_id, {"new": True}, **{option: policy}
    )

    if isinstance(policy, ConflictPolicy):
        expected = expected_for_conflict(policy, prior)
    else:
        expected = expected_for_reuse(policy, prior)
    assert result.outcome is expected
    assert result.runtime_status is prior
    state = await grpc_client.get_orchestration_state(instance_id)
    if expected is Outcome.STARTED:
        assert grpc_backend.created[instance_id] == before + 1
        assert state is not None
        assert json.loads(state.serialized_input or "") == {"new": True}
        assert state.runtime_status in (G.PENDING, G.RUNNING)
    else:
        assert grpc_backend.created[instance_id] == before
        assert (state is None) == (prior is None)
        if state is not None:
            assert state.runtime_status.name == prior.name  # type: ignore[union-attr]


async def test_queue_next_over_grpc_starts_the_pending_run_once_after_the_instance_finishes(
    grpc_backend: CountingBackend, grpc_client: dt.AsyncTaskHubGrpcClient, starter: SingletonStarter
) -> None:
    instance_id = fresh("queue-next")
    await put_in(grpc_client, grpc_backend, instance_id, S.RUNNING)
    queued = await starter.start(
        grpc_client, WAIT_FOR_FINISH, instance_id, {"next": 1}, conflict="queue-next"
    )
    refused = await starter.start(
        grpc_client, WAIT_FOR_FINISH, instance_id, {"next": 2}, conflict="queue-next"
    )
    assert queued.outcome is Outcome.QUEUED
    assert refused.outcome is Outcome.NEXT_ALREADY_QUEUED
    assert refused.pending_run == queued.pending_run
    before = grpc_backend.created[instance_id]
    assert await starter.start_pending(grpc_client, instance_id) is None  # still running

    await grpc_client.raise_orchestration_event(instance_id, "finish", data="done")
    await wait_for_status(grpc_client, instance_id, G.COMPLETED)
    started = await starter.start_pending(grpc_client, instance_id)
    again = await starter.start_pending(grpc_client, instance_id)

    assert started is not None
    assert started.outcome is Outcome.STARTED
    assert again is None
    assert grpc_backend.created[instance_id] == before + 1
    state = await grpc_client.get_orchestration_state(instance_id)
    assert state is not None
    assert json.loads(state.serialized_input or "") == {"next": 1}


async def test_an_unset_reuse_policy_replaces_nothing_on_the_sdk_backend(
    grpc_client: dt.AsyncTaskHubGrpcClient, grpc_backend: CountingBackend
) -> None:
    """Why the gRPC start always passes a policy: without one even a Completed ID is taken."""
    instance_id = fresh("unset-policy")
    await put_in(grpc_client, grpc_backend, instance_id, S.COMPLETED)

    with pytest.raises(Exception, match="already exists") as raised:
        await grpc_client.schedule_new_orchestration(WAIT_FOR_FINISH, instance_id=instance_id)
    assert raised.value.code().name == "ALREADY_EXISTS"  # type: ignore[attr-defined]


@pytest.mark.parametrize("prior", PRIORS, ids=prior_name)
async def test_event_with_start_delivers_the_callers_value(
    grpc_backend: CountingBackend,
    grpc_client: dt.AsyncTaskHubGrpcClient,
    starter: SingletonStarter,
    prior: RuntimeStatus | None,
) -> None:
    instance_id = fresh(f"event-{prior_name(prior)}")
    await put_in(grpc_client, grpc_backend, instance_id, prior)
    before = grpc_backend.created[instance_id]

    result = await starter.start(
        grpc_client, WAIT_FOR_FINISH, instance_id, event=Event("finish", {"n": 7, "by": "alice"})
    )

    if prior in ACTIVE:
        assert result.outcome is Outcome.EVENT_RAISED
        assert grpc_backend.created[instance_id] == before
        if prior is S.SUSPENDED:  # the event waits until the instance is resumed
            await grpc_client.resume_orchestration(instance_id, reason="test")
    else:
        assert result.outcome is Outcome.STARTED
        assert grpc_backend.created[instance_id] == before + 1
    finished = await wait_for_status(grpc_client, instance_id, G.COMPLETED)
    # Decoded once: the orchestration got the caller's object, not a JSON string of it.
    assert finished.get_output() == {"n": 7, "by": "alice"}


async def test_terminate_existing_replaces_the_running_instance(
    grpc_backend: CountingBackend,
    grpc_client: dt.AsyncTaskHubGrpcClient,
    starter: SingletonStarter,
) -> None:
    instance_id = fresh("replace")
    await put_in(grpc_client, grpc_backend, instance_id, S.RUNNING)

    result = await starter.start(
        grpc_client,
        WAIT_FOR_FINISH,
        instance_id,
        {"new": True},
        conflict="terminate-existing",
        event=Event("finish", "for the new one"),
    )

    assert result.outcome is Outcome.STARTED
    assert result.runtime_status is S.RUNNING
    assert grpc_backend.created[instance_id] == 2
    finished = await wait_for_status(grpc_client, instance_id, G.COMPLETED)
    assert finished.get_input() == {"new": True}
    assert finished.get_output() == "for the new one"


async def test_idempotency_key_replays_the_first_answer(
    grpc_backend: CountingBackend,
    grpc_client: dt.AsyncTaskHubGrpcClient,
    starter: SingletonStarter,
) -> None:
    instance_id = fresh("idem")

    first = await starter.start(
        grpc_client, WAIT_FOR_FINISH, instance_id, {"n": 1}, idempotency_key="key-1"
    )
    again = await starter.start(
        grpc_client, WAIT_FOR_FINISH, instance_id, {"n": 1}, idempotency_key="key-1"
    )
    with pytest.raises(IdempotencyKeyReused):
        await starter.start(
            grpc_client, WAIT_FOR_FINISH, instance_id, {"n": 2}, idempotency_key="key-1"
        )

    assert first.outcome is Outcome.STARTED
    assert not first.replayed
    assert again.outcome is Outcome.STARTED
    assert again.replayed
    assert again.fence == first.fence
    assert grpc_backend.created[instance_id] == 1
    # Still replayed after the instance finished: the key, not the status, answers.
    await grpc_client.raise_orchestration_event(instance_id, "finish", data="done")
    await wait_for_status(grpc_client, instance_id, G.COMPLETED)
    late = await starter.start(
        grpc_client, WAIT_FOR_FINISH, instance_id, {"n": 1}, idempotency_key="key-1"
    )
    assert late.replayed
    assert late.outcome is Outcome.STARTED
    assert grpc_backend.created[instance_id] == 1
