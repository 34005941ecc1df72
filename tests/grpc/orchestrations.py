"""The orchestrations the gRPC tests run on a real ``TaskHubGrpcWorker``."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from durabletask import task

WAIT_FOR_FINISH = "wait_for_finish"
FAILS = "fails"


def wait_for_finish(ctx: task.OrchestrationContext, _: Any) -> Generator[Any, Any, Any]:
    """Waits for the event ``finish`` and returns its data (as the orchestration received it)."""
    data = yield ctx.wait_for_external_event("finish")
    return data


def fails(ctx: task.OrchestrationContext, _: Any) -> Any:
    raise ValueError("this orchestration fails")


ORCHESTRATORS = {WAIT_FOR_FINISH: wait_for_finish, FAILS: fails}
