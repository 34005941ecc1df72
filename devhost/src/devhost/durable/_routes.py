"""HTTP handlers of the backend: the RPC API the Python client calls and the public webhooks.

Both are served by one handler set, as on the host (HttpApiHandler serves the local RPC
listener and ``/runtime/webhooks/durabletask`` alike), so codes and bodies are the same.
Each rule names the method of Azure/azure-functions-durable-extension (2.13.x, 3.0) it
follows; ``HttpApiHandler`` is ``src/WebJobs.Extensions.DurableTask/HttpApiHandler.cs``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from aiohttp import web

from devhost.durable._backend import Outcome
from devhost.durable._errors import DurableBackendError, InstanceNotFoundError
from devhost.durable._faults import DISCONNECT
from devhost.durable._payloads import body_to_raw_json
from devhost.durable._query import parse_bool, parse_datetime, parse_enum, parse_int, parse_seconds
from devhost.durable._responses import (
    BAD_ARGUMENTS,
    RPC_PATH,
    SOMETHING_WENT_WRONG,
    WEBHOOK_PATH,
    check_status_response,
    empty_response,
    error_response,
    parse_to_jtoken,
    purge_result,
    status_payload,
)
from devhost.durable._routing import Action, match, segments_below
from devhost.durable._status import (
    IN_PROGRESS_STATUSES,
    ORCHESTRATION_STATUS_NAMES,
    RUNTIME_STATUS_NAMES,
    TERMINAL_STATUSES,
    RuntimeStatus,
)

if TYPE_CHECKING:
    from devhost.durable._backend import DurableBackend

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request, dict[str, str]], Awaitable[web.StreamResponse]]

# OrchestrationStatusQueryCondition.PageSize: 100 unless ``top`` says otherwise.
DEFAULT_PAGE_SIZE = 100
CONTINUATION_HEADER = "x-ms-continuation-token"
_OUTCOME_STATUS = {Outcome.ACCEPTED: 202, Outcome.NOT_FOUND: 404, Outcome.GONE: 410}


def _origin(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def _bool_query(request: web.Request, name: str, default: bool) -> bool:
    parsed = parse_bool(request.query.get(name))
    return default if parsed is None else parsed


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


async def _json_body(
    request: web.Request, *, empty_allowed: bool = True
) -> str | web.Response | None:
    """The request body as stored JSON text (None when empty), or the host's 400
    "Invalid JSON content" (a JsonReaderException, which an empty body also is when the host
    parses it with ``ConvertToJToken``, as raiseEvent does)."""
    try:
        raw = body_to_raw_json(await request.read())
        if raw is None and not empty_allowed:
            raise ValueError("Error reading JToken from JsonReader. Path '', line 0, position 0.")
        return raw
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
        self._handlers: dict[Action, Handler] = {
            Action.START: self._start,
            Action.LIST: self._list,
            Action.PURGE_BY_FILTER: self._purge_by_filter,
            Action.STATUS: self._status,
            Action.PURGE: self._purge,
            Action.TERMINATE: self._control,
            Action.SUSPEND: self._control,
            Action.RESUME: self._control,
            Action.REWIND: self._rewind,
            Action.RESTART: self._restart,
            Action.RAISE_EVENT: self._raise_event,
            Action.ENTITIES: self._entities,
        }

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """HttpApiHandler.HandleRequestAsync: match, dispatch, and answer an ArgumentException
        with 400 and any other exception with 500 (HttpError JSON)."""
        base = RPC_PATH if segments_below(request.raw_path, RPC_PATH) is not None else WEBHOOK_PATH
        parts = segments_below(request.raw_path, base) or []
        matched = match(request.method, parts)
        if matched is None:
            return empty_response(404)
        try:
            values = {**matched.values, "action": matched.action.value}
            return await self._handlers[matched.action](request, values)
        except DurableBackendError as exc:
            argument = exc.exception_type == "System.ArgumentException"
            return error_response(
                400 if argument else 500,
                BAD_ARGUMENTS if argument else SOMETHING_WENT_WRONG,
                exception_message=str(exc),
                exception_type=exc.exception_type,
            )

    # -------------------------------------------------------------- start and wait

    async def _start(self, request: web.Request, values: dict[str, str]) -> web.StreamResponse:
        """HandleStartOrchestratorRequestAsync."""
        instance_id = values["instanceId"] or None
        fault = _faulted(request, self.backend, "start", instance_id)
        if fault is not None:
            return fault
        raw_input = await _json_body(request)
        if isinstance(raw_input, web.Response):
            return raw_input
        iid = await self.backend.start_new(values["functionName"], instance_id, raw_input)
        return await self._check_status_or_wait(request, iid)

    async def _check_status_or_wait(self, request: web.Request, iid: str) -> web.StreamResponse:
        """With both ``timeout`` and ``pollingInterval`` (double.TryParse, seconds):
        WaitForCompletionOrCreateCheckStatusResponseAsync — Completed: 200 with the output;
        Failed, Terminated, Canceled: the status (200); otherwise, or without them, 202."""
        timeout = parse_seconds(request.query.get("timeout"))
        interval = parse_seconds(request.query.get("pollingInterval"))
        if timeout is None or interval is None:
            return check_status_response(_origin(request), self.backend.hub_name, iid)
        state = await self.backend.wait_for_completion(iid, timeout, interval)
        if state is not None and state.status == RuntimeStatus.COMPLETED:
            return web.json_response(parse_to_jtoken(state.output), status=200)
        if state is not None and state.status in TERMINAL_STATUSES:
            return await self._status_of(request, iid, fail_with_500=False)
        return check_status_response(_origin(request), self.backend.hub_name, iid)

    # -------------------------------------------------------------- status and list

    async def _status(self, request: web.Request, values: dict[str, str]) -> web.StreamResponse:
        instance_id = values["instanceId"]
        fault = _faulted(request, self.backend, "status", instance_id)
        if fault is not None:
            return fault
        return await self._status_of(request, instance_id)

    async def _status_of(
        self, request: web.Request, instance_id: str, *, fail_with_500: bool | None = None
    ) -> web.StreamResponse:
        """HandleGetStatusRequestAsync(instanceId): 404 empty; in progress 202 with Location
        and Retry-After: 5; Failed 200 (500 with returnInternalServerErrorOnFailure); else 200."""
        state = await self.backend.get_state(instance_id)
        if state is None:
            return empty_response(404)
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
        if fail_with_500 is None:
            fail_with_500 = _bool_query(request, "returnInternalServerErrorOnFailure", False)
        failed = state.status == RuntimeStatus.FAILED and fail_with_500
        return web.json_response(body, status=500 if failed else 200)

    async def _list(self, request: web.Request, values: dict[str, str]) -> web.StreamResponse:
        """HandleGetStatusRequestAsync(): one page (``top``, default 100) and always the
        ``x-ms-continuation-token`` header, empty after the last page."""
        fault = _faulted(request, self.backend, "list", None)
        if fault is not None:
            return fault
        page_size = parse_int(request.query.get("top"))
        if page_size is None or page_size < 1:
            # What Table storage makes of top <= 0 is not pinned down here: the default.
            page_size = DEFAULT_PAGE_SIZE
        states, token = await self.backend.list_page(
            page_size=page_size,
            continuation_token=request.headers.get(CONTINUATION_HEADER) or None,
            instance_id_prefix=request.query.get("instanceIdPrefix"),
            created_from=parse_datetime(request.query.get("createdTimeFrom")),
            created_to=parse_datetime(request.query.get("createdTimeTo")),
            statuses=parse_enum(request.query.getall("runtimeStatus", []), RUNTIME_STATUS_NAMES),
        )
        show_input = _bool_query(request, "showInput", True)
        body = [
            status_payload(s, show_input=show_input, show_history=False, show_history_output=False)
            for s in states
        ]
        response = web.json_response(body, status=200)
        response.headers[CONTINUATION_HEADER] = token or ""
        return response

    # -------------------------------------------------------------- purge

    async def _purge(self, request: web.Request, values: dict[str, str]) -> web.StreamResponse:
        """HandleDeleteHistoryByIdRequestAsync: absent 404; otherwise purged whatever its
        status, 200 ``{"instancesDeleted": 1}``."""
        instance_id = values["instanceId"]
        fault = _faulted(request, self.backend, "purge", instance_id)
        if fault is not None:
            return fault
        if await self.backend.get_state(instance_id) is None:
            return empty_response(404)
        return purge_result(int(await self.backend.purge(instance_id)))

    async def _purge_by_filter(
        self, request: web.Request, values: dict[str, str]
    ) -> web.StreamResponse:
        """HandleDeleteHistoryWithFiltersRequestAsync: createdTimeFrom required (400, a JSON
        string), createdTimeTo defaults to now; nothing deleted is an empty 404."""
        created_from = parse_datetime(request.query.get("createdTimeFrom"))
        if created_from is None:
            return web.json_response(
                "Please provide value for 'createdTimeFrom' parameter.", status=400
            )
        deleted = await self.backend.purge_by_filter(
            created_from,
            parse_datetime(request.query.get("createdTimeTo")) or datetime.now(timezone.utc),
            parse_enum(request.query.getall("runtimeStatus", []), ORCHESTRATION_STATUS_NAMES),
        )
        return empty_response(404) if deleted == 0 else purge_result(deleted)

    # -------------------------------------------------------------- operations

    async def _control(self, request: web.Request, values: dict[str, str]) -> web.StreamResponse:
        """Handle{Terminate,Suspend,Resume}InstanceRequestAsync: 404, 410 when completed,
        else the client call (whose refusal is a 500), 202."""
        instance_id = values["instanceId"]
        operation = values["action"]
        fault = _faulted(request, self.backend, operation, instance_id)
        if fault is not None:
            return fault
        act = {
            "terminate": self.backend.terminate,
            "suspend": self.backend.suspend,
            "resume": self.backend.resume,
        }[operation]
        outcome = await act(instance_id, request.query.get("reason"))
        return empty_response(_OUTCOME_STATUS[outcome])

    async def _rewind(self, request: web.Request, values: dict[str, str]) -> web.StreamResponse:
        """HandleRewindInstanceRequestAsync (see DurableBackend.rewind)."""
        outcome = await self.backend.rewind(values["instanceId"], request.query.get("reason"))
        return empty_response(_OUTCOME_STATUS[outcome])

    async def _restart(self, request: web.Request, values: dict[str, str]) -> web.StreamResponse:
        """HandleRestartInstanceRequestAsync: restartWithNewInstanceId (bool.TryParse, default
        true); an absent instance is 400; then the check-status answer or the wait."""
        new_id_wanted = _bool_query(request, "restartWithNewInstanceId", True)
        try:
            iid = await self.backend.restart(
                values["instanceId"], new_instance_id_wanted=new_id_wanted
            )
        except InstanceNotFoundError as exc:
            return error_response(
                400,
                "InstanceId does not match a valid orchestration instance.",
                exception_message=str(exc),
                exception_type=exc.exception_type,
            )
        return await self._check_status_or_wait(request, iid)

    async def _raise_event(
        self, request: web.Request, values: dict[str, str]
    ) -> web.StreamResponse:
        """HandleRaiseEventRequestAsync: 404; 410 when completed; 400 unless the content type
        is application/json; 400 "Invalid JSON content" for a body that is not JSON, an empty
        one included; 202."""
        instance_id = values["instanceId"]
        fault = _faulted(request, self.backend, "raise_event", instance_id)
        if fault is not None:
            return fault
        state = await self.backend.get_state(instance_id)
        if state is None:
            return empty_response(404)
        if state.status in TERMINAL_STATUSES:
            return empty_response(410)
        if request.content_type.lower() != "application/json":
            return error_response(400, "Only application/json request content is supported")
        raw = await _json_body(request, empty_allowed=False)
        if isinstance(raw, web.Response):
            return raw
        # Stored as sent (ConvertToJToken): the orchestrator decodes the body's JSON once.
        outcome = await self.backend.raise_event(instance_id, values["eventName"], raw)
        return empty_response(_OUTCOME_STATUS[outcome])

    async def _entities(self, request: web.Request, values: dict[str, str]) -> web.StreamResponse:
        return error_response(501, "devhost does not support Durable Entities")


def add_routes(app: web.Application, backend: DurableBackend) -> None:
    """Send everything under the RPC and the public webhook base paths to one handler."""
    routes = DurableRoutes(backend)
    for base in (RPC_PATH, WEBHOOK_PATH):
        app.router.add_route("*", base, routes.handle)
        app.router.add_route("*", base + "/{tail:.*}", routes.handle)
    logger.debug("durable routes mounted for hub %r", backend.hub_name)
