"""durable-singleton: start Durable Functions orchestrations as true singletons.

The public API is what ``__all__`` lists; every ``_module`` is private. The HTTP starter's
Functions blueprint lives in :mod:`singleton.functions.http`.
"""

from singleton._errors import (
    ConfigurationError,
    DurableError,
    IdempotencyKeyReused,
    IdempotentRequestInFlight,
    InvalidInstanceId,
    InvalidOrchestratorName,
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
from singleton._runtime import close_default_starter, create_starter, default_starter
from singleton._settings import Settings
from singleton.lease import Lease, LeasePolicy, Leases
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

__all__ = [
    "ConfigurationError",
    "ConflictPolicy",
    "DurableError",
    "Event",
    "IdempotencyKeyReused",
    "IdempotentRequestInFlight",
    "InvalidInstanceId",
    "InvalidOrchestratorName",
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
    "default_starter",
    "validate_instance_id",
    "validate_orchestrator_name",
]
