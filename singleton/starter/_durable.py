"""The one boundary to the Durable clients: the v1 HTTP client here, the gRPC ones in ``_grpc.py``.

The starter calls the dispatching functions at the end of this module (``read_status``,
``start_orchestration``, ``terminate_existing``, ``deliver_event``, ``hub_name``); each answers
the v1 ``DurableOrchestrationClient`` with the functions below and a ``durabletask`` gRPC
client (``AsyncTaskHubGrpcClient``, its subclasses, ``TaskHubGrpcClient``) with ``_grpc.py``.

The v1 client's (azure-functions-durable 1.x) answers are ambiguous in ways that matter to a
singleton, so they are translated here, once:

* ``get_status`` returns a *falsy* status object both for an absent instance and for a
  host error (the latter carries ``ExceptionMessage``); only the first means "absent".
* ``start_new`` raises a bare ``Exception``: with a ``str`` for the host's 400 (invalid
  request, e.g. no such orchestrator), with the host's error ``dict`` for anything else —
  including the 500 ``OrchestrationAlreadyExistsException`` that means "already running".
* Connection problems surface as raw ``aiohttp`` / ``asyncio`` errors.

One ambiguity cannot be removed through the client: it hides the status code, so a reply
with an *empty* body reads like the host's "absent" (404, empty body). The host always sends
its errors with a JSON body, so that is taken to mean absent.
"""

from __future__ import annotations

import asyncio
import enum
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeAlias, cast

from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from singleton._errors import (
    RaiseEventFailed,
    StartFailed,
    StartRejected,
    StatusReadFailed,
    TerminateFailed,
    TerminateTimedOut,
)

_ALREADY_EXISTS_TYPE = "OrchestrationAlreadyExistsException"
_ALREADY_EXISTS_MESSAGE = "already exists"


class RuntimeStatus(str, enum.Enum):
    """The runtime statuses the host reports, by their wire names."""

    PENDING = "Pending"
    RUNNING = "Running"
    CONTINUED_AS_NEW = "ContinuedAsNew"
    SUSPENDED = "Suspended"
    COMPLETED = "Completed"
    FAILED = "Failed"
    TERMINATED = "Terminated"
    CANCELED = "Canceled"

    @property
    def is_active(self) -> bool:
        """Whether an instance in this status still holds its ID (a new start must wait)."""
        return self in _ACTIVE


_ACTIVE = frozenset(
    {
        RuntimeStatus.PENDING,
        RuntimeStatus.RUNNING,
        RuntimeStatus.CONTINUED_AS_NEW,
        RuntimeStatus.SUSPENDED,
    }
)


class DurableClient(Protocol):
    """The part of ``azure.durable_functions.DurableOrchestrationClient`` we use."""

    async def get_status(self, instance_id: str) -> Any: ...

    async def start_new(
        self,
        orchestration_function_name: str,
        instance_id: str | None = None,
        client_input: Any | None = None,
    ) -> str: ...

    async def terminate(self, instance_id: str, reason: str) -> None: ...

    async def raise_event(
        self, instance_id: str, event_name: str, event_data: Any = None
    ) -> None: ...


def task_hub_of(client: DurableClient) -> str:
    """The task hub the client's binding names.

    The client declares a ``task_hub_name`` attribute but never sets it (1.x); the binding it
    was built from holds the name.
    """
    name = getattr(client, "task_hub_name", None)
    if not name:
        bindings = getattr(client, "_orchestration_bindings", None)
        name = getattr(bindings, "task_hub_name", None)
    if not isinstance(name, str) or not name:
        raise StartFailed("the Durable client binding names no task hub")
    return name


class InstanceAlreadyExistsError(Exception):
    """The host's own duplicate guard refused the start (internal signal, never escapes)."""


def _is_connection_error(exc: BaseException) -> bool:
    """A dropped connection or a time-out. aiohttp is not imported for this (importing the
    starter stays light): an aiohttp error exists only once the client has imported it."""
    if isinstance(exc, asyncio.TimeoutError):
        return True
    aiohttp = sys.modules.get("aiohttp")
    return aiohttp is not None and isinstance(exc, aiohttp.ClientConnectionError)


#: How a status read is retried when the *connection* failed (the client recycles its
#: session after a connection error, so the next try usually succeeds). The host's own
#: error answers are not retried: they are answers.
STATUS_READ_RETRY = AsyncRetrying(
    stop=stop_after_attempt(3),
    wait=wait_exponential(multiplier=0.05, max=0.5),
    retry=retry_if_exception(_is_connection_error),
    reraise=True,
)


