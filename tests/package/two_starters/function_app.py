"""Three HTTP starters mounted in one app with ``starter_blueprint``: the default one, a
documentation-style ``HttpStart`` on its own route that starts only ``Echo``, and a route for
one orchestrator that does not name it."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from singleton.functions import starter_blueprint

ECHO = "Echo"
OTHER = "Other"

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
app.register_functions(starter_blueprint())
app.register_functions(
    starter_blueprint(
        route="jobs/{functionName}/{instanceId}",
        name="HttpStart",
        auth_level=func.AuthLevel.ANONYMOUS,
        orchestrators=[ECHO],
    )
)
app.register_functions(
    starter_blueprint(
        route="echo/{instanceId}", name="StartEcho", auth_level="admin", orchestrators=[ECHO]
    )
)


@app.function_name(ECHO)
@app.orchestration_trigger(context_name="context")
def echo(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    return context.get_input()
    yield  # a generator, as orchestrators must be


@app.function_name(OTHER)
@app.orchestration_trigger(context_name="context")
def other(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    return {"other": context.get_input()}
    yield  # a generator, as orchestrators must be
