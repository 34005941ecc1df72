"""Bodies that fill a scope are parsed as strictly as the starter parses a start body
(issue 14 item 5): every bad one is a 400 on HTTP and an InvalidScope on a queue or Service
Bus message, never a RecursionError or ValueError (a 500), and nothing is run or leased.

Before, ``@singleton`` read bodies with ``json.loads``: a 100,000-deep body escaped as
RecursionError, a 5,000-digit integer as ValueError, ``NaN`` was a field value. A scope
callable that raised escaped as its own error.
"""

from __future__ import annotations

import json
from typing import Any

import azure.functions as func
import pytest
from azure.functions.queue import QueueMessage

from singleton import InvalidScope, Leases, singleton

DEEP = b'{"customerId": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
HUGE_INTEGER = b'{"customerId": 1' + b"0" * 5_000 + b"}"
BAD_BODIES = {
    "100000-deep": DEEP,
    "5000-digit integer": HUGE_INTEGER,
    "NaN": b'{"customerId": NaN}',
    "Infinity": b'{"customerId": 1e999}',
    "not UTF-8": b'{"customerId": "\xff"}',
    "not JSON": b"{customerId: 1}",
}


class LeaseWanted(Exception):
    """The scope was resolved: the decorator asked for its lease."""


def no_leases() -> Leases:
    raise LeaseWanted


def request(body: bytes, params: dict[str, str] | None = None) -> func.HttpRequest:
    return func.HttpRequest(
        method="POST", url="http://127.0.0.1/api/reports", params=params or {}, body=body
    )


def message(body: bytes) -> func.QueueMessage:
    return QueueMessage(id="m-1", body=body, dequeue_count=1)


def service_bus_message(body: bytes) -> func.ServiceBusMessage:
    return func.ServiceBusMessage(body=body)  # what the worker passes subclasses it


RUNS: list[str] = []


@singleton("{customerId}", leases=no_leases)
async def build(req: func.HttpRequest) -> func.HttpResponse:
    RUNS.append("http")
    return func.HttpResponse("built")


@singleton("{customerId}", leases=no_leases)
async def on_order(msg: func.QueueMessage) -> None:
    RUNS.append("queue")


@singleton("{customerId}", leases=no_leases)
def on_bus(msg: func.ServiceBusMessage) -> None:
    RUNS.append("service bus")


def problem_of(response: func.HttpResponse) -> dict[str, Any]:
    assert response.mimetype == "application/problem+json"
    body: dict[str, Any] = json.loads(response.get_body())
    return body


@pytest.mark.parametrize("body", list(BAD_BODIES.values()), ids=list(BAD_BODIES))
async def test_a_bad_http_body_is_a_400_invalid_scope(body: bytes) -> None:
    RUNS.clear()
    answer = await build(request(body))
    assert answer.status_code == 400
    problem = problem_of(answer)
    assert problem["type"] == "urn:durable-singleton:problem:invalid-scope"
    assert "not strict JSON" in problem["detail"]
    assert RUNS == []


@pytest.mark.parametrize("body", list(BAD_BODIES.values()), ids=list(BAD_BODIES))
async def test_a_bad_message_body_is_invalid_scope_on_queue_and_service_bus(body: bytes) -> None:
    RUNS.clear()
    with pytest.raises(InvalidScope, match="the message is not strict JSON"):
        await on_order(message(body))
    with pytest.raises(InvalidScope, match="the message is not strict JSON"):
        await on_bus(service_bus_message(body))
    assert RUNS == []


async def test_the_limits_are_the_starters_depth_64_and_4300_digits() -> None:
    RUNS.clear()
    nested_64 = b'{"customerId": "c1", "x": ' + b"[" * 63 + b"]" * 63 + b"}"
    nested_65 = b'{"customerId": "c1", "x": ' + b"[" * 64 + b"]" * 64 + b"}"
    digits_4300 = b'{"customerId": 1' + b"0" * 4_299 + b"}"

    answer = await build(request(nested_65))
    assert answer.status_code == 400
    assert "deeper than 64" in problem_of(answer)["detail"]
    for within in (nested_64, digits_4300):
        with pytest.raises(LeaseWanted):  # the scope resolved: on to its lease
            await build(request(within))
    assert RUNS == []


async def test_a_body_is_not_read_when_the_route_or_query_fills_the_scope() -> None:
    RUNS.clear()
    with pytest.raises(LeaseWanted):
        await build(request(DEEP, params={"customerId": "c1"}))


async def test_a_scope_callable_that_raises_is_invalid_scope_400_and_its_error_is_the_cause(
    caplog: pytest.LogCaptureFixture,
) -> None:
    RUNS.clear()

    @singleton(lambda req: req.get_json()["customerId"], leases=no_leases)
    async def by_callable(req: func.HttpRequest) -> func.HttpResponse:
        RUNS.append("http")
        return func.HttpResponse("built")

    @singleton(lambda msg: msg.get_json()["customerId"], leases=no_leases)
    async def on_message(msg: func.QueueMessage) -> None:
        RUNS.append("queue")

    answer = await by_callable(request(b'{"other": 1}'))
    assert answer.status_code == 400
    detail = problem_of(answer)["detail"]
    assert "raised KeyError" in detail
    assert "'customerId'" not in detail  # the error itself is logged, not answered
    assert "KeyError('customerId')" in caplog.text
    answer = await by_callable(request(DEEP))  # the callable's own json.loads recurses
    assert answer.status_code == 400
    assert "raised RecursionError" in problem_of(answer)["detail"]
    with pytest.raises(InvalidScope, match="raised KeyError") as raised:
        await on_message(message(b'{"other": 1}'))
    assert isinstance(raised.value.__cause__, KeyError)
    assert RUNS == []
