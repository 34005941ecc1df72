"""Injected faults are real HTTP failures that the real client has to cope with."""

from __future__ import annotations

import pytest

from tests.devhost.durable import orchestrations as o
from tests.devhost.durable.conftest import Served, wait_for_status


async def test_status_fault_gives_the_falsy_status_with_exception_attributes(
    served: Served,
) -> None:
    served.backend.inject_fault(operation="status", status=500, times=1)
    failed = await served.client.get_status("anything")
    assert not failed
    assert failed.runtime_status is None
    assert "injected status fault" in failed.ExceptionMessage
    assert failed.Message == "Something went wrong while processing your request"
    healthy = await served.client.get_status("anything")
    assert not hasattr(healthy, "ExceptionMessage")


async def test_start_fault_raises_and_creates_nothing(served: Served) -> None:
    served.backend.inject_fault(operation="start", status=503, times=2, instance_id="flaky-start")
    for _ in range(2):
        with pytest.raises(Exception, match="injected start fault"):
            await served.client.start_new(o.ECHO, "flaky-start", None)
    assert served.backend.start_records("flaky-start") == []
    assert not await served.client.get_status("flaky-start")
    await served.client.start_new(o.ECHO, "flaky-start", None)
    await wait_for_status(served.client, "flaky-start", "Completed")


async def test_fault_scoped_to_an_instance_spares_others(served: Served) -> None:
    served.backend.inject_fault(operation="start", instance_id="target")
    await served.client.start_new(o.ECHO, "bystander", None)
    with pytest.raises(Exception, match="injected"):
        await served.client.start_new(o.ECHO, "target", None)


async def test_terminate_fault(served: Served) -> None:
    await served.client.start_new(o.WAIT_FOR_GO, "tf", None)
    await wait_for_status(served.client, "tf", "Running")
    served.backend.inject_fault(operation="terminate", status=500)
    with pytest.raises(Exception, match="unexpected status code 500"):
        await served.client.terminate("tf", "x")
    assert (await served.client.get_status("tf")).runtime_status.value == "Running"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"operation": "nope"}, "operation must be one of"),
        ({"status": 200}, "status must be an HTTP error code"),
        ({"times": 0}, "times must be at least 1"),
    ],
)
def test_inject_fault_rejects_bad_arguments(
    served: Served, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        served.backend.inject_fault(**kwargs)  # type: ignore[arg-type]
