"""The Durable client boundary: each ambiguous answer of the real client, translated."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from devhost.durable._faults import DISCONNECT
from singleton import RuntimeStatus, StartFailed, StartRejected, StatusReadFailed
from singleton.starter._durable import (
    InstanceAlreadyExistsError,
    read_runtime_status,
    start_instance,
)
from tests.singleton.durable_app import ECHO, WAIT_FOR_FINISH
from tests.singleton.harness import DurableHost, running_durable_host


@pytest.fixture
async def durable() -> AsyncIterator[DurableHost]:
    async with running_durable_host() as host:
        yield host


async def test_absent_instance_reads_as_none(durable: DurableHost) -> None:
    assert await read_runtime_status(durable.client(), "never-started") is None


async def test_started_instance_reads_as_active(durable: DurableHost) -> None:
    client = durable.client()
    await start_instance(client, WAIT_FOR_FINISH, "b1", None)

    status = await read_runtime_status(client, "b1")

    assert status in {RuntimeStatus.PENDING, RuntimeStatus.RUNNING}
    assert status is not None
    assert status.is_active


async def test_host_error_on_status_is_not_absent(durable: DurableHost) -> None:
    """The client returns a falsy status for a 500 too; it must not read as 'absent'."""
    durable.backend.inject_fault(operation="status", status=500, times=1)

    with pytest.raises(StatusReadFailed):
        await read_runtime_status(durable.client(), "b2")


async def test_unexpected_status_code_is_a_read_failure(durable: DurableHost) -> None:
    durable.backend.inject_fault(operation="status", status=503, times=1)

    with pytest.raises(StatusReadFailed):
        await read_runtime_status(durable.client(), "b3")


async def test_a_dropped_connection_is_retried(durable: DurableHost) -> None:
    """The host dropping status reads unanswered: the retry reads the real status.

    aiohttp itself re-sends a request once when a pooled connection turns out closed, so
    three drops are more than the client alone gets past.
    """
    client = durable.client()
    await start_instance(client, WAIT_FOR_FINISH, "b7", None)
    durable.backend.inject_fault(operation="status", status=DISCONNECT, times=3)

    status = await read_runtime_status(client, "b7")

    assert status is not None
    assert status.is_active


async def test_a_connection_that_keeps_dropping_is_a_read_failure(durable: DurableHost) -> None:
    durable.backend.inject_fault(operation="status", status=DISCONNECT, times=20)

    with pytest.raises(StatusReadFailed):
        await read_runtime_status(durable.client(), "b8")
    durable.backend.clear_faults()


async def test_host_answers_are_not_retried(durable: DurableHost) -> None:
    """A 500 is the host's answer; only one is consumed, the next read succeeds."""
    durable.backend.inject_fault(operation="status", status=500, times=2)

    with pytest.raises(StatusReadFailed):
        await read_runtime_status(durable.client(), "b9")
    with pytest.raises(StatusReadFailed):
        await read_runtime_status(durable.client(), "b9")
    assert await read_runtime_status(durable.client(), "b9") is None


async def test_duplicate_start_is_the_hosts_already_exists(durable: DurableHost) -> None:
    client = durable.client()
    await start_instance(client, WAIT_FOR_FINISH, "b4", None)

    with pytest.raises(InstanceAlreadyExistsError):
        await start_instance(client, WAIT_FOR_FINISH, "b4", None)


async def test_unknown_orchestrator_is_rejected(durable: DurableHost) -> None:
    with pytest.raises(StartRejected):
        await start_instance(durable.client(), "Nope", "b5", None)


async def test_host_failure_on_start_is_start_failed(durable: DurableHost) -> None:
    durable.backend.inject_fault(operation="start", status=500, times=1)

    with pytest.raises(StartFailed) as raised:
        await start_instance(durable.client(), ECHO, "b6", None)
    assert not isinstance(raised.value, StartRejected)


@pytest.mark.parametrize("status", list(RuntimeStatus))
def test_only_pending_running_continued_and_suspended_hold_the_id(status: RuntimeStatus) -> None:
    assert status.is_active == (
        status.value in {"Pending", "Running", "ContinuedAsNew", "Suspended"}
    )
