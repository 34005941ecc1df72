"""An app mixing functions the local host runs with ones it does not."""

from __future__ import annotations

import azure.functions as func

app = func.FunctionApp()


@app.route(route="hello", methods=["GET"])
def hello(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("hello")


@app.event_hub_message_trigger(
    arg_name="event", event_hub_name="telemetry", connection="EventHubConnection"
)
def on_event(event: func.EventHubEvent) -> None:
    raise AssertionError("never run locally")


@app.route(route="with-cosmos", methods=["GET"])
@app.cosmos_db_input(
    arg_name="docs", database_name="db", container_name="c", connection="CosmosConnection"
)
def with_cosmos(req: func.HttpRequest, docs: func.DocumentList) -> func.HttpResponse:
    raise AssertionError("never run locally")
