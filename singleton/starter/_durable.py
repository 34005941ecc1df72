"""The one boundary to the Durable clients: the v1 HTTP client here, the gRPC ones in ``_grpc.py``.

The starter calls the dispatching functions at the end of this module (``read_status``,
``start_orchestration``, ``terminate_existing``, ``deliver_event``, ``hub_name``); each answers
the v1 ``DurableOrchestrationClient`` with the functions below and a ``durabletask`` gRPC
client (``AsyncTaskHubGrpcClient``, its subclasses, ``TaskHubGrpcClient``) with ``_grpc.py``.

The v1 client's (azure-functions-durable 1.x) answers are ambiguous in ways that matter to a
singleton, so they are translated here, once:

* ``get_status`` hides the status code: it gives the same *falsy* status object for an
  absent instance (404) and for a host error without a body (a 500 with an empty body).
  Only the first means "absent", so the status is read here at the client's own endpoint
  (its ``rpcBaseUrl`` + ``instances/{id}``, the URL ``get_status`` uses) and the code
  decides: 404 absent, 200/202 a status, anything else :class:`StatusReadFailed`.
* ``raise_event`` posts ``json.dumps(data)`` as JSON: the data arrives JSON-encoded twice
  (``"alice"`` reaches the orchestrator as ``'"alice"'``, azure-functions-durable-python
  #295). Events are posted here, once encoded, to ``rpcBaseUrl`` +
  ``instances/{id}/raiseEvent/{name}``, with the client's answers for 202/404/410/400.
* ``start_new`` raises a bare ``Exception``: with a ``str`` for the host's 400 (invalid
  request, e.g. no such orchestrator), with the host's error ``dict`` for anything else —
  including the 500 ``OrchestrationAlreadyExistsException`` that means "already running".
* Connection problems surface as raw ``aiohttp`` / ``asyncio`` errors.

The two direct calls go through the client library's own shared HTTP session (its
connection pool, and its recycling after a connection error). aiohttp and the client's
modules are imported inside the functions that use them: ``import singleton.starter``
stays free of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import json
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeAlias, TypeVar, cast

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
    """The part of ``azure.durable_functions.DurableOrchestrationClient`` we call.

    Status reads and events go to the client's own endpoint instead (see the module's
    docstring): a client used here also carries its binding, ``_orchestration_bindings``
    (with ``rpc_base_url`` and ``task_hub_name``), as the real one does."""

    async def start_new(
        self,
        orchestration_function_name: str,
        instance_id: str | None = None,
        client_input: Any | None = None,
    ) -> str: ...

    async def terminate(self, instance_id: str, reason: str) -> None: ...


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
_READ_ATTEMPTS = 3
_READ_BACKOFF = 0.05  # s before the 2nd attempt, doubling, at most _READ_BACKOFF_MAX
_READ_BACKOFF_MAX = 0.5
STATUS_READ_RETRY = AsyncRetrying(
    stop=stop_after_attempt(_READ_ATTEMPTS),
    wait=wait_exponential(multiplier=_READ_BACKOFF, max=_READ_BACKOFF_MAX),
    retry=retry_if_exception(_is_connection_error),
    reraise=True,
)

T = TypeVar("T")
#: The retry's wait (tests replace it to see the waits without waiting).
_sleep = asyncio.sleep


async def _retried(retrying: AsyncRetrying, call: Callable[..., Awaitable[T]], *args: Any) -> T:
    """``await call(*args)`` under ``retrying``. The default policy (:data:`STATUS_READ_RETRY`)
    runs as a plain loop with the same attempts, waits and reraising: a tenacity round
    (copy, attempt state, actions) cost ~45 µs per read, on every start's hot path, for a
    retry that almost never happens. Any other policy goes through tenacity itself."""
    if retrying is not STATUS_READ_RETRY:
        result: T = await retrying.copy()(call, *args)
        return result
    attempt = 1
    while True:
        try:
            return await call(*args)
        except Exception as exc:
            if attempt >= _READ_ATTEMPTS or not _is_connection_error(exc):
                raise
        # wait_exponential: multiplier * 2 ** (attempt - 1), capped at max
        await _sleep(min(_READ_BACKOFF_MAX, _READ_BACKOFF * 2 ** (attempt - 1)))
        attempt += 1


# ------------------------------------------------------------- the v1 client's own endpoint


def rpc_base_url(client: DurableClient) -> str | None:
    """The client's ``rpcBaseUrl`` (ends with ``/``), or ``None`` if its binding has none."""
    bindings = getattr(client, "_orchestration_bindings", None)
    url = getattr(bindings, "rpc_base_url", None)
    return url if isinstance(url, str) and url.endswith("/") else None


