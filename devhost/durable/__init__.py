"""An embedded Durable Functions backend for the local Functions host (devhost).

It speaks the host's HTTP API (the RPC endpoints azure-functions-durable's client calls and
the public ``/runtime/webhooks/durabletask`` webhooks) and runs orchestrations through the
SDK's own replay protocol. Durable entities are out of scope.
"""

from devhost.durable._backend import DurableBackend, Outcome
from devhost.durable._errors import (
    DurableBackendError,
    InjectedFaultError,
    InvalidInstanceIdError,
    OrchestrationAlreadyExistsError,
    UnknownOrchestratorError,
)
from devhost.durable._memory_store import MemoryStore
from devhost.durable._serve import serve_backend
from devhost.durable._sqlite_store import SqliteStore
from devhost.durable._state import StartRecord
from devhost.durable._status import RuntimeStatus
from devhost.durable._store import InstanceStore

__all__ = [
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
