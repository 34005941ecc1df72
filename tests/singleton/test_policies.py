"""Each policy against each prior status of the ID, over the real client, real Redis and the
embedded Durable backend; starts counted from the backend's own start records."""

from __future__ import annotations

import pytest

from singleton import (
    ConflictPolicy,
    Event,
    InvalidStartOption,
    Leases,
    Outcome,
    ReusePolicy,
    RuntimeStatus,
    SingletonStarter,
    TerminateTimedOut,
)
from tests.policy_table import (
    ACTIVE,
    PRIORS,
    S,
    expected_for_conflict,
    expected_for_reuse,
    prior_name,
)
from tests.singleton.durable_app import FAILS, WAIT_FOR_FINISH
from tests.singleton.harness import DurableHost, input_of

pytestmark = pytest.mark.redis


async def put_in(durable: DurableHost, instance_id: str, prior: RuntimeStatus | None) -> None:
    """Make ``instance_id`` report ``prior`` (None: no instance), the way the host gets there."""
    client = durable.client()
    if prior is None:
        return
    if prior in (S.PENDING, S.CONTINUED_AS_NEW):
        durable.plant(instance_id, prior, WAIT_FOR_FINISH)
        return
    if prior is S.FAILED:
        await client.start_new(FAILS, instance_id)
        await durable.wait_for_status(instance_id, S.FAILED)
        return
    await client.start_new(WAIT_FOR_FINISH, instance_id, {"old": True})
    await durable.wait_for_status(instance_id, S.RUNNING)
    if prior is S.SUSPENDED:
        await client.suspend(instance_id, "test")
    elif prior is S.COMPLETED:
        await client.raise_event(instance_id, "finish", "old done")
    elif prior is S.TERMINATED:
        await client.terminate(instance_id, "test")
    await durable.wait_for_status(instance_id, prior)


async def assert_answer(
    durable: DurableHost,
    instance_id: str,
    prior: RuntimeStatus | None,
    outcome: Outcome,
    started_before: int,
) -> None:
    """Started: exactly one new start, running the new input. Otherwise nothing started and
    the instance is untouched."""
    client = durable.client()
    status = await client.get_status(instance_id)
    if outcome is Outcome.STARTED:
        assert durable.started(instance_id) == started_before + 1
        assert durable.backend.start_records(instance_id)[-1].created
        assert input_of(status) == {"new": True}
        assert status.runtime_status.value in {"Pending", "Running"}
    else:
        assert durable.started(instance_id) == started_before
        assert status.runtime_status.value == prior_name(prior)


POLICIES = [("conflict", c) for c in ConflictPolicy] + [("reuse", r) for r in ReusePolicy]


@pytest.mark.parametrize("prior", PRIORS, ids=prior_name)
@pytest.mark.parametrize(("option", "policy"), POLICIES, ids=lambda p: getattr(p, "value", p))
async def test_policy_against_prior_status(
    durable: DurableHost,
    starter: SingletonStarter,
    option: str,
    policy: ConflictPolicy | ReusePolicy,
    prior: RuntimeStatus | None,
) -> None:
    instance_id = f"{option}-{policy.value}-{prior_name(prior)}"
    await put_in(durable, instance_id, prior)
    before = durable.started(instance_id)

    result = await starter.start(
        durable.client(), WAIT_FOR_FINISH, instance_id, {"new": True}, **{option: policy}
    )

    if isinstance(policy, ConflictPolicy):
        expected = expected_for_conflict(policy, prior)
    else:
        expected = expected_for_reuse(policy, prior)
    assert result.outcome is expected
    assert result.runtime_status is prior
    assert not result.adopted
    await assert_answer(durable, instance_id, prior, expected, before)


