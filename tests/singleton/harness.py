"""A real embedded Durable backend served over real HTTP, for the starter's tests."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any, TypeVar

import azure.durable_functions as df
import azure.functions as func

from devhost.durable import DurableBackend, MemoryStore, serve_backend
from devhost.durable import RuntimeStatus as HostStatus
from devhost.durable._history import EventType, event, format_timestamp, utc_now
from devhost.durable._state import InstanceState
from singleton import RuntimeStatus
from tests.singleton.durable_app import FUNCTIONS

HUB = "TestHub"
START_URL = "http://127.0.0.1:7071/api/orchestrators"


@dataclasses.dataclass(frozen=True)
class DurableHost:
    backend: DurableBackend
    store: MemoryStore
    base_url: str

    @property
    def binding(self) -> str:
        return self.backend.client_binding(self.base_url)

    def client(self) -> df.DurableOrchestrationClient:
        """A real Durable client, as the Functions host would hand one to a function."""
        return df.DurableOrchestrationClient(self.binding)

    def started(self, instance_id: str) -> int:
        """How many start requests the store answered with success for ``instance_id``."""
        return len(self.backend.start_records(instance_id))

    def plant(self, instance_id: str, status: RuntimeStatus, orchestrator: str) -> None:
        """Store an instance of ``orchestrator`` that reports ``status`` until a client message
        (terminate, event, ...) makes the host run it: a Pending instance before its first
        episode, or one ContinuedAsNew before its next generation runs. Its start is not
        among the start records."""
        now = utc_now()
        stamp = format_timestamp(now)
        state = InstanceState(
            instance_id=instance_id,
            name=orchestrator,
            execution_id=uuid.uuid4().hex,
            status=HostStatus(status.value),
            input=None,
            created_time=stamp,
            last_updated_time=stamp,
        )
        state.inbox.append(
            event(
                EventType.EXECUTION_STARTED,
                now,
                Name=orchestrator,
                Input=None,
                Version="",
                OrchestrationInstance={
                    "InstanceId": instance_id,
                    "ExecutionId": state.execution_id,
                },
                ParentInstance=None,
            )
        )
        self.store.save(state)

    async def wait_for_status(self, instance_id: str, wanted: RuntimeStatus) -> Any:
        """The instance's status once it is ``wanted`` (AssertionError after 5 s)."""
        client = self.client()
        for _ in range(200):
            status = await client.get_status(instance_id)
            if status and status.runtime_status and status.runtime_status.value == wanted.value:
                return status
            await asyncio.sleep(0.025)
        raise AssertionError(f"{instance_id!r} never reached {wanted.value}")


H = TypeVar("H", bound=DurableHost)


@contextlib.asynccontextmanager
async def running_durable_host(
    *,
    storage_latency: float = 0.0,
    hub: str = HUB,
    middlewares: Sequence[Any] = (),
    host_type: type[H] = DurableHost,  # type: ignore[assignment]
) -> AsyncIterator[H]:
    """The embedded Durable backend over real HTTP on a free loopback port, behind
    ``middlewares`` (aiohttp's, for injected faults)."""
    store = MemoryStore()
    backend = DurableBackend(
        functions=FUNCTIONS,
        hub_name=hub,
        store=store,
        overridable_states="NonRunningStates",
        storage_latency=storage_latency,
    )
    async with serve_backend(backend, middlewares=middlewares) as base_url:
        yield host_type(backend=backend, store=store, base_url=base_url)


def input_of(status: Any) -> Any:
    """An instance's input as the orchestrator sees it.

    The Python client posts its input JSON-encoded twice, so the host's status API shows it
    as JSON text; decode that once more.
    """
    value = status.input_
    return json.loads(value) if isinstance(value, str) else value


def post(
    function_name: str,
    instance_id: str,
    body: bytes = b"",
    *,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> func.HttpRequest:
    return func.HttpRequest(
        method="POST",
        url=f"{START_URL}/{function_name}/{instance_id}",
        headers={"Content-Type": "application/json", **(headers or {})},
        params=params or {},
        route_params={"functionName": function_name, "instanceId": instance_id},
        body=body,
    )
