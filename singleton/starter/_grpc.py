"""The boundary to the gRPC Durable clients (the Durable Task SDK, ``durabletask``).

One adapter serves every client built on ``durabletask.client``:

* ``AsyncTaskHubGrpcClient`` and its subclasses: Azure Functions Python v2's
  ``DurableFunctionsClient`` (``azure-functions-durable`` 2.x) and the Durable Task
  Scheduler's client (``durabletask-azuremanaged``);
* the sync ``TaskHubGrpcClient``, whose blocking calls run in a thread (``asyncio.to_thread``)
  so the event loop never waits on the network.

This module is imported only when the starter is given such a client (``_durable.py``
dispatches), so ``durabletask`` and ``grpc`` are never imported otherwise.

What the gRPC client's answers mean, translated here once:

* ``get_orchestration_state`` returns ``None`` for an absent instance; a gRPC error is a
  failed read (:class:`StatusReadFailed`), never "absent".
* ``schedule_new_orchestration`` raises ``ALREADY_EXISTS`` when the backend's own duplicate
  guard refused: the same signal as the v1 host's ``OrchestrationAlreadyExists``.
  The start always carries an ``OrchestrationIdReusePolicy`` naming exactly the status this
  starter decided to replace (see :func:`reuse_policy`): left unset, the SDK's backend
  replaces nothing, so a Completed instance could never be started again.
* ``INVALID_ARGUMENT`` is the backend refusing the request itself (the v1 host's 400);
  ``NOT_FOUND``, ``UNAVAILABLE``, ``DEADLINE_EXCEEDED`` and every other code are a failed
  call (:class:`DurableError`, 502 at the HTTP adapter).
* Event data, inputs and the terminate reason are handed to the client as Python values:
  the client's data converter encodes each once (the orchestration's
  ``wait_for_external_event`` returns the value the caller sent, not a JSON string of it).
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Callable, Iterable
from typing import Any

from durabletask import client as dt
from durabletask.internal import orchestrator_service_pb2 as pb
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from singleton._errors import (
    RaiseEventFailed,
    StartFailed,
    StartRejected,
    StatusReadFailed,
    TerminateFailed,
    TerminateTimedOut,
)
from singleton.starter._durable import InstanceAlreadyExistsError, RuntimeStatus

GrpcClient = dt.AsyncTaskHubGrpcClient | dt.TaskHubGrpcClient

#: The codes that mean "the call did not get through": a read is retried on them.
_TRANSIENT = frozenset({"UNAVAILABLE"})


def _code(exc: BaseException) -> str | None:
    """The gRPC status code's name (``"ALREADY_EXISTS"``) of a ``grpc.RpcError``, else None.

    Read by name from the error (``grpc.aio.AioRpcError`` and the sync call's error both
    have ``code()``), so grpc's untyped module is not imported here."""
    code = getattr(exc, "code", None)
    if not callable(code):
        return None
    try:
        name = getattr(code(), "name", None)
    except Exception:
        return None
    return name if isinstance(name, str) else None


def _describe(exc: BaseException) -> str:
    code = _code(exc)
    if code is None:
        return repr(exc)
    details = getattr(exc, "details", None)
    text = details() if callable(details) else None
    return f"{code}: {text}" if text else code


async def _call(client: GrpcClient, method: str, *args: Any, **kwargs: Any) -> Any:
    """Call ``method`` on the client: awaited on an async client, in a thread on a sync one."""
    bound: Callable[..., Any] = getattr(client, method)
    if isinstance(client, dt.AsyncTaskHubGrpcClient):
        return await bound(*args, **kwargs)
    return await asyncio.to_thread(functools.partial(bound, *args, **kwargs))


#: A status read is idempotent: retried when the backend was unreachable (UNAVAILABLE).
STATUS_READ_RETRY = AsyncRetrying(
    stop=stop_after_attempt(3),
    wait=wait_exponential(multiplier=0.05, max=0.5),
    retry=retry_if_exception(lambda exc: _code(exc) in _TRANSIENT),
    reraise=True,
)


def task_hub_of(client: GrpcClient) -> str:
    """The name that keeps two task hubs sharing one Redis apart in the lease names.

    The ``taskhub`` header the client sends names it: the Durable Task Scheduler's clients
    send it (their interceptor holds it), as does a client built with
    ``metadata=[("taskhub", ...)]``; a ``task_hub_name`` attribute is read first. Otherwise
    the backend's address names it: use one address for one backend in every process that
    shares the leases, and give two hubs behind one address their own ``Leases`` namespace.
    """
    name = getattr(client, "task_hub_name", None)
    if isinstance(name, str) and name:
        return name
    for interceptor in getattr(client, "_interceptors", None) or ():
        for entry in getattr(interceptor, "_metadata", None) or ():
            match entry:
                case ("taskhub", str(hub)) if hub:
                    return hub
    address = getattr(client, "_host_address", None)
    if isinstance(address, str) and address:
        return f"grpc:{address}"
    raise StartFailed("the gRPC Durable client names neither a task hub nor an address")


async def _read_state(
    client: GrpcClient, instance_id: str, *, payloads: bool, retrying: AsyncRetrying
) -> Any:
    """``get_orchestration_state`` (None when absent); :class:`StatusReadFailed` on an error."""
    try:
        return await retrying.copy()(
            _call, client, "get_orchestration_state", instance_id, fetch_payloads=payloads
        )
    except Exception as exc:
        raise StatusReadFailed(
            f"reading the status of {instance_id!r} failed: {_describe(exc)}"
        ) from exc


