"""An embedded Durable Functions backend for the local Functions host (devhost).

It speaks the host's HTTP API (the RPC endpoints azure-functions-durable's client calls and
the public ``/runtime/webhooks/durabletask`` webhooks) and runs orchestrations through the
SDK's own replay protocol. Durable entities are out of scope.

It answers as the real host does (Azure/azure-functions-durable-extension 2.13.x/3.0 with
the Azure Storage provider); each rule names its source method beside it. Where it differs:

- Entities and CallHttp are not implemented (entity routes answer 501); an orchestrator that
  calls an entity or HTTP fails with a message that says so.
- A duplicate start answers 500 with OrchestrationAlreadyExistsException, as 2.13.x does
  (its start handler lets the exception reach the generic 500). Newer extension sources
  catch it in the start handler and answer 409.
- Rewind restores the row from before the failing episode and runs the failed task again
  (``_rewind``), where Azure Storage rewrites history rows; the outcome is the same.
- History ``Input`` of a task is the text the worker sent; there are no system keys, so no
  ``code=`` in any URL.
- ``storage_latency`` is paid by the management API's store operations only; the executor
  itself does not wait.
- One history event is delivered per episode (the host may batch several); results are the
  same, and it keeps sequence ids of ``*WithRetry`` calls in step with the SDK.
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
