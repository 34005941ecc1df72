"""A Function App whose functions carry ``@singleton`` beneath their trigger decorators, and
undecorated twins, for the indexing tests. Module-level, as the worker imports an app."""

from __future__ import annotations

import azure.durable_functions as df
import azure.functions as func

from singleton import Leases, current_lease, singleton

#: The test puts the Leases to use here (a Leases is bound to its event loop).
LEASES: list[Leases] = []
SEEN: list[str] = []


def leases() -> Leases:
    return LEASES[0]


def build(decorate: bool) -> df.DFApp:
    """The same functions on a fresh app, with or without ``@singleton``."""
    app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
    guard = singleton if decorate else (lambda *a, **k: lambda f: f)

    @app.function_name("Report")
    @app.route(route="reports/{customerId}", methods=[func.HttpMethod.POST])
    @guard("{customerId}", on_busy="fail", leases=leases)
    def report(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
        return func.HttpResponse("built")

    @app.queue_trigger(arg_name="msg", queue_name="orders", connection="AzureWebJobsStorage")
    @guard("{customerId}", leases=leases)
    async def on_order(msg: func.QueueMessage) -> None:
        return None

    @app.blob_trigger(
        arg_name="blob", path="uploads/{customerId}/{name}", connection="AzureWebJobsStorage"
    )
    @guard("{customerId}", on_busy="skip", leases=leases)
    async def on_upload(blob: func.InputStream) -> None:
        SEEN.append(current_lease().name)

    @app.timer_trigger(schedule="0 */5 * * * *", arg_name="timer", run_on_startup=False)
    @guard(leases=leases)
    def tick(timer: func.TimerRequest) -> None:
        return None

    @app.route(route="start/{id}")
    @app.durable_client_input(client_name="client")
    @guard("{id}", leases=leases)
    async def start(
        req: func.HttpRequest, client: df.DurableOrchestrationClient
    ) -> func.HttpResponse:
        return func.HttpResponse("started")

    return app


app = build(decorate=True)
