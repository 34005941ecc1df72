"""The local Functions host: settings, embedded Redis, app import, routes, timers, Durable.

Start-up order matters and follows Core Tools: local.settings.json values and REDIS_URL are
in the environment *before* function_app.py is imported, so module-level code in the app sees
the same settings it would see in Azure.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import logging
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import azure.functions as func
from aiohttp import web

from devhost import _http
from devhost._admin import AdminApi
from devhost._banner import FunctionLine, render_banner
from devhost._bindings import (
    ArgumentKind,
    BindingPlan,
    OutValue,
    blob_argument,
    http_request_from,
    json_fields,
    plan_bindings,
)
from devhost._blob_store import AzuriteBlobStore, BlobInfo, BlobStore, EmbeddedBlobStore
from devhost._blobs import BlobListener, LocalBlobs, blob_bytes
from devhost._context import InvocationContext
from devhost._durable_mount import DurableBackendLike, build_backend, durable_package_available
from devhost._errors import DevHostError, HostConfigError
from devhost._invoker import Invoker, thread_count_from
from devhost._loader import IndexedFunction, LoadedApp, load_app, resolve_app_reference
from devhost._ncrontab import NcrontabSchedule
from devhost._queue_store import EmbeddedQueueStore, QueueStore
from devhost._queues import LocalQueues, QueueListener, output_bodies
from devhost._redis import LOUD_WARNING, EmbeddedRedis, check_redis
from devhost._responses import UnsupportedReturnValueError, to_web_response
from devhost._routes import RouteTable
from devhost._servicebus import (
    BusMessage,
    LocalServiceBus,
    ServiceBusListener,
    service_bus_bodies,
)
from devhost._settings import HostConfig, default_environ, load_local_settings
from devhost._timers import Clock, Sleep, TimerJob, TimerScheduler, utc_now
from singleton._redis import redact_url

logger = logging.getLogger(__name__)

REDIS_URL = "REDIS_URL"
#: Where queues live: the embedded store (default) or Azurite, by explicit choice only.
STORAGE_KINDS = ("embedded", "azurite")

EXPOSED_WARNING = (
    "!!! LISTENING ON {host}, NOT LOOPBACK: anyone who can reach this address can start and\n"
    "!!! terminate orchestrations. Keys are not enforced locally (no function or admin keys):\n"
    "!!! the Durable management API (/runtime/webhooks/durabletask/...) is open to them."
)


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or name) only listens on this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name: it may resolve to anything


async def _close_worker_clients() -> None:
    """Close what the Python worker's process exit would otherwise leave open.

    azure-functions-durable keeps one module-level aiohttp session for every Durable client
    and never closes it; the app's default singleton starter keeps a Redis pool per event
    loop. Left open, Ctrl-C ends in "Unclosed client session" errors and ResourceWarnings.
    Only modules the app already imported are touched.
    """
    starter = sys.modules.get("singleton._runtime")
    if starter is not None:
        await starter.close_default_starter()
    http_utils = sys.modules.get("azure.durable_functions.models.utils.http_utils")
    if http_utils is not None:
        await http_utils._close_session()


@dataclass(frozen=True, kw_only=True)
class DevHostOptions:
    """Everything ``python -m devhost`` can be told. Validated on construction."""

    app: str = "function_app.py"
    host: str = "127.0.0.1"
    port: int = 7071
    store_path: Path | None = None
    storage_latency: float = 0.0
    cwd: Path = field(default_factory=Path.cwd)
    run_timers: bool = True
    storage: str = "embedded"

    def __post_init__(self) -> None:
        if self.storage not in STORAGE_KINDS:
            raise ValueError(f"storage must be one of {STORAGE_KINDS}, got {self.storage!r}")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be 0-65535, got {self.port}")
        if self.storage_latency < 0:
            raise ValueError(f"storage_latency must be >= 0 seconds, got {self.storage_latency}")
        if not self.app:
            raise ValueError("app must name function_app.py or a module")


@dataclass
class RunningDevHost:
    """A started host. ``base_url`` is ``http://127.0.0.1:<port>`` (no trailing slash)."""

    base_url: str
    route_prefix: str
    redis_url: str
    redis_embedded: bool
    banner: str
    functions: tuple[IndexedFunction, ...]
    applied_settings: Mapping[str, str]
    backend: Any = None  # the devhost.durable.DurableBackend, when mounted
    queues: Any = None  # the devhost._queues.LocalQueues
    blobs: Any = None  # the devhost._blobs.LocalBlobs
    bus: Any = None  # the devhost._servicebus.LocalServiceBus

    def url(self, route: str) -> str:
        """The absolute URL of an HTTP route, e.g. ``url("orchestrators/f/id")``."""
        prefix = f"/{self.route_prefix}" if self.route_prefix else ""
        return f"{self.base_url}{prefix}/{route.lstrip('/')}"


