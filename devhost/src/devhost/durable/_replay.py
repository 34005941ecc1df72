"""One call into azure-functions-durable's own replay protocol: history in, actions out."""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from devhost.durable._history import HistoryEvent

logger = logging.getLogger(__name__)

# Replay schema V2: actions come back as one flat, append-only list per execution.
UPPER_SCHEMA_VERSION = 1
_ERROR_MARKER = "\n\n$OutOfProcData$:"


@dataclass
class EpisodeResult:
    """The orchestrator's answer for one episode (``OrchestratorState`` JSON, decoded)."""

    is_done: bool
    actions: list[dict[str, Any]] = field(default_factory=list)
    output: Any = None
    error: str | None = None
    custom_status: Any = None
    has_custom_status: bool = False


def run_episode(
    handle: Callable[[str], str],
    *,
    instance_id: str,
    history: list[HistoryEvent],
    input_value: Any,
    parent_instance_id: str | None,
    played_json: Sequence[str] = (),
) -> EpisodeResult:
    """Run the orchestrator function over ``history`` and decode what it decided.

    ``input_value`` is the context's ``input`` as a JSON value, as the extension sends it
    (``devhost.durable._payloads.context_input``). ``played_json`` holds the JSON text of
    the first events of ``history`` when the caller has it: only the events after those are
    serialised, so building the context does not grow with the history (the SDK's own replay
    does, as it does on Azure).
    """
    context = {
        "instanceId": instance_id,
        "isReplaying": len(history) > 2,
        "parentInstanceId": parent_instance_id,
        "input": input_value,
        "upperSchemaVersion": UPPER_SCHEMA_VERSION,
    }
    events = [*played_json, *(json.dumps(e) for e in history[len(played_json) :])]
    context_json = '{"history": [' + ", ".join(events) + "], " + json.dumps(context)[1:]
    # The SDK warns (e.g. "Potential duplicate Task completion") where the host would only
    # log; keep those warnings from turning into orchestrator failures under -W error.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            state_json = handle(context_json)
            failure = None
        except Exception as exc:
            failure = exc
    for warning in caught:
        logger.info("orchestrator %r warned: %s", instance_id, warning.message)
    if failure is not None:
        return _failed_result(failure)
    return _decode_state(json.loads(state_json))


def _failed_result(failure: Exception) -> EpisodeResult:
    text = str(failure)
    message, marker, state_text = text.partition(_ERROR_MARKER)
    if not marker:
        return EpisodeResult(is_done=False, error=text or type(failure).__name__)
    result = _decode_state(json.loads(state_text))
    result.error = result.error or message
    result.is_done = False
    return result


def _decode_state(state: dict[str, Any]) -> EpisodeResult:
    actions: list[dict[str, Any]] = []
    for group in state.get("actions") or []:
        # V2 wraps the single flat list in an outer list; tolerate V1's list-of-lists too.
        actions.extend(group if isinstance(group, list) else [group])
    return EpisodeResult(
        is_done=bool(state.get("isDone")),
        actions=actions,
        output=state.get("output"),
        error=state.get("error"),
        custom_status=state.get("customStatus"),
        has_custom_status="customStatus" in state,
    )
