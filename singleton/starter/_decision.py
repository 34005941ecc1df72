"""What a start decided, as a value: returned to the caller, shared with concurrent callers,
replayed to an idempotent retry.

A :class:`Decision` is the result plus the policy it was made under. It travels as a small JSON
string (:meth:`Decision.to_json` / :meth:`Decision.from_json`) so that it can be kept in Redis
for an ``Idempotency-Key`` and published by a lease holder for callers in other processes.
A concurrent caller turns it into its own answer with :meth:`Decision.adopt`.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from typing import Any, ClassVar

from singleton.starter._durable import RuntimeStatus
from singleton.starter._policies import ConflictPolicy, ReusePolicy, StartPolicy

#: Bumped when the JSON shape changes; a decision of another version is not adopted.
_VERSION = 1

#: ``json.dumps(..., separators=(",", ":"))`` builds an encoder on every call; one made once
#: writes the same text (every decision a holder settles is encoded on the start's hot path).
_COMPACT = json.JSONEncoder(separators=(",", ":"))


class Outcome(str, enum.Enum):
    """What became of a start request."""

    STARTED = "started"
    """This call started the instance (and, with an event, raised it on the new instance)."""
    ALREADY_RUNNING = "already_running"
    """An active instance holds the ID (conflict ``fail``); nothing was started."""
    USED_EXISTING = "used_existing"
    """An active instance holds the ID (conflict ``use-existing``); nothing was started."""
    EVENT_RAISED = "event_raised"
    """An active instance holds the ID and received the event; nothing was started."""
    REUSE_REJECTED = "reuse_rejected"
    """A finished instance holds the ID and the reuse policy forbids starting it again."""
    QUEUED = "queued"
    """An active instance holds the ID (conflict ``queue-next``); this request's input is kept
    as the ID's pending run, started once the instance has finished."""
    NEXT_ALREADY_QUEUED = "next_already_queued"
    """An active instance holds the ID and another request is its pending run (conflict
    ``queue-next``); nothing was started or queued."""
    BUSY = "busy"
    """Another starter held the lease on the ID for longer than we waited; nothing was started."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class StartResult:
    """The answer of :meth:`SingletonStarter.start`."""

    outcome: Outcome
    instance_id: str
    runtime_status: RuntimeStatus | None
    """The status that decided the outcome (``None``: absent, or unknown when BUSY; Pending
    when adopted from a concurrent start)."""
    fence: int | None = None
    """The fencing number of the lease the decision was made under, for audit."""
    adopted: bool = False
    """Decided by a concurrent caller's attempt, which this caller shared."""
    replayed: bool = False
    """The stored answer to an earlier request with the same Idempotency-Key."""
    pending_run: str | None = None
    """The ID's pending run (``queue-next``): the one this request queued, the one already
    queued, or the one this decision started."""

    @property
    def started(self) -> bool:
        return self.outcome is Outcome.STARTED


@dataclasses.dataclass(frozen=True)
class Decision:
    """A result and the policy it was decided under."""

    policy: StartPolicy
    result: StartResult

    VERSION: ClassVar[int] = _VERSION

    def adopt(self, policy: StartPolicy) -> StartResult | None:
        """The answer for a caller with ``policy`` that was concurrent with this decision, or
        ``None`` when it must decide for itself.

        An instance this decision started or found active is active for every concurrent
        caller: each answers by its own conflict policy — 409 under ``fail``, the existing
        instance under ``use-existing`` — whatever the policy it was decided under. A finished
        instance the reuse policy refused is adopted only under the same reuse policy.
        ``terminate-existing`` and event callers never adopt (each must act), nor does anyone
        adopt BUSY (nothing was decided).
        """
        result = self.result
        if not policy.shareable:
            return None
        outcome = result.outcome
        status = result.runtime_status
        if outcome is Outcome.STARTED:
            status = RuntimeStatus.PENDING
        elif outcome is Outcome.REUSE_REJECTED:
            if policy.reuse is not self.policy.reuse:
                return None
            return dataclasses.replace(result, adopted=True)
        elif outcome not in (
            Outcome.ALREADY_RUNNING,
            Outcome.USED_EXISTING,
            Outcome.QUEUED,
            Outcome.NEXT_ALREADY_QUEUED,
        ):
            return None  # BUSY decided nothing; an event was this decision's own
        answer = (
            Outcome.USED_EXISTING
            if policy.conflict is ConflictPolicy.USE_EXISTING
            else Outcome.ALREADY_RUNNING
        )
        return dataclasses.replace(
            result, outcome=answer, runtime_status=status, adopted=True, pending_run=None
        )

    def to_json(self) -> str:
        """Compact JSON; ``adopted`` appears only when true (a holder publishes its own
        decision, never an adopted one, so the follow message keeps its shape)."""
        result, policy = self.result, self.policy
        extra: dict[str, Any] = {"adopted": True} if result.adopted else {}
        if result.pending_run is not None:
            extra["pendingRun"] = result.pending_run
        return _COMPACT.encode(
            {
                "v": _VERSION,
                "outcome": result.outcome.value,
                "instanceId": result.instance_id,
                "runtimeStatus": result.runtime_status.value if result.runtime_status else None,
                "fence": result.fence,
                "conflict": policy.conflict.value,
                "reuse": policy.reuse.value,
                "event": policy.event,
                **extra,
            }
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> Decision:
        """Inverse of :meth:`to_json`; ``ValueError`` for anything else."""
        try:
            data: Any = json.loads(text)
            if data.get("v") != _VERSION:
                raise ValueError(f"unknown decision version {data.get('v')!r}")
            status = data["runtimeStatus"]
            fence = data["fence"]
            adopted = data.get("adopted", False)
            if not isinstance(adopted, bool):
                raise TypeError(f"adopted must be a bool, got {adopted!r}")
            pending_run = data.get("pendingRun")
            if pending_run is not None and not isinstance(pending_run, str):
                raise TypeError(f"pendingRun must be a string, got {pending_run!r}")
            result = StartResult(
                outcome=Outcome(data["outcome"]),
                instance_id=str(data["instanceId"]),
                runtime_status=None if status is None else RuntimeStatus(status),
                fence=None if fence is None else int(fence),
                adopted=adopted,
                pending_run=pending_run,
            )
            policy = StartPolicy(
                conflict=ConflictPolicy(data["conflict"]),
                reuse=ReusePolicy(data["reuse"]),
                event=data["event"],
            )
        except (AttributeError, KeyError, TypeError, json.JSONDecodeError) as exc:
            raise ValueError(f"not a start decision: {text!r}") from exc
        return cls(policy=policy, result=result)