class _EnvironmentChanges:
    """Remembers what the host set so an in-process host can put the environment back."""

    def __init__(self, environ: MutableMapping[str, str]) -> None:
        self.environ = environ
        self._added: list[str] = []
        self._replaced: dict[str, str] = {}

    def set(self, name: str, value: str) -> None:
        if name not in self.environ:
            self._added.append(name)
        elif name not in self._added:
            self._replaced.setdefault(name, self.environ[name])
        self.environ[name] = value

    def record_added(self, names: list[str]) -> None:
        self._added.extend(names)

    def restore(self) -> None:
        for name in self._added:
            self.environ.pop(name, None)
        self.environ.update(self._replaced)


class _Dispatcher:
    """Binds arguments and invokes one function per request, timer firing or message."""

    def __init__(
        self,
        *,
        loaded: LoadedApp,
        plans: Mapping[str, BindingPlan],
        invoker: Invoker,
        queues: LocalQueues,
        blobs: LocalBlobs,
        bus: LocalServiceBus,
    ) -> None:
        self._functions = {function.name: function for function in loaded.functions}
        self._plans = plans
        self._invoker = invoker
        self._queues = queues
        self._blobs = blobs
        self._bus = bus
        self._root = str(loaded.root)
        self.client_binding: str | None = None

    def plan(self, name: str) -> BindingPlan:
        return self._plans[name]

    async def _run(
        self, name: str, values: dict[str, Any], data: Mapping[str, str] | None = None
    ) -> Any:
        """Bind, invoke and write the outputs; ``data`` is the trigger's binding data, which
        fills ``{expressions}`` in blob paths."""
        function = self._functions[name]
        plan = self._plans[name]
        data = data or {}
        outs: dict[str, OutValue] = {}
        for parameter, kind in plan.arguments.items():
            if kind is ArgumentKind.DURABLE_CLIENT:
                if self.client_binding is None:
                    raise DevHostError("the Durable backend has not started")
                values[parameter] = self.client_binding
            elif kind is ArgumentKind.CONTEXT:
                values[parameter] = InvocationContext(
                    function_name=name, function_directory=self._root
                )
            elif kind is ArgumentKind.OUTPUT:
                values[parameter] = outs[parameter] = OutValue()
        started = time.perf_counter()
        logger.info("Executing 'Functions.%s'", name)
        try:
            for parameter, path in plan.blob_inputs.items():
                container, blob = path.render(data)
                fetched = await self._blobs.store.get(container, blob)
                values[parameter] = (
                    None
                    if fetched is None
                    else blob_argument(
                        plan.blob_types[parameter], fetched[1], info=fetched[0], uri=None
                    )
                )
            result = await self._invoker.invoke(function.user_function, values)
            # Outputs are written only when the function succeeds, as the host flushes them.
            for output in plan.queue_outputs:
                value = result if output.parameter == "$return" else outs[output.parameter].get()
                await self._queues.send_bodies(output.queue, output_bodies(value))
            for bus_output in plan.service_bus_outputs:
                parameter = bus_output.parameter
                value = result if parameter == "$return" else outs[parameter].get()
                bodies = service_bus_bodies(value)
                self._bus.send(bus_output.destination, [BusMessage(body=b) for b in bodies])
            for blob_output in plan.blob_outputs:
                parameter = blob_output.parameter
                value = result if parameter == "$return" else outs[parameter].get()
                body = blob_bytes(value)
                if body is not None:
                    container, blob = blob_output.path.render(data)
                    await self._blobs.write(container, blob, body)
        except Exception:
            elapsed = (time.perf_counter() - started) * 1000
            logger.exception("Executed 'Functions.%s' (Failed, Duration=%.0fms)", name, elapsed)
            raise
        elapsed = (time.perf_counter() - started) * 1000
        logger.info("Executed 'Functions.%s' (Succeeded, Duration=%.0fms)", name, elapsed)
        return result

    def _trigger_values(self, name: str, kind: ArgumentKind, value: Any) -> dict[str, Any]:
        return {p: value for p, k in self._plans[name].arguments.items() if k is kind}

    async def call_http(
        self, name: str, route_values: Mapping[str, str], request: web.Request
    ) -> web.StreamResponse:
        values: dict[str, Any] = {}
        for parameter, kind in self._plans[name].arguments.items():
            if kind is ArgumentKind.HTTP_REQUEST:
                values[parameter] = await http_request_from(request, route_values)
        plan = self._plans[name]
        data: dict[str, str] = {}
        if plan.blob_inputs or plan.blob_outputs:  # only blob paths use binding data here
            data = {**json_fields(await request.read()), **request.query, **route_values}
        try:
            result = await self._run(name, values, data)
        except Exception:
            # Like the host: the caller gets a bare 500; _run logged the traceback.
            return web.Response(status=500)
        try:
            return to_web_response(result)
        except UnsupportedReturnValueError:
            logger.exception("'Functions.%s' returned a value the worker cannot encode", name)
            return web.Response(status=500)

    async def fire_timer(self, name: str, request: func.TimerRequest) -> None:
        await self._run(name, self._trigger_values(name, ArgumentKind.TIMER_REQUEST, request))

    async def fire_queue(self, name: str, message: func.QueueMessage) -> None:
        body = message.get_body()
        data = json_fields(body)
        data["queueTrigger"] = body.decode("utf-8", errors="replace")
        data["id"] = str(message.id)
        data["dequeueCount"] = str(message.dequeue_count)
        values = self._trigger_values(name, ArgumentKind.QUEUE_MESSAGE, message)
        await self._run(name, values, data)

    async def fire_service_bus(self, name: str, message: func.ServiceBusMessage) -> None:
        data = json_fields(message.get_body())
        data["messageId"] = str(message.message_id)
        values = self._trigger_values(name, ArgumentKind.SERVICE_BUS_MESSAGE, message)
        await self._run(name, values, data)

    async def fire_blob(
        self, name: str, info: BlobInfo, body: bytes, data: Mapping[str, str]
    ) -> None:
        plan = self._plans[name]
        values = {
            parameter: blob_argument(plan.blob_types[parameter], body, info=info, uri=None)
            for parameter, kind in plan.arguments.items()
            if kind is ArgumentKind.BLOB_TRIGGER
        }
        await self._run(name, values, data)