async def read_runtime_status(
    client: DurableClient, instance_id: str, *, retrying: AsyncRetrying = STATUS_READ_RETRY
) -> RuntimeStatus | None:
    """The instance's runtime status, or ``None`` when no instance has that ID.

    Raises :class:`StatusReadFailed` when the host could not say — never ``None`` for that.
    Reading is idempotent, so a dropped connection is retried (``retrying``).
    """
    try:
        status: Any = await retrying.copy()(client.get_status, instance_id)
    except Exception as exc:  # the client raises bare Exception and raw aiohttp errors
        raise StatusReadFailed(f"reading the status of {instance_id!r} failed: {exc!r}") from exc
    # A host error carries ExceptionMessage; a non-JSON-object body arrives as ``message``.
    # The absent instance's empty 404 body arrives as ``message == ""``.
    error = getattr(status, "ExceptionMessage", None) or getattr(status, "message", None)
    if error:
        raise StatusReadFailed(f"reading the status of {instance_id!r} failed: {error}")
    runtime_status = getattr(status, "runtime_status", None)
    if runtime_status is None:
        if status:  # the host described an instance but gave no status: not "absent"
            raise StatusReadFailed(f"the host gave no runtime status for {instance_id!r}")
        return None
    try:
        return RuntimeStatus(getattr(runtime_status, "value", runtime_status))
    except ValueError as exc:
        raise StatusReadFailed(
            f"unknown runtime status {runtime_status!r} for {instance_id!r}"
        ) from exc


async def start_instance(
    client: DurableClient, orchestrator: str, instance_id: str, client_input: Any
) -> None:
    """Ask the host to start ``orchestrator`` as ``instance_id``.

    Raises :class:`InstanceAlreadyExistsError` when the host's duplicate guard refused,
    :class:`StartRejected` for the host's 400, :class:`StartFailed` for anything else.
    """
    try:
        started_id = await client.start_new(orchestrator, instance_id, client_input)
    except Exception as exc:
        detail = exc.args[0] if exc.args else None
        text = str(detail)
        # Extension 2.x answers the duplicate with a 500 naming the exception type; newer
        # versions answer 409 with the same message. Either is the host's own guard.
        if _ALREADY_EXISTS_TYPE in text or _ALREADY_EXISTS_MESSAGE in text:
            raise InstanceAlreadyExistsError(instance_id) from exc
        if isinstance(detail, dict):
            message = detail.get("ExceptionMessage") or detail.get("Message") or detail
            raise StartFailed(
                f"starting {orchestrator!r} as {instance_id!r} failed: {message}"
            ) from exc
        if isinstance(detail, str) and type(exc) is Exception:
            raise StartRejected(f"the host refused to start {orchestrator!r}: {detail}") from exc
        raise StartFailed(f"starting {orchestrator!r} as {instance_id!r} failed: {exc!r}") from exc
    if started_id != instance_id:
        raise StartFailed(f"the host started {started_id!r} when asked for {instance_id!r}")


#: The client's message when terminate finds no instance (its 404).
_NO_INSTANCE = "No instance with ID"


