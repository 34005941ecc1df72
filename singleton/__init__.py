"""durable-singleton: start Durable Functions orchestrations as true singletons.

The public API is what ``__all__`` lists; every ``_module`` is private. The HTTP starter's
Functions blueprint lives in :mod:`singleton.functions.http`; ``@singleton`` (one invocation
per scope at a time, for any function) in :mod:`singleton.functions.decorator`.

Importing is as light as the layer: the errors, the settings and the lease are imported
here; the starter (which talks to the Durable client over aiohttp) and ``@singleton``
(which needs ``azure.functions``) on first use of one of their names (PEP 562). So
``import singleton.lease`` imports nothing of ``azure`` or aiohttp.
"""

from __future__ import annotations

import importlib
from importlib import metadata as _metadata
from typing import TYPE_CHECKING, Any

from singleton._errors import (
    ConfigurationError,
    DurableError,
    IdempotencyKeyReused,
    IdempotencyRecordUnreadable,
    IdempotentRequestInFlight,
    InvalidInstanceId,
    InvalidOrchestratorName,
    InvalidScope,
    InvalidStartOption,
    LeaseBusy,
    LeaseError,
    LeaseLost,
    LeaseUnavailable,
    RaiseEventFailed,
    ReplicasNotAcknowledged,
    SingletonError,
    StartFailed,
    StartRejected,
    StatusReadFailed,
    TerminateFailed,
    TerminateTimedOut,
)
from singleton._redis import RedisSettings, create_redis_client
from singleton._settings import Settings
from singleton.lease import HeldLease, Lease, LeasePolicy, Leases, force_release, list_leases

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time __getattr__ imports these
    from singleton._runtime import close_default_starter, create_starter, default_starter
    from singleton.functions.decorator import current_lease, current_lease_or_none, singleton
    from singleton.starter import (
        ConflictPolicy,
        Event,
        Outcome,
        ReusePolicy,
        RuntimeStatus,
        SingletonStarter,
        StartResult,
        validate_instance_id,
        validate_orchestrator_name,
    )

try:
    __version__: str = _metadata.version("durable-singleton")
except _metadata.PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

#: The names imported on first use, by the module that defines them.
_LAZY = {
    "close_default_starter": "singleton._runtime",
    "create_starter": "singleton._runtime",
    "default_starter": "singleton._runtime",
    "current_lease": "singleton.functions.decorator",
    "current_lease_or_none": "singleton.functions.decorator",
    "singleton": "singleton.functions.decorator",
    "ConflictPolicy": "singleton.starter",
    "Event": "singleton.starter",
    "Outcome": "singleton.starter",
    "ReusePolicy": "singleton.starter",
    "RuntimeStatus": "singleton.starter",
    "SingletonStarter": "singleton.starter",
    "StartResult": "singleton.starter",
    "validate_instance_id": "singleton.starter",
    "validate_orchestrator_name": "singleton.starter",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # once imported, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "ConfigurationError",
    "ConflictPolicy",
    "DurableError",
    "Event",
    "HeldLease",
    "IdempotencyKeyReused",
    "IdempotencyRecordUnreadable",
    "IdempotentRequestInFlight",
    "InvalidInstanceId",
    "InvalidOrchestratorName",
    "InvalidScope",
    "InvalidStartOption",
    "Lease",
    "LeaseBusy",
    "LeaseError",
    "LeaseLost",
    "LeasePolicy",
    "LeaseUnavailable",
    "Leases",
    "Outcome",
    "RaiseEventFailed",
    "RedisSettings",
    "ReplicasNotAcknowledged",
    "ReusePolicy",
    "RuntimeStatus",
    "Settings",
    "SingletonError",
    "SingletonStarter",
    "StartFailed",
    "StartRejected",
    "StartResult",
    "StatusReadFailed",
    "TerminateFailed",
    "TerminateTimedOut",
    "close_default_starter",
    "create_redis_client",
    "create_starter",
    "current_lease",
    "current_lease_or_none",
    "default_starter",
    "force_release",
    "list_leases",
    "singleton",
    "validate_instance_id",
    "validate_orchestrator_name",
]
