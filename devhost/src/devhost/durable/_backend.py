"""The embedded Durable Functions backend: management API, storage emulation and executor."""

from __future__ import annotations

import asyncio
import enum
import json
import logging
import math
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import azure.functions as func

from devhost.durable._engine import Engine
from devhost.durable._errors import (
    InstanceNotFoundError,
    InvalidArgumentError,
    InvalidOperationError,
    OrchestrationAlreadyExistsError,
    UnknownOrchestratorError,
)
from devhost.durable._faults import FaultInjector
from devhost.durable._functions import FunctionRegistry
from devhost.durable._history import (
    EventType,
    HistoryEvent,
    event,
    format_timestamp,
    parse_timestamp,
    utc_now,
)
from devhost.durable._ids import new_instance_id, validate_instance_id
from devhost.durable._paging import decode_continuation_token, encode_continuation_token
from devhost.durable._payloads import get_input_json
from devhost.durable._responses import client_binding, parse_to_jtoken
from devhost.durable._state import InstanceState, StartRecord
from devhost.durable._status import (
    NON_RUNNING_DEDUPE_STATUSES,
    STATUS_NUMBERS,
    SUSPENDABLE_STATUSES,
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
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an absolute http(s) URL, not {base_url!r}")
        return client_binding(base_url, self.hub_name)

    async def start(self) -> None:
        """Start executing orchestrations, activities and timers (resuming stored work)."""
        await self._engine.start()

    async def stop(self) -> None:
        await self._engine.stop()

    def start_records(self, instance_id: str) -> list[StartRecord]:
        """Every start of ``instance_id`` answered with success, with ``created`` or lost."""
        return self._store.start_records(instance_id)

    def history(self, instance_id: str) -> list[HistoryEvent]:
        """The current execution's raw history events (with their ids), for tests and tools."""
        state = self._store.load(instance_id)
        return [] if state is None else state.history

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
                input_json=get_input_json(raw_input),
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
        statuses: frozenset[int] | None = None,
    ) -> list[InstanceState]:
        """Instances matching a query, in instance ID order (the Instances table's partition
        key order). ``statuses`` are OrchestrationStatus numbers (see ``STATUS_NUMBERS``)."""
        await self._store_operation()
        chosen = []
        for state in self._store.list_all():
            created = parse_timestamp(state.created_time)
            if instance_id_prefix and not state.instance_id.startswith(instance_id_prefix):
                continue
            if created_from is not None and created < created_from:
                continue
            if created_to is not None and created > created_to:
                continue
            if statuses is not None and STATUS_NUMBERS[state.status] not in statuses:
                continue
            chosen.append(state)
        chosen.sort(key=lambda s: s.instance_id)
        return chosen

    async def list_page(
        self,
        *,
        page_size: int,
        continuation_token: str | None,
        instance_id_prefix: str | None = None,
        created_from: datetime | None = None,
        created_to: datetime | None = None,
        statuses: frozenset[int] | None = None,
    ) -> tuple[list[InstanceState], str | None]:
        """One page and the token of the next (None after the last page)."""
        after = decode_continuation_token(continuation_token) if continuation_token else None
        states = await self.list_states(
            instance_id_prefix=instance_id_prefix,
            created_from=created_from,
            created_to=created_to,
            statuses=statuses,
        )
        if after is not None:
            states = [s for s in states if s.instance_id >= after]
        page, rest = states[:page_size], states[page_size:]
        return page, (encode_continuation_token(rest[0].instance_id) if rest else None)

    async def _checked_state(self, instance_id: str) -> InstanceState | Outcome:
        """HttpApiHandler's own check before a client call: absent (404) or completed (410)."""
        state = await self.get_state(instance_id)
        if state is None:
            return Outcome.NOT_FOUND
        if state.status in TERMINAL_STATUSES:
            return Outcome.GONE
        return state

    async def _send(self, instance_id: str, message: HistoryEvent) -> Outcome:
        await self._store_operation()
        self._engine.send(instance_id, message)
        return Outcome.ACCEPTED

    async def terminate(self, instance_id: str, reason: str | None) -> Outcome:
        """HandleTerminateInstanceRequestAsync + DurableClient.TerminateAsync: any status that
        is not completed (IsOrchestrationRunning) takes the terminate message."""
        state = await self._checked_state(instance_id)
        if isinstance(state, Outcome):
            return state
        return await self._send(
            instance_id, event(EventType.EXECUTION_TERMINATED, self._now(), Input=reason)
        )

    async def suspend(self, instance_id: str, reason: str | None) -> Outcome:
        """DurableClient.SuspendAsync: only Running, Pending, ContinuedAsNew; otherwise its
        InvalidOperationException, which the host answers with 500 (odd, but what it does)."""
        return await self._suspend_or_resume(
            instance_id, reason, "suspend", SUSPENDABLE_STATUSES, EventType.EXECUTION_SUSPENDED
        )

    async def resume(self, instance_id: str, reason: str | None) -> Outcome:
        """DurableClient.ResumeAsync: only Suspended; otherwise InvalidOperationException (500)."""
        return await self._suspend_or_resume(
            instance_id,
            reason,
            "resume",
            frozenset({RuntimeStatus.SUSPENDED}),
            EventType.EXECUTION_RESUMED,
        )

    async def _suspend_or_resume(
        self,
        instance_id: str,
        reason: str | None,
        verb: str,
        allowed: frozenset[RuntimeStatus],
        kind: EventType,
    ) -> Outcome:
        state = await self._checked_state(instance_id)
        if isinstance(state, Outcome):
            return state
        if state.status not in allowed:
            raise InvalidOperationError(
                f"Cannot {verb} the orchestration instance {instance_id} because instance is "
                f"in the {state.status.value} state."
            )
        return await self._send(instance_id, event(kind, self._now(), Reason=reason))

    async def rewind(self, instance_id: str, reason: str | None) -> Outcome:
        """HandleRewindInstanceRequestAsync: absent 404; Completed, Terminated, Canceled 410.
        DurableClient.RewindAsync: anything but Failed is an InvalidOperationException (500);
        a Failed instance is rewound (``_rewind``) and runs again."""
        state = await self.get_state(instance_id)
        if state is None:
            return Outcome.NOT_FOUND
        if state.status in TERMINAL_STATUSES - {RuntimeStatus.FAILED}:
            return Outcome.GONE
        if state.status != RuntimeStatus.FAILED or not self._engine.rewind(instance_id):
            raise InvalidOperationError(
                "The rewind operation is only supported on failed orchestration instances."
            )
        logger.info("rewound %r (reason %r)", instance_id, reason)
        return Outcome.ACCEPTED

    async def raise_event(
        self, instance_id: str, event_name: str, input_json: str | None
    ) -> Outcome:
        state = await self._checked_state(instance_id)
        if isinstance(state, Outcome):
            return state
        raised = event(EventType.EVENT_RAISED, self._now(), Name=event_name, Input=input_json)
        return await self._send(instance_id, raised)

    async def purge(self, instance_id: str) -> bool:
        """AzureTableTrackingStore.PurgeInstanceHistoryAsync(instanceId): the instance goes
        whatever its status (a running one included); its in-flight work is dropped."""
        await self._store_operation()
        self._engine.forget(instance_id)
        return self._store.delete(instance_id)

    async def purge_by_filter(
        self,
        created_from: datetime,
        created_to: datetime | None,
        statuses: frozenset[int] | None,
    ) -> int:
        """AzureTableTrackingStore.PurgeInstanceHistoryAsync(from, to, statuses): only the
        terminal statuses of the filter are kept; when none is left there is no status filter
        at all, so ``runtimeStatus=Running`` purges every instance in the time range."""
        terminal = {STATUS_NUMBERS[status] for status in TERMINAL_STATUSES}
        kept = frozenset(statuses & terminal) if statuses is not None else frozenset()
        states = await self.list_states(
            created_from=created_from, created_to=created_to, statuses=kept or None
        )
        deleted = 0
        for state in states:
            if await self.purge(state.instance_id):
                deleted += 1
        return deleted

    async def restart(self, instance_id: str, *, new_instance_id_wanted: bool) -> str:
        """DurableClient.RestartAsync: start the instance's orchestrator again with its input
        (the status read's value, serialized again); absent → ArgumentException (400); a running
        ID kept → the start's OrchestrationAlreadyExistsException (500)."""
        state = await self.get_state(instance_id)
        if state is None:
            raise InstanceNotFoundError(
                # Verbatim, typo included.
                f"An orchestrastion with the instanceId {instance_id} was not found."
            )
        target = new_instance_id() if new_instance_id_wanted else instance_id
        raw_input = None if state.input is None else json.dumps(parse_to_jtoken(state.input))
        return await self.start_new(state.name, target, raw_input)

    async def wait_for_completion(
        self, instance_id: str, timeout: timedelta, interval: timedelta
    ) -> InstanceState | None:
        """WaitForCompletionOrCreateCheckStatusResponseAsync's polling loop (Azure Storage does
        not support poll-free waits): the status every ``interval`` until it is completed,
        canceled, failed or terminated, or ``timeout`` has passed."""
        if interval > timeout:
            raise InvalidArgumentError(
                f"Total timeout {timeout.total_seconds()} should be bigger than retry timeout "
                f"{interval.total_seconds()}"
            )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout.total_seconds()
        while True:
            state = await self.get_state(instance_id)
            if state is not None and state.status in TERMINAL_STATUSES:
                return state
            remaining = deadline - loop.time()
            if remaining <= 0:
                return state
            await self._sleep(min(remaining, interval.total_seconds()))
