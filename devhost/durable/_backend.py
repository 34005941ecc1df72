"""The embedded Durable Functions backend: management API, storage emulation and executor."""

from __future__ import annotations

import asyncio
import enum
import json
import logging
import math
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING

import azure.functions as func

from devhost.durable._engine import Engine
from devhost.durable._errors import (
    OrchestrationAlreadyExistsError,
    UnknownOrchestratorError,
)
from devhost.durable._faults import FaultInjector
from devhost.durable._functions import FunctionRegistry
from devhost.durable._history import EventType, event, format_timestamp, parse_timestamp, utc_now
from devhost.durable._ids import new_instance_id, validate_instance_id
from devhost.durable._payloads import orchestrator_input
from devhost.durable._responses import CONNECTION_NAME, RPC_PATH, WEBHOOK_PATH
from devhost.durable._state import InstanceState, StartRecord
from devhost.durable._status import (
    NON_RUNNING_DEDUPE_STATUSES,
    TERMINAL_STATUSES,
    RuntimeStatus,
)
from devhost.durable._store import InstanceStore

if TYPE_CHECKING:
    from aiohttp import web

logger = logging.getLogger(__name__)

OVERRIDABLE_STATES = ("NonRunningStates", "AnyState")


class Outcome(enum.Enum):
    """What a management operation on one instance found."""

    ACCEPTED = "accepted"
    NOT_FOUND = "not_found"
    GONE = "gone"