def _runs(function: IndexedFunction, plans: Mapping[str, BindingPlan], trigger: str) -> bool:
    plan = plans.get(function.name)
    return function.trigger_type == trigger and plan is not None and plan.not_run is None


def _timer_jobs(
    functions: tuple[IndexedFunction, ...], plans: Mapping[str, BindingPlan]
) -> list[TimerJob]:
    jobs = []
    for function in functions:
        if not _runs(function, plans, "timerTrigger"):
            continue
        trigger = function.trigger
        schedule = NcrontabSchedule.parse(str(trigger.get("schedule") or ""))
        jobs.append(TimerJob(function.name, schedule, bool(trigger.get("runOnStartup"))))
    return jobs


def _route_entries(
    functions: tuple[IndexedFunction, ...], plans: Mapping[str, BindingPlan]
) -> list[tuple[str, str, list[str] | None]]:
    entries = []
    for function in functions:
        if _runs(function, plans, "httpTrigger"):
            trigger = function.trigger
            methods = trigger.get("methods")
            route = trigger.get("route") or function.name
            entries.append(
                (function.name, str(route), [str(m) for m in methods] if methods else None)
            )
    return entries


def _function_lines(
    functions: tuple[IndexedFunction, ...],
    plans: Mapping[str, BindingPlan],
    routes: list[tuple[str, str, list[str] | None]],
    base_url: str,
    prefix: str,
) -> list[FunctionLine]:
    http = {name: (route, methods) for name, route, methods in routes}
    lines = []
    for function in functions:
        plan = plans.get(function.name)
        if function.name in http:
            route, methods = http[function.name]
            path = f"{prefix}/{route}" if prefix else route
            lines.append(FunctionLine(function.name, "httpTrigger", f"{base_url}/{path}", methods))
        elif plan is not None and plan.not_run is not None:
            lines.append(FunctionLine(function.name, function.trigger_type, note="not run locally"))
        elif plan is not None and plan.blob_trigger is not None:
            lines.append(
                FunctionLine(
                    function.name, function.trigger_type, note=f"path {plan.blob_trigger.text!r}"
                )
            )
        elif plan is not None and plan.service_bus is not None:
            lines.append(
                FunctionLine(
                    function.name, function.trigger_type, note=f"Service Bus {plan.service_bus!r}"
                )
            )
        elif plan is not None and plan.queue is not None:
            lines.append(
                FunctionLine(function.name, function.trigger_type, note=f"queue {plan.queue!r}")
            )
        else:
            lines.append(FunctionLine(function.name, function.trigger_type))
    return lines


