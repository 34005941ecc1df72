"""What the backend keeps per orchestration instance, and per answered start request."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from devhost.durable._history import HistoryEvent
from devhost.durable._status import RuntimeStatus


@dataclass
class RetryPlan:
    """A ``*WithRetry`` call in flight: the host retries it like DTFx's RetryInterceptor."""

    kind: str  # "activity" | "suborchestration"
    name: str
    input: str | None
    max_attempts: int
    interval_ms: int
    attempt: int = 1
    child_instance_id: str | None = None


@dataclass
class PendingActivity:
    task_id: int
    name: str
    input: str | None


@dataclass
class InstanceState:
    """One instance: its current execution's history, inbox and outstanding work.

    Everything here is plain JSON so that ``SqliteStore`` can persist it and a restarted
    backend can resume in-flight work (timers re-armed, activities re-run).
    """

    instance_id: str
    name: str
    execution_id: str
    status: RuntimeStatus
    input: str | None
    created_time: str
    last_updated_time: str
    version: str = ""
    output: str | None = None
    custom_status: str | None = None
    parent_instance_id: str | None = None
    parent_execution_id: str | None = None
    parent_task_id: int | None = None
    history: list[HistoryEvent] = field(default_factory=list)
    inbox: list[HistoryEvent] = field(default_factory=list)
    next_sequence: int = 0
    actions_seen: int = 0
    # Keyed by task id; JSON turns the keys into strings, ``from_json`` turns them back.
    timers: dict[int, str] = field(default_factory=dict)
    timer_positions: dict[int, int] = field(default_factory=dict)
    activities: list[PendingActivity] = field(default_factory=list)
    retries: dict[int, RetryPlan] = field(default_factory=dict)
    retry_timers: dict[int, int] = field(default_factory=dict)
    # A Failed instance keeps its row from before the failing episode, for rewind.
    rewind_point: str | None = None

    def to_json(self) -> str:
        body = asdict(self)
        body["status"] = self.status.value
        return json.dumps(body)

    @classmethod
    def from_json(cls, text: str) -> InstanceState:
        body: dict[str, Any] = json.loads(text)
        body["status"] = RuntimeStatus(body["status"])
        body["timers"] = {int(k): v for k, v in body["timers"].items()}
        body["timer_positions"] = {int(k): v for k, v in body["timer_positions"].items()}
        body["activities"] = [PendingActivity(**a) for a in body["activities"]]
        body["retries"] = {int(k): RetryPlan(**v) for k, v in body["retries"].items()}
        body["retry_timers"] = {int(k): v for k, v in body["retry_timers"].items()}
        return cls(**body)


@dataclass(frozen=True)
class StartRecord:
    """A start request the store answered with success.

    ``created`` is False when the request was swallowed: on Azure Storage the loser of two
    racing starts of a new ID still gets 202, and its input is silently dropped.
    """

    instance_id: str
    execution_id: str
    input_json: str | None
    created: bool
    answered_at: str

    @property
    def lost(self) -> bool:
        return not self.created

    @property
    def input(self) -> Any:
        """The input as the orchestrator would have received it (decoded JSON)."""
        return None if self.input_json is None else json.loads(self.input_json)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> StartRecord:
        return cls(**json.loads(text))
