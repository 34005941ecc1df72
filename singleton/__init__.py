"""durable-singleton: start Durable Functions orchestrations as true singletons.

The public API is what ``__all__`` lists; every ``_module`` is private. The HTTP starter's
Functions blueprint lives in :mod:`singleton.functions.http`; ``@singleton`` (one invocation
per scope at a time, for any function) in :mod:`singleton.functions.decorator`.
"""

from singleton._errors import (
    ConfigurationError,
    DurableError,
    InvalidInstanceId,
    InvalidOrchestratorName,
    InvalidScope,
    LeaseBusy,
    LeaseError,
    LeaseLost,
    LeaseUnavailable,
    ReplicasNotAcknowledged,
    SingletonError,
    StartFailed,
    StartRejected,
    StatusReadFailed,
)
from singleton._redis import RedisSettings, create_redis_client
from singleton._runtime import close_default_starter, create_starter, default_starter
from singleton._settings import Settings
from singleton.functions.decorator import current_lease, singleton
from singleton.lease import Lease, LeasePolicy, Leases
from singleton.starter import (
    Outcome,
    RuntimeStatus,
    SingletonStarter,
    StartResult,
    validate_instance_id,
    validate_orchestrator_name,
)

__all__ = [
    "ConfigurationError",
    "DurableError",
    "InvalidInstanceId",
    "InvalidOrchestratorName",
    "InvalidScope",
    "Lease",
    "LeaseBusy",
    "LeaseError",
    "LeaseLost",
    "LeasePolicy",
    "LeaseUnavailable",
    "Leases",
    "Outcome",
    "RedisSettings",
    "ReplicasNotAcknowledged",
    "RuntimeStatus",
    "Settings",
    "SingletonError",
    "SingletonStarter",
    "StartFailed",
    "StartRejected",
    "StartResult",
    "StatusReadFailed",
    "close_default_starter",
    "create_redis_client",
    "create_starter",
    "current_lease",
    "default_starter",
    "singleton",
    "validate_instance_id",
    "validate_orchestrator_name",
]
