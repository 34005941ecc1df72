"""HTTP routes of the backend: the RPC API the Python client calls and the public webhooks.

Both are served by one handler set, as on the host (HttpApiHandler serves the local RPC
listener and ``/runtime/webhooks/durabletask`` alike), so codes and bodies are the same.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from aiohttp import web

from devhost.durable._errors import DurableBackendError, OrchestrationAlreadyExistsError
from devhost.durable._faults import DISCONNECT
from devhost.durable._payloads import body_to_raw_json, orchestrator_input
from devhost.durable._responses import (
    BAD_ARGUMENTS,
    RPC_PATH,
    SOMETHING_WENT_WRONG,
    WEBHOOK_PATH,
    check_status_response,
    empty_response,
    error_response,
    status_payload,
)
from devhost.durable._status import IN_PROGRESS_STATUSES, RuntimeStatus, parse_runtime_status

if TYPE_CHECKING:
    from devhost.durable._backend import DurableBackend
    from devhost.durable._state import InstanceState

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _origin(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def _bool_query(request: web.Request, name: str, default: bool) -> bool:
    """.NET ``bool.TryParse``: "true"/"false" in any case; anything else means the default."""
    value = request.query.get(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    return default


def _datetime_query(request: web.Request, name: str) -> datetime | None:
    value = request.query.get(name)
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _faulted(
    request: web.Request, backend: DurableBackend, operation: str, instance_id: str | None
) -> web.Response | None:
    status = backend.take_fault(operation, instance_id)
    if status is None:
        return None
    if status == DISCONNECT:
        # Drop the connection unanswered, as a recycling host process would.
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=500)
    return error_response(
        status,
        SOMETHING_WENT_WRONG,
        exception_message=f"devhost: injected {operation} fault (HTTP {status})",
        exception_type="Azure.RequestFailedException",
    )


async def _json_body(request: web.Request) -> str | web.Response | None:
    """The request body as stored JSON text (None when empty), or the host's 400 for bad JSON."""
    try:
        return body_to_raw_json(await request.read())
    except ValueError as exc:
        return error_response(
            400,
            "Invalid JSON content",
            exception_message=str(exc),
            exception_type="Newtonsoft.Json.JsonReaderException",
        )


