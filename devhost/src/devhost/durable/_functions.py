"""Which orchestrators and activities an app defines, by the names the host knows them by."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import azure.functions as func

logger = logging.getLogger(__name__)

ORCHESTRATION_TRIGGER = "orchestrationTrigger"
ACTIVITY_TRIGGER = "activityTrigger"
ENTITY_TRIGGER = "entityTrigger"

_T = TypeVar("_T")


@dataclass(frozen=True)
class Activity:
    name: str
    function: Callable[..., Any]
    parameter: str
    python_name: str


@dataclass(frozen=True)
class Orchestrator:
    name: str
    handle: Callable[[str], str]


class FunctionNames(Generic[_T]):
    """Functions by name, looked up ignoring case as the host does: the extension's
    ``FunctionName`` compares and hashes with ``StringComparison.OrdinalIgnoreCase``, so
    ``start_new("MONITOR")`` runs ``monitor``. Iterating gives the registered spellings."""

    def __init__(self) -> None:
        self._by_folded: dict[str, tuple[str, _T]] = {}

    def add(self, name: str, value: _T) -> None:
        self._by_folded[name.casefold()] = (name, value)

    def registered(self, name: str) -> str | None:
        """The registered spelling of ``name``, or None when no function has it."""
        found = self._by_folded.get(name.casefold())
        return None if found is None else found[0]

    def get(self, name: str) -> _T | None:
        found = self._by_folded.get(name.casefold())
        return None if found is None else found[1]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.casefold() in self._by_folded

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._by_folded.values())

    def __len__(self) -> int:
        return len(self._by_folded)

    def values(self) -> list[_T]:
        return [value for _, value in self._by_folded.values()]


class FunctionRegistry:
    """Orchestrators and activities from ``app.get_functions()`` (which the caller calls once)."""

    def __init__(self, functions: Iterable[func.Function]) -> None:
        self.orchestrators: FunctionNames[Orchestrator] = FunctionNames()
        self.activities: FunctionNames[Activity] = FunctionNames()
        for function in functions:
            trigger = function.get_trigger()
            if trigger is None:
                continue
            binding_type = trigger.get_binding_name()
            name = str(function.get_function_name())
            if binding_type == ORCHESTRATION_TRIGGER:
                # The trigger's own ``orchestration=`` name wins, as in the extension.
                name = str(getattr(trigger, "orchestration", None) or name)
                self.orchestrators.add(name, Orchestrator(name, function.get_user_function()))
            elif binding_type == ACTIVITY_TRIGGER:
                name = str(getattr(trigger, "activity", None) or name)
                user_function = function.get_user_function()
                self.activities.add(
                    name,
                    Activity(
                        name,
                        user_function,
                        str(trigger.name),
                        str(getattr(user_function, "__name__", name)),
                    ),
                )
            elif binding_type == ENTITY_TRIGGER:
                logger.warning("entity function %r ignored: entities are not supported", name)

    def unknown_orchestrator_message(self, name: str) -> str:
        """``DurableTaskExtension.GetInvalidOrchestratorFunctionMessage``, verbatim."""
        message = (
            f"The function '{name}' doesn't exist, is disabled, or is not an orchestrator "
            "function. Additional info: "
        )
        if self.orchestrators:
            known = "', '".join(self.orchestrators)
            return message + f"The following are the known orchestrator functions: '{known}'."
        return message + "No orchestrator functions are currently registered!"

    def unknown_activity_message(self, name: str) -> str:
        """``GetInvalidActivityFunctionMessage``, plus a hint for a renamed activity."""
        message = (
            f"The function '{name}' doesn't exist, is disabled, or is not an activity "
            "function. Additional info: "
        )
        if self.activities:
            known = "', '".join(self.activities)
            message += f"The following are the known activity functions: '{known}'."
        else:
            message += "No activity functions are currently registered!"
        renamed = [a.name for a in self.activities.values() if a.python_name == name]
        if renamed:
            # call_activity(fn) sends the def name even when @app.function_name renamed it.
            message += (
                f" (devhost: '{name}' is the Python name of '{renamed[0]}'; call it by that name.)"
            )
        return message