class DurableBackend:
    """Durable Functions host emulation for one app and one task hub.

    ``storage_latency`` > 0 emulates Azure Storage: every store operation of the management
    API waits that long, and a start is a dedupe *read* followed by a separate instance
    *write* whose conflict is swallowed — so two racing starts of a new ID both succeed and
    the loser's input is lost (see ``start_records``). With 0 the dedupe is atomic and the
    second start gets the host's 500 OrchestrationAlreadyExistsException.
    """

    def __init__(
        self,
        *,
        functions: Iterable[func.Function],
        hub_name: str,
        store: InstanceStore,
        overridable_states: str = "NonRunningStates",
        storage_latency: float = 0.0,
        now: Callable[[], datetime] = utc_now,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if not isinstance(hub_name, str) or not hub_name.strip():
            raise ValueError("hub_name must be a non-empty string")
        if overridable_states not in OVERRIDABLE_STATES:
            raise ValueError(
                f"overridable_states must be one of {OVERRIDABLE_STATES}, "
                f"not {overridable_states!r}"
            )
        if (
            isinstance(storage_latency, bool)
            or not isinstance(storage_latency, (int, float))
            or not math.isfinite(storage_latency)
            or storage_latency < 0
        ):
            raise ValueError(
                f"storage_latency must be a finite number >= 0, not {storage_latency!r}"
            )
        self.hub_name = hub_name
        self.overridable_states = overridable_states
        self.storage_latency = float(storage_latency)
        self.registry = FunctionRegistry(functions)
        self._store = store
        self._now = now
        self._sleep = sleep
        self._faults = FaultInjector()
        self._engine = Engine(registry=self.registry, store=store, now=now)

    # ----------------------------------------------------------------- contract

    def register_routes(self, app: web.Application) -> None:
        """Add the RPC (``/durabletask/...``) and public webhook routes to ``app``."""
        from devhost.durable._routes import add_routes

        add_routes(app, self)

    def client_binding(self, base_url: str) -> str:
        """The ``durableClient`` binding JSON a function gets when the host runs at ``base_url``."""
        base = base_url.rstrip("/")
        if not base.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an absolute http(s) URL, not {base_url!r}")
        webhook = f"{base}{WEBHOOK_PATH}"
        query = f"taskHub={self.hub_name}&connection={CONNECTION_NAME}"
        instance = f"{webhook}/instances/INSTANCEID"
        return json.dumps(
            {
                "taskHubName": self.hub_name,
                "creationUrls": {
                    "createNewInstancePostUri": (
                        f"{webhook}/orchestrators/{{functionName}}[/{{instanceId}}]?{query}"
                    ),
                    "createAndWaitOnNewInstancePostUri": (
                        f"{webhook}/orchestrators/{{functionName}}[/{{instanceId}}]"
                        f"?timeout={{timeoutInSeconds}}&pollingInterval={{intervalInSeconds}}&{query}"
                    ),
                },
                "managementUrls": {
                    "id": "INSTANCEID",
                    "statusQueryGetUri": f"{instance}?{query}",
                    "sendEventPostUri": f"{instance}/raiseEvent/{{eventName}}?{query}",
                    "terminatePostUri": f"{instance}/terminate?reason={{text}}&{query}",
                    "rewindPostUri": f"{instance}/rewind?reason={{text}}&{query}",
                    "purgeHistoryDeleteUri": f"{instance}?{query}",
                    "restartPostUri": f"{instance}/restart?{query}",
                    "suspendPostUri": f"{instance}/suspend?reason={{text}}&{query}",
                    "resumePostUri": f"{instance}/resume?reason={{text}}&{query}",
                },
                "baseUrl": webhook,
                "requiredQueryStringParameters": query,
                "rpcBaseUrl": f"{base}{RPC_PATH}/",
                "httpBaseUrl": "",
            }
        )

    async def start(self) -> None:
        """Start executing orchestrations, activities and timers (resuming stored work)."""
        await self._engine.start()

    async def stop(self) -> None:
        await self._engine.stop()

    def start_records(self, instance_id: str) -> list[StartRecord]:
        """Every start of ``instance_id`` answered with success, with ``created`` or lost."""
        return self._store.start_records(instance_id)

    def inject_fault(
        self,
        operation: str = "status",
        status: int = 500,
        times: int = 1,
        instance_id: str | None = None,
    ) -> None:
        """Make the next ``times`` requests of ``operation`` fail with HTTP ``status``
        (``status=0``, :data:`DISCONNECT`: drop the connection without an answer)."""
        self._faults.add(operation=operation, status=status, times=times, instance_id=instance_id)

    def clear_faults(self) -> None:
        self._faults.clear()

    def take_fault(self, operation: str, instance_id: str | None) -> int | None:
        return self._faults.take(operation, instance_id)

    # ----------------------------------------------------------------- management API

    async def _store_operation(self) -> None:
        if self.storage_latency > 0:
            await self._sleep(self.storage_latency)

    async def start_new(self, name: str, instance_id: str | None, raw_input: str | None) -> str:
        """Create an instance; returns its ID. Raises the host's exceptions on refusal."""
        if name not in self.registry.orchestrators:
            raise UnknownOrchestratorError(self.registry.unknown_orchestrator_message(name))
        iid = validate_instance_id(instance_id) if instance_id else new_instance_id()
        await self._store_operation()  # the dedupe read
        existing = self._store.load(iid)
        self._refuse_duplicate(existing)
        if self.storage_latency > 0:
            await self._store_operation()  # the instance write, a separate step
            current = self._store.load(iid)
            seen = None if existing is None else existing.execution_id
            if current is not None and current.execution_id != seen:
                # Azure Storage swallows the insert conflict: the caller still gets 202.
                logger.info("start of %r lost a race; its input is dropped", iid)
                self._record_start(iid, current.execution_id, raw_input, created=False)
                return iid
        state = self._engine.create_instance(name=name, instance_id=iid, raw_input=raw_input)
        self._record_start(iid, state.execution_id, raw_input, created=True)
        logger.info("started %r as %r", name, iid)
        return iid

    def _refuse_duplicate(self, existing: InstanceState | None) -> None:
        if existing is None or self.overridable_states == "AnyState":
            return
        if existing.status in NON_RUNNING_DEDUPE_STATUSES:
            raise OrchestrationAlreadyExistsError(
                f"An Orchestration instance with the status {existing.status.value} already exists."
            )

    def _record_start(
        self, instance_id: str, execution_id: str, raw_input: str | None, *, created: bool
    ) -> None:
        self._store.add_start_record(
            StartRecord(
                instance_id=instance_id,
                execution_id=execution_id,
                input_json=orchestrator_input(raw_input),
                created=created,
                answered_at=format_timestamp(self._now()),
            )
        )

    async def get_state(self, instance_id: str) -> InstanceState | None:
        await self._store_operation()
        return self._store.load(instance_id)

    async def list_states(
        self,
        *,
        instance_id_prefix: str | None = None,
        created_from: datetime | None = None,
        created_to: datetime | None = None,
        statuses: frozenset[RuntimeStatus] | None = None,
    ) -> list[InstanceState]:
        await self._store_operation()
        chosen = []
        for state in self._store.list_all():
            created = parse_timestamp(state.created_time)
            if instance_id_prefix is not None and not state.instance_id.startswith(
                instance_id_prefix
            ):
                continue
            if created_from is not None and created < created_from:
                continue
            if created_to is not None and created > created_to:
                continue
            if statuses and state.status not in statuses:
                continue
            chosen.append(state)
        chosen.sort(key=lambda s: (s.created_time, s.instance_id))
        return chosen

    async def _send_control(self, instance_id: str, kind: EventType, reason: str | None) -> Outcome:
        state = await self.get_state(instance_id)
        if state is None:
            return Outcome.NOT_FOUND
        if state.status in TERMINAL_STATUSES:
            return Outcome.GONE
        await self._store_operation()
        self._engine.send(instance_id, event(kind, self._now(), Input=reason, Reason=reason))
        return Outcome.ACCEPTED

    async def terminate(self, instance_id: str, reason: str | None) -> Outcome:
        return await self._send_control(instance_id, EventType.EXECUTION_TERMINATED, reason)

    async def suspend(self, instance_id: str, reason: str | None) -> Outcome:
        return await self._send_control(instance_id, EventType.EXECUTION_SUSPENDED, reason)

    async def resume(self, instance_id: str, reason: str | None) -> Outcome:
        return await self._send_control(instance_id, EventType.EXECUTION_RESUMED, reason)

    async def raise_event(
        self, instance_id: str, event_name: str, input_json: str | None
    ) -> Outcome:
        state = await self.get_state(instance_id)
        if state is None:
            return Outcome.NOT_FOUND
        if state.status in TERMINAL_STATUSES:
            return Outcome.GONE
        await self._store_operation()
        raised = event(EventType.EVENT_RAISED, self._now(), Name=event_name, Input=input_json)
        self._engine.send(instance_id, raised)
        return Outcome.ACCEPTED

    async def purge(self, instance_id: str) -> bool:
        await self._store_operation()
        self._engine.forget(instance_id)
        return self._store.delete(instance_id)

    async def restart(self, instance_id: str, *, new_instance_id_wanted: bool) -> str | None:
        """Start the instance's orchestrator again with its original input; None if absent."""
        state = await self.get_state(instance_id)
        if state is None:
            return None
        target = new_instance_id() if new_instance_id_wanted else instance_id
        return await self.start_new(state.name, target, state.input)