class DurableRoutes:
    """aiohttp handlers bound to one backend."""

    def __init__(self, backend: DurableBackend) -> None:
        self.backend = backend

    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        # HttpApiHandler.HandleRequestAsync: ArgumentException -> 400, anything else -> 500.
        try:
            return await handler(request)
        except OrchestrationAlreadyExistsError as exc:
            return error_response(
                500,
                SOMETHING_WENT_WRONG,
                exception_message=str(exc),
                exception_type=exc.exception_type,
            )
        except DurableBackendError as exc:
            if exc.exception_type == "System.ArgumentException":
                return error_response(
                    400,
                    BAD_ARGUMENTS,
                    exception_message=str(exc),
                    exception_type=exc.exception_type,
                )
            return error_response(
                500,
                SOMETHING_WENT_WRONG,
                exception_message=str(exc),
                exception_type=exc.exception_type,
            )

    # -------------------------------------------------------------- orchestrators

    async def start(self, request: web.Request) -> web.StreamResponse:
        return await self._guard(request, self._start)

    async def _start(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["functionName"]
        instance_id = request.match_info.get("instanceId") or None
        fault = _faulted(request, self.backend, "start", instance_id)
        if fault is not None:
            return fault
        raw_input = await _json_body(request)
        if isinstance(raw_input, web.Response):
            return raw_input
        iid = await self.backend.start_new(name, instance_id, raw_input)
        return check_status_response(_origin(request), self.backend.hub_name, iid)

    # -------------------------------------------------------------- instances

    async def list_or_purge(self, request: web.Request) -> web.StreamResponse:
        if request.method == "GET":
            return await self._list(request)
        return await self._purge_by_filter(request)

    async def _list(self, request: web.Request) -> web.StreamResponse:
        fault = _faulted(request, self.backend, "list", None)
        if fault is not None:
            return fault
        statuses = self._statuses(request)
        states = await self.backend.list_states(
            instance_id_prefix=request.query.get("instanceIdPrefix"),
            created_from=_datetime_query(request, "createdTimeFrom"),
            created_to=_datetime_query(request, "createdTimeTo"),
            statuses=statuses,
        )
        show_input = _bool_query(request, "showInput", True)
        start = int(request.headers.get("x-ms-continuation-token") or 0)
        top = request.query.get("top")
        page = states[start:]
        token = None
        if top is not None and top.isdigit() and int(top) > 0:
            page = states[start : start + int(top)]
            if start + int(top) < len(states):
                token = str(start + int(top))
        body = [
            status_payload(s, show_input=show_input, show_history=False, show_history_output=False)
            for s in page
        ]
        response = web.json_response(body, status=200)
        if token is not None:
            response.headers["x-ms-continuation-token"] = token
        return response

    @staticmethod
    def _statuses(request: web.Request) -> frozenset[RuntimeStatus] | None:
        names = [n for v in request.query.getall("runtimeStatus", []) for n in v.split(",")]
        parsed = {s for s in (parse_runtime_status(n) for n in names) if s is not None}
        return frozenset(parsed) or None

    async def _purge_by_filter(self, request: web.Request) -> web.StreamResponse:
        created_from = _datetime_query(request, "createdTimeFrom")
        if created_from is None:
            return web.json_response(
                "Please provide value for 'createdTimeFrom' parameter.", status=400
            )
        created_to = _datetime_query(request, "createdTimeTo") or datetime.now(timezone.utc)
        states = await self.backend.list_states(
            created_from=created_from, created_to=created_to, statuses=self._statuses(request)
        )
        deleted = 0
        for state in states:
            if await self.backend.purge(state.instance_id):
                deleted += 1
        if deleted == 0:
            return empty_response(404)
        return web.json_response({"instancesDeleted": deleted}, status=200)

    async def _instance(
        self, request: web.Request, operation: str, instance_id: str
    ) -> InstanceState | web.StreamResponse:
        """The instance an operation acts on, or the answer instead: an injected fault, or
        the host's empty 404 when there is no such instance."""
        fault = _faulted(request, self.backend, operation, instance_id)
        if fault is not None:
            return fault
        state = await self.backend.get_state(instance_id)
        return empty_response(404) if state is None else state

    async def instance(self, request: web.Request) -> web.StreamResponse:
        if request.method == "GET":
            return await self._status(request)
        return await self._purge(request)

    async def _status(self, request: web.Request) -> web.StreamResponse:
        instance_id = request.match_info["instanceId"]
        state = await self._instance(request, "status", instance_id)
        if isinstance(state, web.StreamResponse):
            return state
        body = status_payload(
            state,
            show_input=_bool_query(request, "showInput", True),
            show_history=_bool_query(request, "showHistory", False),
            show_history_output=_bool_query(request, "showHistoryOutput", False),
        )
        if state.status in IN_PROGRESS_STATUSES:
            response = web.json_response(body, status=202)
            response.headers["Location"] = str(request.url)
            response.headers["Retry-After"] = "5"
            return response
        status = 200
        if state.status == RuntimeStatus.FAILED and _bool_query(
            request, "returnInternalServerErrorOnFailure", False
        ):
            status = 500
        return web.json_response(body, status=status)

    async def _purge(self, request: web.Request) -> web.StreamResponse:
        instance_id = request.match_info["instanceId"]
        state = await self._instance(request, "purge", instance_id)
        if isinstance(state, web.StreamResponse):
            return state
        if state.status in IN_PROGRESS_STATUSES:
            return web.json_response(
                "Only orchestrations in a terminal state can be purged, but the orchestration "
                f"with instance ID {instance_id} has status {state.status.value}",
                status=412,
            )
        deleted = await self.backend.purge(instance_id)
        return web.json_response({"instancesDeleted": int(deleted)}, status=200)

    async def operation(self, request: web.Request) -> web.StreamResponse:
        return await self._guard(request, self._operation)

    async def _operation(self, request: web.Request) -> web.StreamResponse:
        instance_id = request.match_info["instanceId"]
        operation = request.match_info["operation"].lower()
        reason = request.query.get("reason")
        if operation in ("terminate", "suspend", "resume"):
            fault = _faulted(request, self.backend, operation, instance_id)
            if fault is not None:
                return fault
            act = {
                "terminate": self.backend.terminate,
                "suspend": self.backend.suspend,
                "resume": self.backend.resume,
            }[operation]
            outcome = await act(instance_id, reason)
            return empty_response({"accepted": 202, "not_found": 404, "gone": 410}[outcome.value])
        if operation == "rewind":
            return await self._rewind(instance_id)
        if operation == "restart":
            return await self._restart(request, instance_id)
        return empty_response(404)

    async def _rewind(self, instance_id: str) -> web.StreamResponse:
        state = await self.backend.get_state(instance_id)
        if state is None:
            return web.json_response(
                f'No orchestration with instance ID "${instance_id}" found.', status=404
            )
        if state.status != RuntimeStatus.FAILED:
            return web.json_response(
                f"This orchestration has status {state.status.value}, but only orchestrations "
                'in the "Failed" state can be rewound.',
                status=412,
            )
        return error_response(
            501,
            "Rewind is not supported by the underlying storage provider.",
            exception_message="devhost does not implement rewind",
            exception_type="System.NotImplementedException",
        )

    async def _restart(self, request: web.Request, instance_id: str) -> web.StreamResponse:
        new_id_wanted = _bool_query(request, "restartWithNewInstanceId", True)
        try:
            iid = await self.backend.restart(instance_id, new_instance_id_wanted=new_id_wanted)
        except OrchestrationAlreadyExistsError as exc:
            return error_response(
                409,
                "A non-terminal instance with this instance ID already exists.",
                exception_message=str(exc),
                exception_type=exc.exception_type,
            )
        if iid is None:
            return error_response(
                400,
                "InstanceId does not match a valid orchestration instance.",
                exception_message=f"No instance with ID '{instance_id}' was found.",
                exception_type="System.ArgumentException",
            )
        return check_status_response(_origin(request), self.backend.hub_name, iid)

    async def raise_event(self, request: web.Request) -> web.StreamResponse:
        instance_id = request.match_info["instanceId"]
        state = await self._instance(request, "raise_event", instance_id)
        if isinstance(state, web.StreamResponse):
            return state
        if state.status.value in ("Failed", "Canceled", "Terminated", "Completed"):
            return empty_response(410)
        if request.content_type.lower() != "application/json":
            return error_response(400, "Only application/json request content is supported")
        raw = await _json_body(request)
        if isinstance(raw, web.Response):
            return raw
        outcome = await self.backend.raise_event(
            instance_id, request.match_info["eventName"], orchestrator_input(raw)
        )
        return empty_response({"accepted": 202, "not_found": 404, "gone": 410}[outcome.value])

    async def not_found(self, request: web.Request) -> web.StreamResponse:
        return empty_response(404)


def add_routes(app: web.Application, backend: DurableBackend) -> None:
    """Mount the handlers under both the RPC and the public webhook prefixes."""
    routes = DurableRoutes(backend)
    for base in (RPC_PATH, WEBHOOK_PATH):
        router = app.router
        router.add_post(base + "/orchestrators/{functionName}", routes.start)
        router.add_post(base + "/orchestrators/{functionName}/", routes.start)
        router.add_post(base + "/orchestrators/{functionName}/{instanceId}", routes.start)
        router.add_route("GET", base + "/instances", routes.list_or_purge)
        router.add_route("GET", base + "/instances/", routes.list_or_purge)
        router.add_route("DELETE", base + "/instances", routes.list_or_purge)
        router.add_route("DELETE", base + "/instances/", routes.list_or_purge)
        router.add_route("GET", base + "/instances/{instanceId}", routes.instance)
        router.add_route("DELETE", base + "/instances/{instanceId}", routes.instance)
        router.add_post(base + "/instances/{instanceId}/raiseEvent/{eventName}", routes.raise_event)
        router.add_post(base + "/instances/{instanceId}/{operation}", routes.operation)
    logger.debug("durable routes mounted for hub %r", backend.hub_name)