async def _rpc_request(
    client: DurableClient, method: str, url: str, body: bytes | None = None
) -> tuple[int, bytes]:
    """One request to the host's RPC endpoint on the client library's shared session: the
    status code and the raw body. A connection error recycles that session (as the client
    does) and propagates."""
    import aiohttp  # lazily: see the module's docstring
    from azure.durable_functions.models.utils import http_utils

    headers = {"Content-Type": "application/json"} if body is not None else {}
    invocation_id = getattr(client, "_function_invocation_id", None)
    if isinstance(invocation_id, str) and invocation_id:
        headers["X-Azure-Functions-InvocationId"] = invocation_id
    session = await http_utils._get_session()
    try:
        async with session.request(method, url, data=body, headers=headers) as response:
            return response.status, await response.read()
    except (aiohttp.ClientError, asyncio.TimeoutError):
        await http_utils._handle_request_error()
        raise


def _error_text(body: bytes) -> str:
    """What a host error body says (its ExceptionMessage or Message), for the log only."""
    try:
        data = json.loads(body)
    except ValueError:
        return repr(body[:200])
    if isinstance(data, dict):
        return str(data.get("ExceptionMessage") or data.get("Message") or data)[:500]
    return repr(data)[:500]


@dataclasses.dataclass(frozen=True)
class Instance:
    """What the host reports of an instance: its runtime status and its input as shown."""

    runtime_status: RuntimeStatus
    input: Any


async def read_instance(
    client: DurableClient, instance_id: str, *, retrying: AsyncRetrying = STATUS_READ_RETRY
) -> Instance | None:
    """The instance as the host reports it, or ``None`` when no instance has that ID.

    ``GET rpcBaseUrl + instances/{id}`` (``get_status``'s own URL and query): a 404 is
    "absent", a 200 or 202 with a status object is an instance. Anything else — another
    code, a 500 with or without a body, a body that is not a status, a reset, a timeout —
    raises :class:`StatusReadFailed`: never ``None`` for that. Reading is idempotent, so a
    dropped connection is retried (``retrying``).
    """
    base = rpc_base_url(client)
    if base is None:
        raise StatusReadFailed(
            "the Durable client's binding has no rpcBaseUrl: its status reads cannot tell "
            "an absent instance from a host error"
        )
    # Unencoded, as the client pastes it: instance IDs are validated to survive that.
    url = f"{base}instances/{instance_id}"
    try:
        reply: tuple[int, bytes] = await _retried(retrying, _rpc_request, client, "GET", url)
    except Exception as exc:  # raw aiohttp / asyncio errors
        raise StatusReadFailed(f"reading the status of {instance_id!r} failed: {exc!r}") from exc
    code, body = reply
    if code == 404:
        return None
    if code not in (200, 202):
        raise StatusReadFailed(
            f"reading the status of {instance_id!r} failed: HTTP {code}: {_error_text(body)}"
        )
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise StatusReadFailed(
            f"the host answered the status of {instance_id!r} with HTTP {code} and a body "
            f"that is not JSON: {body[:200]!r}"
        ) from exc
    runtime_status = data.get("runtimeStatus") if isinstance(data, dict) else None
    if runtime_status is None:
        raise StatusReadFailed(f"the host gave no runtime status for {instance_id!r} (HTTP {code})")
    try:
        status = RuntimeStatus(runtime_status)
    except ValueError as exc:
        raise StatusReadFailed(
            f"unknown runtime status {runtime_status!r} for {instance_id!r}"
        ) from exc
    return Instance(runtime_status=status, input=data.get("input"))


