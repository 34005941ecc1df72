"""What a start does when the instance ID is taken: small values, parsed in one place.

Temporal's names, Durable's statuses::

    ConflictPolicy   an *active* instance holds the ID (Pending, Running, ContinuedAsNew, Suspended)
      FAIL                 answer "already running", start nothing (the default)
      USE_EXISTING         answer with the existing instance, start nothing
      TERMINATE_EXISTING   terminate it, wait until the host reports it finished, then start
      QUEUE_NEXT           keep the request as the ID's one pending run, started once the
                           active instance has finished (``_pending.py``)

    ReusePolicy      a *finished* instance holds the ID (Completed, Failed, Terminated, Canceled)
      ALLOW                start again (the default, as the documentation's starter)
      FAILED_ONLY          start again only after Failed, Terminated or Canceled
      REJECT               never start a used ID again

An :class:`Event` turns the start into event-with-start (Temporal's signal-with-start): an
active instance receives the event instead of a conflict answer; otherwise the new instance
is started and then receives it.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from typing import Any, TypeVar

from singleton._errors import InvalidStartOption
from singleton.starter._durable import RuntimeStatus

_Choice = TypeVar("_Choice", bound="_Choices")


class _Choices(str, enum.Enum):
    """Options named on the wire by their values; the parameter is the class name without
    "Policy", lower-cased."""

    @classmethod
    def parse(cls: type[_Choice], value: object, *, parameter: str | None = None) -> _Choice:
        """The member named ``value`` (or ``value`` itself); :class:`InvalidStartOption`
        naming the parameter and the allowed values otherwise."""
        if isinstance(value, cls):
            return value
        try:
            return cls(value)
        except ValueError:
            allowed = ", ".join(member.value for member in cls)
            name = parameter or cls.__name__.removesuffix("Policy").lower()
            raise InvalidStartOption(name, value, f"one of {allowed}") from None


class ConflictPolicy(_Choices):
    """What a start does when an active instance holds the ID."""

    FAIL = "fail"
    USE_EXISTING = "use-existing"
    TERMINATE_EXISTING = "terminate-existing"
    QUEUE_NEXT = "queue-next"


class ReusePolicy(_Choices):
    """Whether a start may reuse the ID of a finished instance."""

    ALLOW = "allow"
    FAILED_ONLY = "failed-only"
    REJECT = "reject"

    def allows(self, finished: RuntimeStatus) -> bool:
        """Whether an ID whose last instance ended as ``finished`` may start again."""
        if self is ReusePolicy.ALLOW:
            return True
        if self is ReusePolicy.FAILED_ONLY:
            return finished is not RuntimeStatus.COMPLETED
        return False


# The client pastes event names into the URL unencoded: keep to characters that survive.
_EVENT_NAME = re.compile(r"[A-Za-z0-9_.-]{1,128}")


@dataclasses.dataclass(frozen=True)
class Event:
    """An external event to raise with the start: ``name`` and its JSON-serialisable ``data``."""

    name: str
    data: Any = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _EVENT_NAME.fullmatch(self.name):
            raise InvalidStartOption("event", self.name, "1-128 letters, digits, '_', '.' or '-'")


@dataclasses.dataclass(frozen=True, kw_only=True)
class StartPolicy:
    """The policies one start runs under. Callers with equal policies may share one attempt."""

    conflict: ConflictPolicy = ConflictPolicy.FAIL
    reuse: ReusePolicy = ReusePolicy.ALLOW
    event: str | None = None
    """The event's name under event-with-start (its data is the caller's own)."""

    @property
    def shareable(self) -> bool:
        """Whether a caller may adopt another caller's decision under this policy.

        Not under ``terminate-existing`` (each caller ends what runs and starts its own
        input), nor ``queue-next`` (each caller's input is queued or refused, never lost in
        another's answer), nor with an event (each caller's event must be delivered).
        """
        return (
            self.conflict is not ConflictPolicy.TERMINATE_EXISTING
            and self.conflict is not ConflictPolicy.QUEUE_NEXT
            and self.event is None
        )
