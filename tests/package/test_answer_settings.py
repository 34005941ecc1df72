"""The HTTP answers take their knobs from the settings, read once: the body limit and the
``Retry-After`` of the 503s, through the default starter, over the real Durable client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import azure.functions as func
import pytest

from singleton import close_default_starter
from singleton.functions import handle_start_request
from singleton.functions.admin import handle_leases_request
from singleton.functions.watchdog import handle_unwatch_request, handle_watched_request
from tests.redis_servers import RedisServer, free_port
from tests.singleton.durable_app import ECHO
from tests.singleton.harness import DurableHost, post, running_durable_host


@pytest.fixture
async def durable() -> AsyncIterator[DurableHost]:
    async with running_durable_host() as host:
        yield host


@pytest.fixture
async def app_settings(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[pytest.MonkeyPatch]:
    """App settings for a default starter built afresh for the test, closed after it."""
    await close_default_starter()
    yield monkeypatch
    await close_default_starter()


def unreachable_redis(settings: pytest.MonkeyPatch) -> None:
    settings.setenv("REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")  # nothing listens


async def test_the_503_retry_after_is_the_setting(
    durable: DurableHost, app_settings: pytest.MonkeyPatch
) -> None:
    unreachable_redis(app_settings)
    app_settings.setenv("SINGLETON_RETRY_AFTER", "7")

    response = await handle_start_request(post(ECHO, "retry-1"), durable.client())

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "7"
    assert durable.started("retry-1") == 0


async def test_the_admin_endpoints_503_retry_after_is_the_setting(
    app_settings: pytest.MonkeyPatch,
) -> None:
    unreachable_redis(app_settings)
    app_settings.setenv("SINGLETON_RETRY_AFTER", "9")
    request = func.HttpRequest(method="GET", url="http://localhost/api/singleton/leases", body=b"")

    response = await handle_leases_request(request)

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "9"


async def test_the_unwatch_endpoints_503_retry_after_is_the_setting(
    durable: DurableHost, app_settings: pytest.MonkeyPatch
) -> None:
    unreachable_redis(app_settings)
    app_settings.setenv("SINGLETON_RETRY_AFTER", "11")
    request = func.HttpRequest(
        method="DELETE",
        url="http://localhost/api/singleton/watchdog/eternal",
        route_params={"instanceId": "eternal"},
        body=b"",
    )

    response = await handle_unwatch_request(request, durable.client())

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "11"


async def test_the_watchdog_listings_503_retry_after_is_the_setting(
    durable: DurableHost, app_settings: pytest.MonkeyPatch
) -> None:
    unreachable_redis(app_settings)
    app_settings.setenv("SINGLETON_RETRY_AFTER", "13")
    request = func.HttpRequest(
        method="GET", url="http://localhost/api/singleton/watchdog", body=b""
    )

    response = await handle_watched_request(request, durable.client())

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "13"
    assert response.mimetype == "application/problem+json"


@pytest.mark.redis
async def test_the_body_limit_is_read_once_with_the_other_settings(
    durable: DurableHost, app_settings: pytest.MonkeyPatch, redis_server: RedisServer
) -> None:
    app_settings.setenv("REDIS_URL", redis_server.url)
    app_settings.setenv("SINGLETON_MAX_BODY_BYTES", "10")
    big = b'{"n": 123456}'  # 13 bytes

    first = await handle_start_request(post(ECHO, "body-1", big), durable.client())
    app_settings.setenv("SINGLETON_MAX_BODY_BYTES", "1000")  # not read again per request
    second = await handle_start_request(post(ECHO, "body-2", big), durable.client())

    assert (first.status_code, second.status_code) == (413, 413)
    assert durable.started("body-1") == durable.started("body-2") == 0
    await close_default_starter()  # the settings are read again for a new starter
    third = await handle_start_request(post(ECHO, "body-3", big), durable.client())
    assert third.status_code == 202


async def test_a_malformed_knob_is_a_500_naming_it_and_nothing_starts(
    durable: DurableHost, app_settings: pytest.MonkeyPatch, redis_server: RedisServer
) -> None:
    app_settings.setenv("REDIS_URL", redis_server.url)
    app_settings.setenv("SINGLETON_TERMINATE_WAIT", "forever")

    response = await handle_start_request(post(ECHO, "bad-1"), durable.client())

    assert response.status_code == 500
    assert "SINGLETON_TERMINATE_WAIT" in response.get_body().decode()
    assert durable.started("bad-1") == 0
