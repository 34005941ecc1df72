"""Scope expressions and the trigger data that fills them (no Redis needed)."""

from __future__ import annotations

import azure.functions as func
import pytest
from azure.functions.blob import InputStream

from singleton import InvalidScope
from singleton.functions._scope import CallableScope, Template
from singleton.functions._trigger import TriggerKind, find_trigger, trigger_lookup
from tests.functions.conftest import http_request, queue_message, timer_request


def render(scope: str, argument: object, blob_path: str | None = None) -> str:
    trigger = find_trigger({"arg": argument})
    return Template.parse(scope).render(trigger_lookup(trigger, lambda: blob_path))


def test_templates_parse_literals_and_placeholders() -> None:
    template = Template.parse("{region}/{customerId}-x")
    assert template.names == ("region", "customerId")
    assert template.literals == ("", "/", "-x")
    assert Template.parse("").names == ()
    for bad in ("{", "}", "{a", "a}", "{}", "{ }", "{a{b}}"):
        with pytest.raises(ValueError, match=r"brace|placeholder"):
            Template.parse(bad)


def test_http_reads_route_then_query_then_json_body_ignoring_case() -> None:
    request = http_request(
        "from-route", params={"customerId": "from-query", "q": "1"}, body={"b": 2}
    )
    assert render("{customerId}", request) == "from-route"
    assert render("{CUSTOMERID}", request) == "from-route"
    assert render("{q}-{b}", request) == "1-2"
    without_route = http_request(None, params={"customerId": "from-query"}, body={"customerId": 3})
    assert render("{customerId}", without_route) == "from-query"
    assert render("{customerId}", http_request(None, body={"customerId": True})) == "true"


def test_http_without_the_field_or_with_a_bad_body_is_invalid() -> None:
    with pytest.raises(InvalidScope, match="not a route parameter, a query parameter or a field"):
        render("{missing}", http_request("c1", body={"other": 1}))
    request = func.HttpRequest(method="POST", url="http://x/", body=b"{not json")
    with pytest.raises(InvalidScope, match="not strict JSON"):
        render("{customerId}", request)
    with pytest.raises(InvalidScope, match="empty"):
        render("{customerId}", http_request(""))
    with pytest.raises(InvalidScope, match="text or a number"):
        render("{customerId}", http_request(None, body={"customerId": None}))


def test_queue_messages_give_their_json_fields() -> None:
    assert render("order-{id}", queue_message({"id": 7})) == "order-7"
    with pytest.raises(InvalidScope, match="not an object"):
        render("{id}", queue_message([1, 2]))


def test_blobs_give_their_path_parameters() -> None:
    blob = InputStream(data=b"", name="uploads/c-1/a/b.csv")
    assert render("{customerId}", blob, "uploads/{customerId}/{name}") == "c-1"
    assert render("{name}", blob, "uploads/{customerId}/{name}") == "a/b.csv"
    with pytest.raises(InvalidScope, match="does not match"):
        render("{customerId}", blob, "other/{customerId}")
    with pytest.raises(InvalidScope, match="path pattern was not found"):
        render("{customerId}", blob, None)


def test_timers_and_unknown_triggers_have_no_data() -> None:
    assert find_trigger({"timer": timer_request()}).kind is TriggerKind.TIMER
    assert find_trigger({"x": "text"}).kind is TriggerKind.OTHER
    with pytest.raises(InvalidScope, match="no data"):
        render("{x}", timer_request())
    assert render("nightly", timer_request()) == "nightly"


def test_a_blob_input_beside_another_trigger_is_not_taken_for_the_trigger() -> None:
    arguments = {"blob": InputStream(data=b""), "msg": queue_message({"id": 1})}
    assert find_trigger(arguments).kind is TriggerKind.QUEUE


def test_callable_scopes_get_the_arguments_they_name() -> None:
    scope = CallableScope(lambda msg: msg.get_json()["id"], {"msg": None, "context": None})
    assert scope.resolve({"msg": queue_message({"id": 5}), "context": object()}) == "5"
    with pytest.raises(TypeError, match="has no parameters for"):
        CallableScope(lambda nothere: "x", {"msg": None})

    async def coroutine(msg: object) -> str:
        return "x"

    with pytest.raises(TypeError, match="without parentheses"):
        CallableScope(coroutine, {"msg": None})
