"""A scope typo is refused when the app is indexed, with the closest declared name (issue 15).

The Python worker (and the local host) index an app with ``app.get_functions()``: that is where
``@singleton`` sees its trigger (it sits beneath the trigger decorators) and refuses a
placeholder that is a near miss of a route or blob-path parameter. Before, ``{custmerId}``
beside a route ``reports/{customerId}`` was a 400 per request, blamed on the client, and a
client could make it run by sending ``?custmerId=``.
"""

from __future__ import annotations

import json
from typing import Any

import azure.durable_functions as df
import azure.functions as func
import pytest
from azure.functions.blob import InputStream

from singleton import InvalidScope, Leases, singleton
from singleton.functions._scope import near_miss
from tests.functions.conftest import MakeLeases, http_request, queue_message, timer_request


class LeaseWanted(Exception):
    """The scope was resolved: the decorator asked for its lease."""


def no_leases() -> Leases:
    raise LeaseWanted


def app_with(scope: str, route: str = "reports/{customerId}") -> tuple[func.FunctionApp, Any]:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.function_name("Report")
    @app.route(route=route, methods=[func.HttpMethod.POST])
    @singleton(scope, leases=no_leases)
    async def report(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("built")

    return app, report


def test_a_near_miss_of_a_route_parameter_is_refused_at_indexing_with_the_suggestion() -> None:
    app, _ = app_with("{custmerId}")
    with pytest.raises(InvalidScope) as refused:
        app.get_functions()
    message = str(refused.value)
    assert "function 'Report'" in message
    assert "{custmerId} is not a parameter of the route 'reports/{customerId}'" in message
    assert message.endswith("did you mean {customerId}?")


@pytest.mark.parametrize(
    ("typo", "meant"),
    [
        ("{customerID2}", "customerId"),  # case is ignored; one insertion
        ("{custoemrId}", "customerId"),  # a transposition is one edit
        ("{region}/{custId}x{customrId}", "customerId"),
        ("{tenant}-{ordr}", "order"),
    ],
)
def test_each_placeholder_is_checked_and_the_closest_declared_name_is_suggested(
    typo: str, meant: str
) -> None:
    app, _ = app_with(typo, route="{region}/reports/{customerId:int}/{order?}")
    with pytest.raises(InvalidScope, match=rf"did you mean \{{{meant}\}}\?$"):
        app.get_functions()


@pytest.mark.parametrize(
    "scope",
    [
        "{customerId}",
        "{CUSTOMERID}",  # the lookup ignores case
        "{tenant}/{customerId}",  # tenant: a query parameter or a body field
        "{v}-{customerId}",  # one letter is no typo of a two-letter name
        "{customerIdentifier}",  # far from customerId: a query or body name
        "",
    ],
)
def test_declared_and_other_names_stay_allowed(scope: str) -> None:
    app, _ = app_with(scope)
    assert [f.get_function_name() for f in app.get_functions()] == ["Report"]


async def test_a_refused_function_never_runs_even_when_a_client_sends_the_typo() -> None:
    app, report = app_with("{custmerId}")
    with pytest.raises(InvalidScope):
        app.get_functions()
    request = http_request("c1", params={"custmerId": "c1"}, body={"custmerId": "c1"})
    answer = await report(request)  # a host that indexed it anyway, or a direct call
    assert answer.status_code == 500
    problem = json.loads(answer.get_body())
    assert problem["type"] == "urn:durable-singleton:problem:misconfigured-scope"
    assert "custmerId" not in problem["detail"]  # the log says which, not the answer


#: A module-level app (as a worker imports one) whose get_functions() is never called.
NEVER_INDEXED = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@NEVER_INDEXED.route(route="reports/{customerId}")
@singleton("{custmerId}", leases=no_leases)
async def never_indexed(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("built")


@NEVER_INDEXED.route(route="tenants/{customerId}")
@singleton("{tenant}", leases=no_leases)
async def never_indexed_allowed(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("built")


async def test_a_typo_is_refused_at_the_first_call_of_a_function_that_was_never_indexed() -> None:
    request = http_request("c1", params={"custmerId": "c1"})
    assert (await never_indexed(request)).status_code == 500
    with pytest.raises(LeaseWanted):  # a far name is filled from the query
        await never_indexed_allowed(http_request("c1", params={"tenant": "t1"}))


def test_blueprints_durable_clients_and_blob_paths_are_checked_too() -> None:
    blueprint = df.Blueprint()

    @blueprint.route(route="start/{instanceId}")
    @blueprint.durable_client_input(client_name="client")
    @singleton("{instanceID}x", leases=no_leases)  # case: declared
    async def start(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> str:
        return "ok"

    @blueprint.route(route="stop/{instanceId}")
    @blueprint.durable_client_input(client_name="client")
    @singleton("{instanceIdd}", leases=no_leases)
    async def stop(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> str:
        return "ok"

    app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
    app.register_functions(blueprint)
    with pytest.raises(InvalidScope, match=r"function 'stop'.*did you mean \{instanceId\}\?"):
        app.get_functions()

    blobs = func.FunctionApp()
    blobs.blob_trigger(arg_name="blob", path="uploads/{customerId}/{name}", connection="S")(
        singleton("{customerid}/{nam}", leases=no_leases)(_on_upload)
    )
    with pytest.raises(InvalidScope, match=r"blob trigger's path .*did you mean \{name\}\?"):
        blobs.get_functions()


async def _on_upload(blob: InputStream) -> None:
    return None


def test_names_a_trigger_can_never_fill_are_refused_on_blobs_and_timers() -> None:
    blobs = func.FunctionApp()
    blobs.blob_trigger(arg_name="blob", path="uploads/{customerId}/{name}", connection="S")(
        singleton("{tenant}", leases=no_leases)(_on_upload)
    )
    with pytest.raises(InvalidScope, match="nothing else can fill it"):
        blobs.get_functions()

    timers = func.FunctionApp()

    @timers.timer_trigger(schedule="0 */5 * * * *", arg_name="timer")
    @singleton("{region}", leases=no_leases)
    async def tick(timer: func.TimerRequest) -> None:
        return None

    with pytest.raises(InvalidScope, match="a timer trigger"):
        timers.get_functions()


def test_queue_scopes_are_message_fields_and_are_not_checked() -> None:
    app = func.FunctionApp()

    @app.queue_trigger(arg_name="msg", queue_name="orders", connection="S")
    @singleton("{custmerId}", leases=no_leases)
    async def on_order(msg: func.QueueMessage) -> None:
        return None

    assert len(app.get_functions()) == 1


def test_functions_without_singleton_index_as_before() -> None:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    def plain(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("ok")

    app.route(route="plain/{id}")(plain)
    (function,) = app.get_functions()
    assert function.get_user_function() is plain
    assert json.loads(function.get_raw_bindings()[0])["route"] == "plain/{id}"


def test_near_miss_rules() -> None:
    assert near_miss("custmerId", ["customerId"]) == "customerId"
    assert near_miss("customerid", ["customerId"]) is None  # the same name
    assert near_miss("cstmrId", ["customerId"]) is None  # three edits
    assert near_miss("ix", ["id"]) == "id"
    assert near_miss("v", ["id"]) is None
    assert near_miss("nam", ["customerId", "name", "names"]) == "name"


@pytest.mark.redis
async def test_the_indexed_sample_app_still_runs(make_leases: MakeLeases) -> None:
    from tests.functions import indexed_app

    indexed_app.LEASES[:] = [make_leases(wait=0)]
    functions = {f.get_function_name(): f for f in indexed_app.build(decorate=True).get_functions()}
    report = functions["Report"].get_user_function()
    context: Any = func.Context  # the worker's Context is abstract; any object will do here
    answer = await report(req=http_request("c1"), context=context)
    assert answer.status_code == 200
    assert await functions["on_order"].get_user_function()(queue_message({"customerId": 1})) is None
    assert await functions["tick"].get_user_function()(timer_request()) is None
