"""Errors of the embedded Durable backend.

    DurableBackendError
    ├── InvalidInstanceIdError       400 on the host (ArgumentException)
    ├── UnknownOrchestratorError     400 on the host (ArgumentException)
    ├── OrchestrationAlreadyExistsError  500 on the host (DurableTask.Core exception)
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


class InjectedFaultError(DurableBackendError):
    """A failure injected by a test through ``DurableBackend.inject_fault``."""

    exception_type = "Azure.RequestFailedException"
