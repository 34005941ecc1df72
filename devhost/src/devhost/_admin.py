"""The host's admin API, as Core Tools serves it locally (no keys), plus read-only views.

- ``POST /admin/functions/{name}`` with ``{"input": "..."}`` invokes a non-HTTP function once,
  directly (not through its queue), and answers 202 at once; the invocation runs in the
  background and its outcome is in the host's log. The name is matched ignoring case, as
  the host does. Timer: the input is ignored, ``past_due`` is false. Queue: the input is the
  message body (``dequeue_count`` 0, a fresh id; a failure is logged, never retried).
- ``GET /admin/devhost/queues``: every local queue with its message counts (poison queues too).
- ``GET /admin/devhost/queues/{queue}/messages``: its messages, visible or not, oldest first.
- ``POST /admin/devhost/queues/{queue}/messages``: the request body (bytes) becomes one
  message, encoded per ``messageEncoding``; what ``python -m devhost send`` calls.
- ``GET /admin/devhost/blobs``: every blob (``azure-webjobs-hosts`` receipts too);
  ``GET /admin/devhost/blobs/{container}/{name}``: one blob's bytes;
  ``PUT /admin/devhost/blobs/{container}/{name}``: upload (fires matching blob triggers).
- Blob function invocation: the input is the blob's ``container/name``.

Errors are ``application/problem+json`` with a ``detail`` saying what to change.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timezone
from typing import Any

import azure.functions as func
from aiohttp import web

from devhost._bindings import BindingPlan, timer_request
from devhost._blob_store import BlobInfo, check_container_name
from devhost._blobs import LocalBlobs
from devhost._errors import HostConfigError
from devhost._loader import IndexedFunction
from devhost._queue_store import StoredMessage, normalize_queue_name
from devhost._queues import LocalQueues, MessageDecodeError, MessageTooLargeError, invoked_message
from devhost._servicebus import DEAD_LETTER, BusMessage, LocalServiceBus, service_bus_message

logger = logging.getLogger(__name__)

FireTimer = Callable[[str, func.TimerRequest], Awaitable[None]]
FireQueue = Callable[[str, func.QueueMessage], Awaitable[None]]
FireBus = Callable[[str, func.ServiceBusMessage], Awaitable[None]]
FireBlob = Callable[[str, BlobInfo, bytes, Mapping[str, str]], Awaitable[None]]


def problem(status: int, title: str, detail: str) -> web.Response:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return web.Response(
        status=status, text=json.dumps(body), content_type="application/problem+json"
    )


def _message_json(message: StoredMessage, queues: LocalQueues) -> dict[str, Any]:
    try:
        body: str | None = queues.codec.decode(message.content).decode("utf-8")
    except (MessageDecodeError, UnicodeDecodeError):
        body = None
    return {
        "id": message.id,
        "content": message.content,
        "body": body,
        "dequeueCount": message.dequeue_count,
        "insertionTime": message.insertion_time.isoformat(),
        "expirationTime": message.expiration_time.isoformat(),
        "nextVisibleTime": message.next_visible_time.isoformat(),
    }


class AdminApi:
    """The ``/admin/...`` routes of one host."""

    def __init__(
        self,
        *,
        functions: tuple[IndexedFunction, ...],
        plans: Mapping[str, BindingPlan],
        queues: LocalQueues,
        blobs: LocalBlobs,
        bus: LocalServiceBus,
        fire_service_bus: FireBus,
        fire_timer: FireTimer,
        fire_queue: FireQueue,
        fire_blob: FireBlob,
    ) -> None:
        self._functions = {function.name.lower(): function for function in functions}
        self._plans = plans
        self._queues = queues
        self._fire_timer = fire_timer
        self._fire_queue = fire_queue
        self._blobs = blobs
        self._bus = bus
        self._fire_service_bus = fire_service_bus
        self._fire_blob = fire_blob
        self._invocations: set[asyncio.Task[None]] = set()

    def register_routes(self, web_app: web.Application) -> None:
        web_app.router.add_post("/admin/functions/{name}", self.invoke)
        web_app.router.add_get("/admin/devhost/queues", self.list_queues)
        web_app.router.add_get("/admin/devhost/queues/{queue}/messages", self.list_messages)
        web_app.router.add_post("/admin/devhost/queues/{queue}/messages", self.send_message)
        web_app.router.add_get("/admin/devhost/servicebus", self.list_bus)
        web_app.router.add_get("/admin/devhost/servicebus/{path:.+}/messages", self.bus_messages)
        web_app.router.add_post("/admin/devhost/servicebus/{name}/messages", self.bus_send)
        web_app.router.add_get("/admin/devhost/blobs", self.list_blobs)
        web_app.router.add_get("/admin/devhost/blobs/{container}/{name:.+}", self.read_blob)
        web_app.router.add_put("/admin/devhost/blobs/{container}/{name:.+}", self.upload_blob)

    async def stop(self) -> None:
        tasks, self._invocations = self._invocations, set()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def invoke(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        function = self._functions.get(name.lower())
        if function is None:
            return problem(404, "Function not found", f"no function named {name!r}")
        try:
            payload = json.loads(await request.read() or b"{}")
        except ValueError:
            return problem(400, "Invalid body", 'the body must be JSON: {"input": "..."}')
        if not isinstance(payload, dict):
            return problem(400, "Invalid body", 'the body must be a JSON object: {"input": "..."}')
        given = payload.get("input")
        if given is not None and not isinstance(given, str):
            return problem(400, "Invalid input", "input must be a string (or absent)")
        text = given or ""
        plan = self._plans.get(function.name)
        trigger = function.trigger_type
        if plan is not None and plan.not_run is not None:
            return problem(
                501, "Not run locally", f"{function.name}: {plan.not_run} by this local host"
            )
        if plan is None or trigger == "httpTrigger":
            return problem(
                400,
                "Not invocable",
                f"{function.name} is a {trigger} function: call its HTTP route "
                "(or start orchestrations through a client)",
            )
        call: Awaitable[None]
        if trigger == "timerTrigger":
            now = datetime.now(timezone.utc)
            timer = timer_request(past_due=False, last=None, next_occurrence=None, now=now)
            call = self._fire_timer(function.name, timer)
        elif trigger == "queueTrigger":
            message = invoked_message(text, datetime.now(timezone.utc))
            call = self._fire_queue(function.name, message)
        elif trigger == "serviceBusTrigger":
            call = self._fire_service_bus(
                function.name, service_bus_message(BusMessage(body=text.encode("utf-8")))
            )
        elif trigger == "blobTrigger" and plan.blob_trigger is not None:
            container, _, blob_name = text.strip("/").partition("/")
            values = (
                plan.blob_trigger.match(blob_name)
                if container == plan.blob_trigger.container
                else None
            )
            if values is None:
                return problem(
                    400,
                    "Invalid input",
                    f"input must be a blob path matching {plan.blob_trigger.text!r}, got {text!r}",
                )
            fetched = await self._blobs.store.get(container, blob_name)
            if fetched is None:
                return problem(404, "Blob not found", f"no blob at {text!r}")
            info, data = fetched
            call = self._fire_blob(function.name, info, data, {**values, "BlobTrigger": info.path})
        else:  # pragma: no cover - every run trigger is handled above
            return problem(501, "Not run locally", f"{trigger} cannot be invoked here")
        task = asyncio.create_task(self._background(function.name, call))
        self._invocations.add(task)
        task.add_done_callback(self._invocations.discard)
        return web.Response(status=202)

    @staticmethod
    async def _background(name: str, call: Awaitable[None]) -> None:
        try:
            await call
        except Exception:
            logger.info("admin invocation of %r failed (logged above)", name)

    async def list_queues(self, request: web.Request) -> web.Response:
        summaries = await self._queues.store.queues()
        body = {
            "storage": self._queues.store.description,
            "messageEncoding": self._queues.codec.encoding,
            "queues": [
                {"name": s.name, "messages": s.messages, "visible": s.visible} for s in summaries
            ],
        }
        return web.json_response(body)

    def _queue(self, request: web.Request) -> str:
        return normalize_queue_name(request.match_info["queue"], what="queue")

    async def list_messages(self, request: web.Request) -> web.Response:
        try:
            queue = self._queue(request)
        except HostConfigError as exc:
            return problem(400, "Invalid queue name", str(exc))
        messages = await self._queues.store.peek(queue, limit=1000)
        return web.json_response(
            {"queue": queue, "messages": [_message_json(m, self._queues) for m in messages]}
        )

    async def send_message(self, request: web.Request) -> web.Response:
        try:
            queue = self._queue(request)
        except HostConfigError as exc:
            return problem(400, "Invalid queue name", str(exc))
        body = await request.read()
        try:
            (sent,) = await self._queues.send_bodies(queue, [body])
        except MessageTooLargeError as exc:
            return problem(413, "Message too large", str(exc))
        except MessageDecodeError as exc:
            return problem(400, "Invalid message", str(exc))
        return web.json_response(_message_json(sent, self._queues), status=201)

    async def list_blobs(self, request: web.Request) -> web.Response:
        found = await self._blobs.store.list()
        return web.json_response(
            {
                "storage": self._blobs.store.description,
                "blobs": [
                    {
                        "container": info.container,
                        "name": info.name,
                        "etag": info.etag,
                        "length": info.length,
                        "lastModified": info.last_modified.isoformat(),
                    }
                    for info in found
                ],
            }
        )

    async def read_blob(self, request: web.Request) -> web.Response:
        container, name = request.match_info["container"], request.match_info["name"]
        fetched = await self._blobs.store.get(container, name)
        if fetched is None:
            return problem(404, "Blob not found", f"no blob at {container}/{name}")
        info, data = fetched
        return web.Response(
            body=data, content_type="application/octet-stream", headers={"ETag": info.etag}
        )

    async def upload_blob(self, request: web.Request) -> web.Response:
        container, name = request.match_info["container"], request.match_info["name"]
        try:
            check_container_name(container, what="container")
        except HostConfigError as exc:
            return problem(400, "Invalid container name", str(exc))
        info = await self._blobs.write(container, name, await request.read())
        return web.json_response(
            {"container": container, "name": name, "etag": info.etag, "length": info.length},
            status=201,
        )

    async def list_bus(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"storage": self._bus.description, "entities": self._bus.summary()}
        )

    async def bus_messages(self, request: web.Request) -> web.Response:
        """``{entity}/messages``; ``{entity}/$DeadLetterQueue/messages`` for dead letters."""
        path = request.match_info["path"]
        dead = path.endswith(f"/{DEAD_LETTER}")
        entity = path.removesuffix(f"/{DEAD_LETTER}")
        found = self._bus.messages(entity, dead_letter=dead)
        return web.json_response(
            {
                "path": path,
                "messages": [
                    {
                        "messageId": m.message_id,
                        "body": m.body.decode("utf-8", errors="replace"),
                        "deliveryCount": m.delivery_count,
                        "sequenceNumber": m.sequence_number,
                        "deadLetterReason": m.dead_letter_reason,
                        "applicationProperties": dict(m.application_properties),
                    }
                    for m in found
                ],
            }
        )

    async def bus_send(self, request: web.Request) -> web.Response:
        """The body as one message to a queue or topic; ``X-Properties`` (a JSON object)
        becomes its application properties, ``Content-Type`` its content type."""
        try:
            properties = json.loads(request.headers.get("X-Properties", "{}"))
        except ValueError:
            properties = None
        if not isinstance(properties, dict):
            return problem(400, "Invalid properties", "X-Properties must be a JSON object")
        message = BusMessage(
            body=await request.read(),
            content_type=request.headers.get("Content-Type"),
            application_properties=properties,
        )
        self._bus.send(request.match_info["name"], [message])
        return web.json_response({"messageId": message.message_id}, status=201)
