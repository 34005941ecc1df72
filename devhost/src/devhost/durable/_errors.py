"""Errors of the embedded Durable backend.

    DurableBackendError
    ├── InvalidInstanceIdError       400 on the host (ArgumentException)
    ├── UnknownOrchestratorError     400 on the host (ArgumentException)
    ├── InvalidArgumentError         400 (ArgumentException)
    ├── InstanceNotFoundError        400 on restart (ArgumentException)
    ├── OrchestrationAlreadyExistsError  500 on the host (DurableTask.Core exception)
    ├── InvalidOperationError        500: suspend/resume/rewind in the wrong status
    ├── InvalidContinuationTokenError  500: a list page token the store cannot read
    └── InjectedFaultError           a failure a test asked for with ``inject_fault``

Each carries the .NET exception type the real host reports, so the HTTP layer can answer with
the host's error JSON (``Message``, ``ExceptionMessage``, ``ExceptionType``, ``StackTrace``).
"""

from __future__ import annotations


class DurableBackendError(Exception):
    """Base of every error raised by ``devhost.durable``."""

    exception_type = "System.Exception"


class InvalidInstanceIdError(DurableBackendError):
    """The instance ID breaks the host's rules: leading '@', '/', '\\', '?', '#', control, > 256."""

    exception_type = "System.ArgumentException"


class UnknownOrchestratorError(DurableBackendError):
    """No orchestrator function of that name is registered."""

    exception_type = "System.ArgumentException"


class OrchestrationAlreadyExistsError(DurableBackendError):
    """An instance with that ID exists in a status that ``overridable_states`` protects."""

    exception_type = "DurableTask.Core.Exceptions.OrchestrationAlreadyExistsException"


class InvalidArgumentError(DurableBackendError):
    """An argument the host refuses with ArgumentException (400), e.g. a polling interval
    longer than the wait's timeout."""

    exception_type = "System.ArgumentException"


class InstanceNotFoundError(DurableBackendError):
    """No instance with that ID (DurableClient.RestartAsync's ArgumentException)."""

    exception_type = "System.ArgumentException"


class InvalidOperationError(DurableBackendError):
    """The instance is in a status the operation refuses (DurableClient's
    InvalidOperationException, which HttpApiHandler lets through as a 500)."""

    exception_type = "System.InvalidOperationException"


class InvalidContinuationTokenError(DurableBackendError):
    """An ``x-ms-continuation-token`` that no page of ours issued."""

    exception_type = "System.FormatException"


class InjectedFaultError(DurableBackendError):
    """A failure injected by a test through ``DurableBackend.inject_fault``."""

    exception_type = "Azure.RequestFailedException"
