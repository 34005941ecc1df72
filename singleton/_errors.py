"""Every exception durable-singleton raises.

The hierarchy::

    SingletonError                  base of everything below
    ├── ConfigurationError          an app setting is missing or malformed (also ValueError)
    ├── InvalidInstanceId           the host would reject the ID or the client would mangle it
    │                               (also ValueError)
    ├── InvalidOrchestratorName     not a valid Azure Functions name (also ValueError)
    ├── InvalidScope                a @singleton scope the trigger's data cannot fill
    │                               (also ValueError)
    ├── InvalidStartOption          an unknown conflict/reuse policy, a bad event name or
    │                               Idempotency-Key (also ValueError); names the parameter
    ├── IdempotencyKeyReused        the key was used before for a different request
    ├── IdempotentRequestInFlight   the key's original request is still being answered
    ├── IdempotencyRecordUnreadable another version of durable-singleton wrote the key's record
    ├── LeaseError                  the Redis lease
    │   ├── LeaseBusy               someone else holds it and kept it past our wait
    │   ├── LeaseUnavailable        Redis failed or is unreachable: nothing was acquired
    │   │   └── ReplicasNotAcknowledged
    │   │                           acquired, but too few replicas confirmed it in time;
    │   │                           the lease was released again
    │   └── LeaseLost               held once, but expired or could not be renewed
    └── DurableError                the Durable Functions host failed
        ├── StatusReadFailed        reading an instance's status failed
        ├── StartFailed             the host failed to start the instance
        │   └── StartRejected       the host refused the request as invalid (its 400),
        │                           e.g. no orchestrator function of that name
        ├── TerminateFailed         terminating the existing instance failed
        │   └── TerminateTimedOut   it was asked to terminate but never reported Terminated
        └── RaiseEventFailed        raising the event on the instance failed

Errors of the libraries below (redis-py, aiohttp, the Durable client) are translated into
these at one boundary each, with the original kept as ``__cause__``.
"""

from __future__ import annotations


class SingletonError(Exception):
    """Base class of every durable-singleton error."""


class ConfigurationError(SingletonError, ValueError):
    """An app setting is missing or malformed. The message names the setting."""


class InvalidInstanceId(SingletonError, ValueError):
    """The instance ID is one the Durable host would reject or its client would mangle."""

    def __init__(self, instance_id: str, reason: str) -> None:
        super().__init__(f"invalid instance ID {instance_id!r}: {reason}")
        self.instance_id = instance_id
        self.reason = reason


class InvalidOrchestratorName(SingletonError, ValueError):
    """The orchestrator name is not a valid Azure Functions function name."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"invalid orchestrator name {name!r}: expected a letter, then up to 127 letters, "
            "digits, '_' or '-'"
        )
        self.name = name


class InvalidScope(SingletonError, ValueError):
    """A ``@singleton`` scope could not be resolved from the trigger's data (a missing or empty
    field, a value that is not text or a number); the function did not run."""


class InvalidStartOption(SingletonError, ValueError):
    """A start option is not one the starter knows; the message names the parameter and the
    values it accepts."""

    def __init__(self, parameter: str, value: object, expected: str) -> None:
        super().__init__(f"invalid {parameter} {value!r}: expected {expected}")
        self.parameter = parameter
        self.value = value


class IdempotencyKeyReused(SingletonError):
    """The Idempotency-Key was first used for a different request (another orchestrator,
    instance ID, input or policy); nothing was started."""


class IdempotentRequestInFlight(SingletonError):
    """The request that first used this Idempotency-Key is still being answered; nothing was
    started by this one. Retry later to get its answer."""


class IdempotencyRecordUnreadable(SingletonError):
    """The Idempotency-Key's record was written by another version of durable-singleton (a
    rolling deploy): this version cannot tell its answer, and started nothing. Retry later:
    a worker of that version, or this one once the record expires, answers it."""

    def __init__(self, version: object) -> None:
        super().__init__(
            f"the Idempotency-Key's record has version {version!r}, which this version of "
            "durable-singleton cannot read; nothing was started, retry later"
        )
        self.version = version


class LeaseError(SingletonError):
    """Base class of the lease's errors."""


class LeaseBusy(LeaseError):
    """Another holder kept the lease for longer than we were willing to wait."""


class LeaseUnavailable(LeaseError):
    """Redis failed or could not be reached; no lease is held."""


class ReplicasNotAcknowledged(LeaseUnavailable):
    """Too few replicas acknowledged the acquisition in time; the lease was released."""


class LeaseLost(LeaseError):
    """A held lease expired or could not be renewed; the guarded work is no longer exclusive."""


class DurableError(SingletonError):
    """The Durable Functions host failed to answer as expected."""


class StatusReadFailed(DurableError):
    """Reading an orchestration instance's status failed (not the same as "absent")."""


class StartFailed(DurableError):
    """The Durable host failed to start an orchestration instance."""


class StartRejected(StartFailed):
    """The Durable host refused the start as invalid (HTTP 400), e.g. an unknown orchestrator."""


class TerminateFailed(DurableError):
    """Terminating the active instance (``terminate-existing``) failed; nothing was started."""


class TerminateTimedOut(TerminateFailed):
    """The active instance was asked to terminate but the host never reported it finished
    within the wait; nothing was started."""


class RaiseEventFailed(DurableError):
    """The host failed to deliver the event (event-with-start)."""