async def _queue_store(options: DevHostOptions, environ: Mapping[str, str]) -> QueueStore:
    if options.storage == "embedded":
        return EmbeddedQueueStore(path=storage_path_for(options.store_path))
    from devhost._azurite import STORAGE_SETTING, AzuriteQueueStore

    connection = environ.get(STORAGE_SETTING, "").strip()
    if not connection:
        raise HostConfigError(
            f"--storage azurite needs {STORAGE_SETTING} (UseDevelopmentStorage=true for "
            "Azurite on its default ports, or a connection string)"
        )
    azurite = AzuriteQueueStore(connection)
    try:
        await azurite.check()
    except BaseException:
        await azurite.close()
        raise
    return azurite


async def _blob_store(options: DevHostOptions, environ: Mapping[str, str]) -> BlobStore:
    if options.storage == "embedded":
        return EmbeddedBlobStore(path=storage_path_for(options.store_path))
    azurite = AzuriteBlobStore(environ["AzureWebJobsStorage"])  # checked by _queue_store
    try:
        await azurite.check()
    except BaseException:
        await azurite.close()
        raise
    return azurite


def storage_path_for(store_path: Path | None) -> Path | None:
    """Where ``--store PATH`` keeps queues (and blobs): next to the Durable file."""
    return None if store_path is None else store_path.with_name(store_path.name + ".storage")


