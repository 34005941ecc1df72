"""The public surface: exports, constructor validation, the client binding."""

from __future__ import annotations

import json

import pytest

import devhost.durable
from devhost.durable import DurableBackend, MemoryStore
from tests.devhost.durable import orchestrations as o
from tests.devhost.durable.conftest import HUB


def test_public_names() -> None:
    assert devhost.durable.__all__ == [
        "DurableBackend",
        "DurableBackendError",
        "InjectedFaultError",
        "InstanceStore",
        "InvalidInstanceIdError",
        "MemoryStore",
        "OrchestrationAlreadyExistsError",
        "Outcome",
        "RuntimeStatus",
        "SqliteStore",
        "StartRecord",
        "UnknownOrchestratorError",
        "serve_backend",
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"hub_name": ""}, "hub_name"),
        ({"overridable_states": "Running"}, "overridable_states"),
        ({"storage_latency": -0.1}, "storage_latency"),
        ({"storage_latency": float("nan")}, "storage_latency"),
        ({"storage_latency": True}, "storage_latency"),
    ],
)
def test_constructor_validates(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {
        "functions": o.build_functions(),
        "hub_name": HUB,
        "store": MemoryStore(),
        **kwargs,
    }
    with pytest.raises(ValueError, match=message):
        DurableBackend(**arguments)  # type: ignore[arg-type]


def test_constructor_is_keyword_only() -> None:
    with pytest.raises(TypeError):
        DurableBackend(o.build_functions(), HUB, MemoryStore())  # type: ignore[call-arg]


def test_client_binding() -> None:
    backend = DurableBackend(functions=o.build_functions(), hub_name=HUB, store=MemoryStore())
    binding = json.loads(backend.client_binding("http://127.0.0.1:7071/"))
    assert binding["taskHubName"] == HUB
    assert binding["rpcBaseUrl"] == "http://127.0.0.1:7071/durabletask/"
    assert binding["managementUrls"]["id"] == "INSTANCEID"
    assert binding["managementUrls"]["statusQueryGetUri"] == (
        "http://127.0.0.1:7071/runtime/webhooks/durabletask/instances/INSTANCEID"
        f"?taskHub={HUB}&connection=Storage"
    )
    assert binding["creationUrls"]["createNewInstancePostUri"].startswith(
        "http://127.0.0.1:7071/runtime/webhooks/durabletask/orchestrators/{functionName}"
    )
    with pytest.raises(ValueError, match="absolute"):
        backend.client_binding("127.0.0.1:7071")


def test_registry_knows_orchestrators_and_activities_by_host_names() -> None:
    backend = DurableBackend(functions=o.build_functions(), hub_name=HUB, store=MemoryStore())
    assert o.RENAMED in backend.registry.orchestrators
    assert "python_name_of_renamed" not in backend.registry.orchestrators
    assert {o.HELLO, o.ASYNC_HELLO, o.FLAKY} <= set(backend.registry.activities)
