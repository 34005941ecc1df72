"""durable-singleton: start Durable Functions orchestrations as true singletons.

The public API is what ``__all__`` lists; every ``_module`` is private. The HTTP starter's
Functions blueprint lives in :mod:`singleton.functions.http`; ``@singleton`` (one invocation
per scope at a time, for any function) in :mod:`singleton.functions.decorator`.
"""

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
from singleton._runtime import close_default_starter, create_starter, default_starter
from singleton._settings import Settings
from singleton.functions.decorator import current_lease, singleton
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
    "default_starter",
    "singleton",
    "validate_instance_id",
    "validate_orchestrator_name",
]