@contextlib.asynccontextmanager
async def run_devhost(
    *,
    app_path: str | Path = "function_app.py",
    port: int = 0,
    host: str = "127.0.0.1",
    store_path: Path | None = None,
    storage_latency: float = 0.0,
    run_timers: bool = True,
    storage: str = "embedded",
    environ: MutableMapping[str, str] | None = None,
    out: TextIO | None = None,
    clock: Clock = utc_now,
    sleep: Sleep | None = None,
) -> AsyncIterator[RunningDevHost]:
    """Run a local host in this process until the block exits.

    Environment variables the host sets (local.settings.json values, an embedded REDIS_URL)
    are removed again on exit. ``port=0`` picks a free port; read ``running.base_url``.
    """
    path = Path(app_path)
    options = DevHostOptions(
        app=str(path.name if path.suffix == ".py" else app_path),
        cwd=path.parent.resolve() if path.suffix == ".py" else Path.cwd(),
        host=host,
        port=port,
        store_path=store_path,
        storage_latency=storage_latency,
        run_timers=run_timers,
        storage=storage,
    )
    async with _running(options, environ or default_environ(), out, clock, sleep) as running:
        yield running


@contextlib.asynccontextmanager
async def _running(
    options: DevHostOptions,
    environ: MutableMapping[str, str],
    out: TextIO | None,
    clock: Clock,
    sleep: Sleep | None,
) -> AsyncIterator[RunningDevHost]:
    out = out or sys.stdout
    changes = _EnvironmentChanges(environ)
    async with contextlib.AsyncExitStack() as stack:
        stack.callback(changes.restore)
        app_file, _, _ = resolve_app_reference(options.app, options.cwd)
        root = app_file.parent if app_file is not None else options.cwd
        config = HostConfig.load(root / "host.json")
        applied = load_local_settings(root / "local.settings.json", environ)
        changes.record_added(list(applied))
        config = config.resolved(environ)  # the hub name may name an app setting

        # Empty counts as unset: local.settings.example.json ships REDIS_URL empty.
        redis_embedded = not environ.get(REDIS_URL, "").strip()
        if redis_embedded:
            embedded = EmbeddedRedis()
            changes.set(REDIS_URL, embedded.start())
            stack.callback(embedded.stop)
        redis_url = environ[REDIS_URL]
        shown_redis_url = redact_url(redis_url)
        if not redis_embedded:
            await check_redis(environ)

        loaded = load_app(options.app, cwd=options.cwd)
        # Runs after the server and the backend have stopped (the stack unwinds in reverse).
        stack.push_async_callback(_close_worker_clients)
        plans = {f.name: plan_bindings(f, environ) for f in loaded.functions if not f.is_durable}
        for plan in plans.values():
            if plan.not_run is not None:
                logger.warning(
                    "'Functions.%s' is not run locally: %s", plan.function_name, plan.not_run
                )
        routes = _route_entries(loaded.functions, plans)
        table = RouteTable.build(prefix=config.route_prefix, functions=routes)
        jobs = _timer_jobs(loaded.functions, plans)

        store = await _queue_store(options, environ)
        stack.push_async_callback(store.close)
        queues = LocalQueues(store=store, options=config.queues)
        blob_store = await _blob_store(options, environ)
        stack.push_async_callback(blob_store.close)
        blobs = LocalBlobs(store=blob_store)
        invoker = Invoker(max_threads=thread_count_from(environ))
        stack.callback(invoker.close)
        bus = LocalServiceBus()
        dispatcher = _Dispatcher(
            loaded=loaded, plans=plans, invoker=invoker, queues=queues, blobs=blobs, bus=bus
        )
        admin = AdminApi(
            functions=loaded.functions,
            plans=plans,
            queues=queues,
            blobs=blobs,
            bus=bus,
            fire_service_bus=dispatcher.fire_service_bus,
            fire_timer=dispatcher.fire_timer,
            fire_queue=dispatcher.fire_queue,
            fire_blob=dispatcher.fire_blob,
        )
        stack.push_async_callback(admin.stop)

        web_app = web.Application()
        backend: DurableBackendLike | None = None
        durable_line = "none (devhost.durable is not available)"
        needs_durable = any(f.is_durable for f in loaded.functions) or any(
            plan.needs_durable_client for plan in plans.values()
        )
        if needs_durable or durable_package_available():
            mounted = build_backend(
                raw_functions=loaded.raw_functions,
                config=config,
                store_path=options.store_path,
                storage_latency=options.storage_latency,
            )
            backend, durable_line = mounted.backend, mounted.store_description
            # Unwinds after backend.stop (pushed later): the store outlives the engine.
            stack.callback(mounted.close_store)
            backend.register_routes(web_app)
        admin.register_routes(web_app)
        front_door = _http.HttpFrontDoor(routes=table, call=dispatcher.call_http)
        _http.install(web_app, front_door.handle)

        runner = web.AppRunner(web_app, access_log=None, handle_signals=False)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        site = web.TCPSite(runner, options.host, options.port)
        await site.start()
        bound_port = runner.addresses[0][1]
        base_url = f"http://{options.host}:{bound_port}"

        if backend is not None:
            await backend.start()
            stack.push_async_callback(backend.stop)
            dispatcher.client_binding = backend.client_binding(base_url)

        warnings = [LOUD_WARNING.format(url=shown_redis_url)] if redis_embedded else []
        if not is_loopback(options.host):
            warnings.append(EXPOSED_WARNING.format(host=options.host))
            logger.warning(
                "listening on %r, not loopback: the management API is open without keys",
                options.host,
            )
        source = "embedded" if redis_embedded else "REDIS_URL"
        banner = render_banner(
            functions=_function_lines(
                loaded.functions, plans, routes, base_url, config.route_prefix
            ),
            storage_line=(
                f"queues {store.description}; blobs {blob_store.description}; "
                f"Service Bus {bus.description}"
            ),
            redis_line=f"{shown_redis_url} ({source})",
            durable_line=f"hub {config.hub_name!r}, {durable_line}",
            warnings=warnings,
        )
        out.write(banner)
        out.flush()

        if options.run_timers and jobs:
            scheduler = TimerScheduler(
                jobs=jobs,
                fire=dispatcher.fire_timer,
                clock=clock,
                **({"sleep": sleep} if sleep is not None else {}),
            )
            await scheduler.start()
            stack.push_async_callback(scheduler.stop)

        for plan in plans.values():
            if plan.not_run is None and plan.service_bus_topic is not None:
                bus.subscribe(*plan.service_bus_topic)
        # One listener per message-driven function, the same way for each trigger kind.
        listeners: dict[str, Callable[[str, Any], Any]] = {
            "queueTrigger": lambda name, queue: QueueListener(
                function_name=name,
                queue=queue,
                queues=queues,
                run=functools.partial(dispatcher.fire_queue, name),
                options=config.queues,
            ),
            "serviceBusTrigger": lambda name, path: ServiceBusListener(
                function_name=name,
                path=path,
                bus=bus,
                run=functools.partial(dispatcher.fire_service_bus, name),
                options=config.service_bus,
            ),
            "blobTrigger": lambda name, path: BlobListener(
                function_name=name,
                path=path,
                blobs=blobs,
                queues=queues,
                run=functools.partial(dispatcher.fire_blob, name),
                options=config.queues,
            ),
        }
        sources = {
            "queueTrigger": "queue",
            "serviceBusTrigger": "service_bus",
            "blobTrigger": "blob_trigger",
        }
        for binding, make in listeners.items():
            for function in loaded.functions:
                planned = plans.get(function.name)
                listened = None if planned is None else getattr(planned, sources[binding])
                if not _runs(function, plans, binding) or listened is None:
                    continue
                listener = make(function.name, listened)
                await listener.start()
                stack.push_async_callback(listener.stop)

        yield RunningDevHost(
            base_url=base_url,
            route_prefix=config.route_prefix,
            redis_url=redis_url,
            redis_embedded=redis_embedded,
            banner=banner,
            functions=loaded.functions,
            applied_settings=applied,
            backend=backend,
            queues=queues,
            blobs=blobs,
            bus=bus,
        )