async def terminate_and_wait(
    client: DurableClient,
    instance_id: str,
    reason: str,
    *,
    timeout: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> RuntimeStatus | None:
    """Terminate the instance and wait until the host no longer reports it active.

    Returns the status it ended in (``None``: it is gone). The host terminates asynchronously
    (the terminate call only queues the request), so the status is polled, backing off from
    50 ms to 500 ms. Raises :class:`TerminateFailed` when the host refuses,
    :class:`TerminateTimedOut` when it is still active after ``timeout`` seconds.
    """
    try:
        # 410 (it finished meanwhile) is not an error for the client; 404 (gone) raises.
        await client.terminate(instance_id, reason)
    except Exception as exc:
        if _NO_INSTANCE not in str(exc):
            raise TerminateFailed(f"terminating {instance_id!r} failed: {exc!r}") from exc
    deadline = clock() + timeout
    pause = 0.05
    while True:
        status = await read_runtime_status(client, instance_id)
        if status is None or not status.is_active:
            return status
        if clock() >= deadline:
            raise TerminateTimedOut(
                f"{instance_id!r} was asked to terminate but is still {status.value} after "
                f"{timeout:g} s; nothing was started"
            )
        await sleep(max(0.0, min(pause, deadline - clock())))
        pause = min(pause * 2, 0.5)


async def raise_event(client: DurableClient, instance_id: str, name: str, data: Any) -> None:
    """Raise event ``name`` with ``data`` on the instance; :class:`RaiseEventFailed` if the host
    did not accept it."""
    try:
        await client.raise_event(instance_id, name, data)
    except Exception as exc:  # the client raises bare Exception and raw aiohttp errors
        raise RaiseEventFailed(
            f"raising event {name!r} on {instance_id!r} failed: {exc!r}"
        ) from exc


# -- One boundary for every Durable client -------------------------------------------------
# The v1 functions above speak to DurableOrchestrationClient; a durabletask gRPC client is
# answered by _grpc.py, imported only when such a client is given (so durabletask and grpc
# are never imported otherwise). The starter calls these.


class GrpcDurableClient(Protocol):
    """The part of ``durabletask.client.AsyncTaskHubGrpcClient`` (and its subclasses: Functions
    v2's ``DurableFunctionsClient``, the Durable Task Scheduler's client) and of the sync
    ``TaskHubGrpcClient`` we use; async methods return awaitables, sync ones values."""

    def get_orchestration_state(self, instance_id: str, *, fetch_payloads: bool = ...) -> Any: ...

    def schedule_new_orchestration(
        self,
        orchestrator: Any,
        *,
        input: Any = ...,
        instance_id: str | None = ...,
        reuse_id_policy: Any = ...,
    ) -> Any: ...

    def raise_orchestration_event(
        self, instance_id: str, event_name: str, *, data: Any = ...
    ) -> Any: ...

    def terminate_orchestration(
        self, instance_id: str, *, output: Any = ..., recursive: bool = ...
    ) -> Any: ...


#: Every client the starter accepts.
AnyDurableClient: TypeAlias = DurableClient | GrpcDurableClient


def is_grpc_client(client: object) -> bool:
    """Whether ``client`` is a ``durabletask`` gRPC client. Nothing is imported to tell: such
    a client exists only once ``durabletask.client`` has been imported."""
    sdk = sys.modules.get("durabletask.client")
    return sdk is not None and isinstance(
        client, (sdk.AsyncTaskHubGrpcClient, sdk.TaskHubGrpcClient)
    )


def hub_name(client: AnyDurableClient) -> str:
    """The task hub the client talks to (part of every lease name)."""
    if is_grpc_client(client):
        from singleton.starter import _grpc

        return _grpc.task_hub_of(cast("_grpc.GrpcClient", client))
    return task_hub_of(cast(DurableClient, client))


async def read_status(client: AnyDurableClient, instance_id: str) -> RuntimeStatus | None:
    """The instance's status, ``None`` when absent; :class:`StatusReadFailed` when unknown."""
    if is_grpc_client(client):
        from singleton.starter import _grpc

        return await _grpc.read_runtime_status(cast("_grpc.GrpcClient", client), instance_id)
    return await read_runtime_status(cast(DurableClient, client), instance_id)


async def start_orchestration(
    client: AnyDurableClient,
    orchestrator: str,
    instance_id: str,
    client_input: Any,
    *,
    replacing: RuntimeStatus | None,
) -> None:
    """Start ``orchestrator`` as ``instance_id``; ``replacing`` is the status the starter read
    and decided to replace (``None``: absent). The gRPC start passes it as the reuse policy;
    the v1 host applies its own (``overridableExistingInstanceStates``)."""
    if is_grpc_client(client):
        from singleton.starter import _grpc

        grpc_client = cast("_grpc.GrpcClient", client)
        await _grpc.start_instance(
            grpc_client, orchestrator, instance_id, client_input, replacing=replacing
        )
        return
    await start_instance(cast(DurableClient, client), orchestrator, instance_id, client_input)


async def terminate_existing(
    client: AnyDurableClient, instance_id: str, reason: str, *, timeout: float
) -> RuntimeStatus | None:
    """Terminate the instance and wait until it is no longer active; the status it ended in."""
    if is_grpc_client(client):
        from singleton.starter import _grpc

        grpc_client = cast("_grpc.GrpcClient", client)
        return await _grpc.terminate_and_wait(grpc_client, instance_id, reason, timeout=timeout)
    return await terminate_and_wait(
        cast(DurableClient, client), instance_id, reason, timeout=timeout
    )


async def deliver_event(client: AnyDurableClient, instance_id: str, name: str, data: Any) -> None:
    """Raise event ``name`` with ``data`` on the instance, the data encoded once."""
    if is_grpc_client(client):
        from singleton.starter import _grpc

        await _grpc.raise_event(cast("_grpc.GrpcClient", client), instance_id, name, data)
        return
    await raise_event(cast(DurableClient, client), instance_id, name, data)