async def read_runtime_status(
    client: DurableClient, instance_id: str, *, retrying: AsyncRetrying = STATUS_READ_RETRY
) -> RuntimeStatus | None:
    """The instance's runtime status, or ``None`` when no instance has that ID (a 404).

    Raises :class:`StatusReadFailed` when the host could not say (see :func:`read_instance`).
    """
    instance = await read_instance(client, instance_id, retrying=retrying)
    return None if instance is None else instance.runtime_status


def started_with(instance: Instance, client_input: Any) -> bool:
    """Whether ``instance`` shows the input that ``start_new(..., client_input)`` sent.

    The client posts its input JSON-encoded (``df_dumps``) inside JSON, so the host shows it
    as that JSON text; a host that shows the value itself is matched too. Compared as
    canonical JSON (``1`` is not ``true``): equal inputs count as the same start.
    """
    from azure.durable_functions.models.utils.df_serialization import df_dumps

    expected = None if client_input is None else _canonical(json.loads(df_dumps(client_input)))
    shown = instance.input
    candidates = [shown]
    if isinstance(shown, str):
        with contextlib.suppress(ValueError):
            candidates.append(json.loads(shown))
    return any(_canonical(candidate) == expected for candidate in candidates)


def _canonical(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, separators=(",", ":"))


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


#: The client's messages for the raise-event answers it knows (its ``raise_event``).
_RAISE_EVENT_ANSWERS = {
    410: "Instance with ID {id} is gone: either completed or failed",
    404: "No instance with ID {id} found.",
    400: "Only application/json request content is supported",
}


async def raise_event(client: DurableClient, instance_id: str, name: str, data: Any) -> None:
    """Raise event ``name`` with ``data`` on the instance, ``data`` JSON-encoded once;
    :class:`RaiseEventFailed` if the host did not accept it (202).

    ``POST rpcBaseUrl + instances/{id}/raiseEvent/{name}`` with ``data`` as the body, so the
    orchestrator's ``wait_for_external_event`` gets ``data`` itself, as Azure delivers an
    event posted to its webhook. Not retried: a post whose answer was lost may have been
    delivered."""
    base = rpc_base_url(client)
    if base is None:
        raise RaiseEventFailed(
            f"raising event {name!r} on {instance_id!r}: the Durable client's binding has "
            "no rpcBaseUrl"
        )
    try:
        body = json.dumps(data).encode()
    except (TypeError, ValueError) as exc:
        raise RaiseEventFailed(
            f"the data of event {name!r} is not JSON-serialisable: {exc}"
        ) from exc
    url = f"{base}instances/{instance_id}/raiseEvent/{name}"
    try:
        code, answer = await _rpc_request(client, "POST", url, body)
    except Exception as exc:  # raw aiohttp / asyncio errors
        raise RaiseEventFailed(
            f"raising event {name!r} on {instance_id!r} failed: {exc!r}"
        ) from exc
    if code == 202:
        return
    known = _RAISE_EVENT_ANSWERS.get(code)
    message = (
        known.format(id=instance_id)
        if known is not None
        else f"Webhook returned unrecognized status code {code}: {_error_text(answer)}"
    )
    raise RaiseEventFailed(f"raising event {name!r} on {instance_id!r} failed: {message}")


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


async def runs_other_input(
    client: AnyDurableClient, instance_id: str, client_input: Any
) -> RuntimeStatus | None:
    """The instance's status when it runs another start's input than ``client_input``;
    ``None`` when it runs this one's (equal inputs count as ours) or no instance has the ID.
    :class:`StatusReadFailed` when the host could not say."""
    if is_grpc_client(client):
        from singleton.starter import _grpc

        return await _grpc.runs_other_input(
            cast("_grpc.GrpcClient", client), instance_id, client_input
        )
    instance = await read_instance(cast(DurableClient, client), instance_id)
    if instance is None or started_with(instance, client_input):
        return None
    return instance.runtime_status


async def deliver_event(client: AnyDurableClient, instance_id: str, name: str, data: Any) -> None:
    """Raise event ``name`` with ``data`` on the instance, the data encoded once."""
    if is_grpc_client(client):
        from singleton.starter import _grpc

        await _grpc.raise_event(cast("_grpc.GrpcClient", client), instance_id, name, data)
        return
    await raise_event(cast(DurableClient, client), instance_id, name, data)
