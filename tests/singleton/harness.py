"""A real embedded Durable backend served over real HTTP, for the starter's tests."""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import AsyncIterator
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from devhost.durable import DurableBackend, MemoryStore, serve_backend
from tests.singleton.durable_app import FUNCTIONS

HUB = "TestHub"
START_URL = "http://127.0.0.1:7071/api/orchestrators"


@dataclasses.dataclass(frozen=True)
class DurableHost:
    backend: DurableBackend
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


@contextlib.asynccontextmanager
async def running_durable_host(*, storage_latency: float = 0.0) -> AsyncIterator[DurableHost]:
    backend = DurableBackend(
        functions=FUNCTIONS,
        hub_name=HUB,
        store=MemoryStore(),
        overridable_states="NonRunningStates",
        storage_latency=storage_latency,
    )
    async with serve_backend(backend, host="127.0.0.1", port=0) as base_url:
        yield DurableHost(backend=backend, base_url=base_url)


def input_of(status: Any) -> Any:
    """An instance's input as the orchestrator sees it.

    The Python client posts its input JSON-encoded twice, so the host's status API shows it
    as JSON text; decode that once more.
    """
    value = status.input_
    return json.loads(value) if isinstance(value, str) else value


def post(function_name: str, instance_id: str, body: bytes = b"") -> func.HttpRequest:
    return func.HttpRequest(
        method="POST",
        url=f"{START_URL}/{function_name}/{instance_id}",
        headers={"Content-Type": "application/json"},
        params={},
        route_params={"functionName": function_name, "instanceId": instance_id},
        body=body,
    )
