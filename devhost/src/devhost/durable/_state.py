"""What the backend keeps per orchestration instance, and per answered start request."""

from __future__ import annotations

import copy
import json
from dataclasses import asdict, dataclass, field, fields, replace
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


@dataclass(frozen=True)
class PendingActivity:
    task_id: int
    name: str
    input: str | None


_NOT_IN_HEAD = ("history", "played_json")


@dataclass
class InstanceState:
    """One instance: its current execution's history, inbox and outstanding work.

    Everything here is plain JSON so that ``SqliteStore`` can persist it and a restarted
    backend can resume in-flight work (timers re-armed, activities re-run).

    History events are never changed in place once appended: a store and the copies it hands
    out share them (``working_copy``), which keeps a step's cost independent of the history's
    length. ``played`` counts the leading events of past episodes, which the SDK sees with
    ``IsPlayed: true``; the engine marks the episode's new events by replacing them.
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
    played: int = 0
    inbox: list[HistoryEvent] = field(default_factory=list)
    next_sequence: int = 0
    actions_seen: int = 0
    # Leaf actions (compound actions opened) among those ``actions_seen``; -1: not known.
    leaves_seen: int = 0
    # Keyed by task id; JSON turns the keys into strings, ``from_json`` turns them back.
    timers: dict[int, str] = field(default_factory=dict)
    timer_positions: dict[int, int] = field(default_factory=dict)
    activities: list[PendingActivity] = field(default_factory=list)
    retries: dict[int, RetryPlan] = field(default_factory=dict)
    retry_timers: dict[int, int] = field(default_factory=dict)
    # A Failed instance keeps its row from before the failing episode, for rewind.
    rewind_point: str | None = None
    # Not stored: the JSON text of the first played events, so that an episode serialises
    # only its new events for the SDK (``run_episode``'s ``played_json``).
    played_json: list[str] = field(default_factory=list, repr=False, compare=False)

    def played_history_json(self) -> list[str]:
        """The JSON texts of the played events, made for the events played since last time."""
        texts = self.played_json
        if len(texts) > self.played:  # the history was started again
            del texts[:]
        texts.extend(json.dumps(e) for e in self.history[len(texts) : self.played])
        return texts

    def working_copy(self) -> InstanceState:
        """A copy whose containers are its own; the (immutable) history events are shared."""
        # copy.copy, not dataclasses.replace: this runs at every load and save.
        twin = copy.copy(self)
        twin.history = list(self.history)
        twin.inbox = list(self.inbox)
        twin.timers = dict(self.timers)
        twin.timer_positions = dict(self.timer_positions)
        twin.activities = list(self.activities)  # frozen: shared
        twin.retries = {k: replace(v) for k, v in self.retries.items()}  # changed in place
        twin.retry_timers = dict(self.retry_timers)
        twin.played_json = list(self.played_json)
        return twin

    def head(self) -> dict[str, Any]:
        """Every field but the history, as plain JSON values."""
        body = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in _NOT_IN_HEAD}
        body["status"] = self.status.value
        body["activities"] = [asdict(a) for a in self.activities]
        body["retries"] = {k: asdict(v) for k, v in self.retries.items()}
        return body

    def to_json(self) -> str:
        return json.dumps({**self.head(), "history": self.history})

    @classmethod
    def from_json(cls, text: str) -> InstanceState:
        return cls.from_head(json.loads(text))

    @classmethod
    def from_head(
        cls, body: dict[str, Any], history: list[HistoryEvent] | None = None
    ) -> InstanceState:
        """The state from ``head()`` (and ``history`` when it is stored apart)."""
        body = dict(body)
        if history is not None:
            body["history"] = history
        body["status"] = RuntimeStatus(body["status"])
        body["timers"] = {int(k): v for k, v in body["timers"].items()}
        body["timer_positions"] = {int(k): v for k, v in body["timer_positions"].items()}
        body["activities"] = [PendingActivity(**a) for a in body["activities"]]
        body["retries"] = {int(k): RetryPlan(**v) for k, v in body["retries"].items()}
        body["retry_timers"] = {int(k): v for k, v in body["retry_timers"].items()}
        body.setdefault("leaves_seen", -1)  # a row from before it was kept: count afresh
        if "played" not in body:
            # A row written before ``played`` existed: every stored event was marked played.
            body["played"] = sum(1 for e in body.get("history", ()) if e.get("IsPlayed"))
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