def _status_of(state: Any, instance_id: str) -> RuntimeStatus:
    status = getattr(state, "runtime_status", None)
    try:
        return RuntimeStatus[status.name]  # type: ignore[union-attr]
    except (AttributeError, KeyError) as exc:
        raise StatusReadFailed(f"unknown runtime status {status!r} for {instance_id!r}") from exc


async def read_runtime_status(
    client: GrpcClient, instance_id: str, *, retrying: AsyncRetrying = STATUS_READ_RETRY
) -> RuntimeStatus | None:
    """The instance's runtime status, or ``None`` when no instance has that ID; raises
    :class:`StatusReadFailed` when the backend could not say."""
    state = await _read_state(client, instance_id, payloads=False, retrying=retrying)
    return None if state is None else _status_of(state, instance_id)


async def runs_other_input(
    client: GrpcClient, instance_id: str, client_input: Any
) -> RuntimeStatus | None:
    """The instance's status when its input is not ``client_input`` (decoded JSON compared;
    equal inputs count as ours), ``None`` when it is or no instance has the ID; raises
    :class:`StatusReadFailed` when the backend could not say."""
    state = await _read_state(client, instance_id, payloads=True, retrying=STATUS_READ_RETRY)
    if state is None:
        return None
    text = getattr(state, "serialized_input", None)
    try:
        shown = None if text is None else json.loads(text)
    except ValueError:
        shown = text
    return None if shown == client_input else _status_of(state, instance_id)


def reuse_policy(replacing: Iterable[RuntimeStatus]) -> pb.OrchestrationIdReusePolicy:
    """The proto reuse policy that lets the start replace exactly ``replacing``.

    ``replaceableStatus`` lists the statuses an existing instance may be in to be *replaced*
    (the .NET and JS SDKs' ``dedupeStatuses`` is its complement: the statuses that refuse).
    An empty list replaces nothing: any existing instance is a conflict (``ALREADY_EXISTS``).
    """
    return pb.OrchestrationIdReusePolicy(
        replaceableStatus=[
            pb.OrchestrationStatus.Value(f"ORCHESTRATION_STATUS_{status.name}")
            for status in replacing
        ]
    )


async def start_instance(
    client: GrpcClient,
    orchestrator: str,
    instance_id: str,
    client_input: Any,
    *,
    replacing: RuntimeStatus | None,
) -> None:
    """Schedule ``orchestrator`` as ``instance_id``, replacing an instance only if it is
    ``replacing`` (the finished status the starter read under its lease; ``None``: it read
    no instance, so nothing may be replaced).

    Raises :class:`InstanceAlreadyExistsError` when the backend's duplicate guard refused,
    :class:`StartRejected` for ``INVALID_ARGUMENT``, :class:`StartFailed` for anything else.
    """
    policy = reuse_policy(() if replacing is None or replacing.is_active else (replacing,))
    try:
        started_id = await _call(
            client,
            "schedule_new_orchestration",
            orchestrator,
            input=client_input,
            instance_id=instance_id,
            reuse_id_policy=policy,
        )
    except Exception as exc:
        code = _code(exc)
        if code == "ALREADY_EXISTS":
            raise InstanceAlreadyExistsError(instance_id) from exc
        if code == "INVALID_ARGUMENT":
            raise StartRejected(
                f"the backend refused to start {orchestrator!r}: {_describe(exc)}"
            ) from exc
        raise StartFailed(
            f"starting {orchestrator!r} as {instance_id!r} failed: {_describe(exc)}"
        ) from exc
    if started_id != instance_id:
        raise StartFailed(f"the backend started {started_id!r} when asked for {instance_id!r}")


async def terminate_and_wait(
    client: GrpcClient, instance_id: str, reason: str, *, timeout: float
) -> RuntimeStatus | None:
    """Terminate the instance and wait (server-side, one call) until it is no longer active.

    Returns the status it ended in (``None``: it is gone). Raises :class:`TerminateFailed`
    when the backend refuses, :class:`TerminateTimedOut` when it is still active after
    ``timeout`` seconds.
    """
    try:
        await _call(client, "terminate_orchestration", instance_id, output=reason, recursive=True)
    except Exception as exc:
        if _code(exc) != "NOT_FOUND":
            raise TerminateFailed(f"terminating {instance_id!r} failed: {_describe(exc)}") from exc
        return await read_runtime_status(client, instance_id)  # gone meanwhile
    try:
        await _call(
            client,
            "wait_for_orchestration_completion",
            instance_id,
            fetch_payloads=False,
            timeout=max(timeout, 0.001),
        )
    except TimeoutError as exc:  # the SDK's translation of DEADLINE_EXCEEDED
        raise TerminateTimedOut(
            f"{instance_id!r} was asked to terminate but is still active after {timeout:g} s; "
            "nothing was started"
        ) from exc
    except Exception as exc:
        raise TerminateFailed(
            f"waiting for {instance_id!r} to terminate failed: {_describe(exc)}"
        ) from exc
    # The wait's answer is not read for the status: a read under the same rules as the
    # decision's says what the start will replace.
    return await read_runtime_status(client, instance_id)


async def raise_event(client: GrpcClient, instance_id: str, name: str, data: Any) -> None:
    """Raise event ``name`` with ``data`` (encoded once, by the client) on the instance;
    :class:`RaiseEventFailed` if the backend did not accept it."""
    try:
        await _call(client, "raise_orchestration_event", instance_id, name, data=data)
    except Exception as exc:
        raise RaiseEventFailed(
            f"raising event {name!r} on {instance_id!r} failed: {_describe(exc)}"
        ) from exc