@pytest.mark.parametrize("prior", PRIORS, ids=prior_name)
async def test_event_with_start(
    durable: DurableHost, starter: SingletonStarter, prior: RuntimeStatus | None
) -> None:
    instance_id = f"event-{prior_name(prior)}"
    await put_in(durable, instance_id, prior)
    before = durable.started(instance_id)
    client = durable.client()

    result = await starter.start(
        client, WAIT_FOR_FINISH, instance_id, event=Event("finish", {"n": 7})
    )

    if prior in ACTIVE:
        assert result.outcome is Outcome.EVENT_RAISED
        assert durable.started(instance_id) == before
        if prior is S.SUSPENDED:  # the event waits in its queue until it is resumed
            assert (await client.get_status(instance_id)).runtime_status.value == "Suspended"
            await client.resume(instance_id, "test")
    else:
        assert result.outcome is Outcome.STARTED
        assert durable.started(instance_id) == before + 1
    # Whichever instance holds the ID now received the event: WaitForFinish returns its data.
    finished = await durable.wait_for_status(instance_id, S.COMPLETED)
    assert finished.output == {"n": 7}


async def test_event_with_terminate_existing_goes_to_the_new_instance(
    durable: DurableHost, starter: SingletonStarter
) -> None:
    await put_in(durable, "event-replace", S.RUNNING)

    result = await starter.start(
        durable.client(),
        WAIT_FOR_FINISH,
        "event-replace",
        {"new": True},
        conflict=ConflictPolicy.TERMINATE_EXISTING,
        event=Event("finish", "for the new one"),
    )

    assert result.outcome is Outcome.STARTED
    assert durable.started("event-replace") == 2
    finished = await durable.wait_for_status("event-replace", S.COMPLETED)
    assert input_of(finished) == {"new": True}
    assert finished.output == "for the new one"


async def test_event_is_not_raised_when_reuse_rejects(
    durable: DurableHost, starter: SingletonStarter
) -> None:
    await put_in(durable, "event-rejected", S.COMPLETED)

    result = await starter.start(
        durable.client(),
        WAIT_FOR_FINISH,
        "event-rejected",
        event=Event("finish", "late"),
        reuse=ReusePolicy.REJECT,
    )

    assert result.outcome is Outcome.REUSE_REJECTED
    assert durable.started("event-rejected") == 1
    # Unchanged: the output put_in's client.raise_event gave it (JSON-encoded twice by the
    # client, as Azure delivers it: azure-functions-durable-python #295).
    assert (await durable.client().get_status("event-rejected")).output == '"old done"'


async def test_terminate_existing_gives_up_when_the_host_never_terminates(
    durable: DurableHost, leases: Leases
) -> None:
    await put_in(durable, "stuck", S.RUNNING)
    await durable.backend.stop()  # the executor stops: the terminate request stays queued
    starter = SingletonStarter(leases=leases, terminate_wait=0.3)

    with pytest.raises(TerminateTimedOut, match=r"still Running after 0\.3 s"):
        await starter.start(
            durable.client(), WAIT_FOR_FINISH, "stuck", conflict="terminate-existing"
        )

    assert durable.started("stuck") == 1
    # Nothing was left holding the ID's lease.
    lease = await leases.acquire("TestHub/stuck", wait=0)
    await lease.release()


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("conflict", "replace", "invalid conflict 'replace': expected one of fail, use-existing"),
        ("reuse", "never", "invalid reuse 'never': expected one of allow, failed-only, reject"),
        ("idempotency_key", "has space", "invalid Idempotency-Key 'has space'"),
    ],
)
async def test_unknown_options_are_refused_before_anything_happens(
    durable: DurableHost, starter: SingletonStarter, option: str, value: str, message: str
) -> None:
    with pytest.raises(InvalidStartOption, match=message):
        await starter.start(durable.client(), WAIT_FOR_FINISH, "never", **{option: value})

    assert durable.started("never") == 0


def test_event_names_the_host_url_would_mangle_are_refused() -> None:
    with pytest.raises(InvalidStartOption, match="invalid event 'a/b'"):
        Event("a/b")
