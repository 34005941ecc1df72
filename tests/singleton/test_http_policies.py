"""The HTTP adapter's translation of the start options and their answers."""

from __future__ import annotations

import json

import pytest

from singleton import RuntimeStatus, SingletonStarter
from singleton.functions.http import handle_start_request
from tests.singleton.durable_app import WAIT_FOR_FINISH
from tests.singleton.harness import DurableHost, post
from tests.singleton.test_http import problem_of

pytestmark = pytest.mark.redis


async def call(
    durable: DurableHost,
    starter: SingletonStarter,
    instance_id: str,
    body: bytes = b"",
    **params: str,
) -> tuple[int, dict[str, str], dict[str, object]]:
    headers = {}
    if "idempotency_key" in params:
        headers["Idempotency-Key"] = params.pop("idempotency_key")
    response = await handle_start_request(
        post(WAIT_FOR_FINISH, instance_id, body, params=params, headers=headers),
        durable.client(),
        starter=lambda: starter,
    )
    return response.status_code, dict(response.headers), json.loads(response.get_body())


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"conflict": "replace"}, "conflict 'replace': expected one of fail, use-existing, "),
        ({"conflict": ""}, "conflict ''"),
        ({"reuse": "sometimes"}, "reuse 'sometimes': expected one of allow, failed-only, reject"),
        ({"event": "a b"}, "event 'a b'"),
        ({"idempotency_key": "x" * 256}, "Idempotency-Key"),
    ],
)
async def test_400_names_the_parameter_and_allowed_values(
    durable: DurableHost, starter: SingletonStarter, params: dict[str, str], named: str
) -> None:
    code, _, body = await call(durable, starter, "bad-option", **params)

    assert code == 400
    assert named in str(body["detail"])
    assert durable.started("bad-option") == 0


async def test_200_under_use_existing_is_the_existing_instances_check_status_payload(
    durable: DurableHost, starter: SingletonStarter
) -> None:
    await call(durable, starter, "ue-1")

    code, headers, body = await call(durable, starter, "ue-1", conflict="use-existing")

    assert code == 200
    assert body["id"] == "ue-1"
    assert body["runtimeStatus"] in {"Pending", "Running"}
    for link in ("statusQueryGetUri", "sendEventPostUri", "terminatePostUri"):
        assert str(body[link]).startswith("http://127.0.0.1:7071/")
    assert headers["Location"] == body["statusQueryGetUri"]
    assert durable.started("ue-1") == 1


async def test_event_with_start_raises_the_body_on_the_active_instance(
    durable: DurableHost, starter: SingletonStarter
) -> None:
    code, _, started = await call(durable, starter, "ev-1", b'{"first": 1}', event="finish")
    assert code == 202
    assert started["id"] == "ev-1"
    finished = await durable.wait_for_status("ev-1", RuntimeStatus.COMPLETED)
    assert finished.output == {"first": 1}  # the body went to the event, not the input

    await call(durable, starter, "ev-2")
    code, _, body = await call(durable, starter, "ev-2", b'"approved"', event="finish")
    assert code == 200
    assert body["eventRaised"] == "finish"
    assert (await durable.wait_for_status("ev-2", RuntimeStatus.COMPLETED)).output == "approved"
    assert durable.started("ev-2") == 1


async def test_409_when_the_reuse_policy_refuses(
    durable: DurableHost, starter: SingletonStarter
) -> None:
    await call(durable, starter, "used")
    await durable.client().terminate("used", "test")
    await durable.wait_for_status("used", RuntimeStatus.TERMINATED)

    code, _, body = await call(durable, starter, "used", reuse="reject")

    assert code == 409
    assert body["type"] == "urn:durable-singleton:problem:reuse-rejected"
    assert body["runtimeStatus"] == "Terminated"
    assert durable.started("used") == 1


async def test_idempotency_key_replays_and_refuses_another_request(
    durable: DurableHost, starter: SingletonStarter
) -> None:
    first = await call(durable, starter, "ik", b"1", idempotency_key='"k"')
    again = await call(durable, starter, "ik", b"1", idempotency_key="k")
    other = await call(durable, starter, "ik", b"2", idempotency_key="k")

    assert first[0] == again[0] == 202
    assert again[2] == first[2]
    assert again[1]["Idempotent-Replayed"] == "true"
    assert other[0] == 422
    assert durable.started("ik") == 1


async def test_problem_bodies_of_the_new_answers_are_rfc_9457(
    durable: DurableHost, starter: SingletonStarter
) -> None:
    await call(durable, starter, "p", b"1", idempotency_key="p")
    response = await handle_start_request(
        post(WAIT_FOR_FINISH, "p", b"2", headers={"Idempotency-Key": "p"}),
        durable.client(),
        starter=lambda: starter,
    )
    problem_of(response)


async def test_idempotency_key_treats_orchestrator_names_as_the_host_does_ignoring_case(
    durable: DurableHost, starter: SingletonStarter
) -> None:
    headers = {"Idempotency-Key": "case"}
    first = await handle_start_request(
        post(WAIT_FOR_FINISH, "ik-case", b"1", headers=headers),
        durable.client(),
        starter=lambda: starter,
    )
    # The host runs the same orchestrator for either spelling: the same request, replayed.
    again = await handle_start_request(
        post(WAIT_FOR_FINISH.upper(), "ik-case", b"1", headers=headers),
        durable.client(),
        starter=lambda: starter,
    )

    assert first.status_code == again.status_code == 202
    assert again.headers["Idempotent-Replayed"] == "true"
    assert durable.started("ik-case") == 1
