"""HTTP triggers served by an in-process devhost, over real HTTP."""

from __future__ import annotations

import asyncio
import io
import logging
import os
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from devhost import RunningDevHost, run_devhost
from tests.devhost.conftest import app_file


@pytest.fixture(scope="module")
async def host() -> AsyncIterator[RunningDevHost]:
    os.environ["DEVHOST_TEST_ALREADY_SET"] = "from-environment"
    try:
        async with run_devhost(
            app_path=app_file("http_basic"), port=0, out=io.StringIO()
        ) as running:
            yield running
    finally:
        del os.environ["DEVHOST_TEST_ALREADY_SET"]


async def get_json(http: aiohttp.ClientSession, method: str, url: str, **kwargs: Any) -> Any:
    async with http.request(method, url, **kwargs) as response:
        assert response.status == 200, await response.text()
        return await response.json(content_type=None)


async def status_of(http: aiohttp.ClientSession, method: str, url: str) -> int:
    async with http.request(method, url) as response:
        return response.status


async def test_request_fields_are_bound(host: RunningDevHost, http: aiohttp.ClientSession) -> None:
    url = host.url("echo/42") + "?a=1&a=2&b=x"
    body = await get_json(http, "POST", url, data=b"payload", headers={"X-Thing": "T"})
    assert body["function"] == "echo_int"
    assert body["method"] == "POST"
    assert body["url"] == url
    assert body["route_params"] == {"id": "42"}
    assert body["params"] == {"a": "1,2", "b": "x"}  # repeated keys comma-joined, as the host does
    assert body["headers"]["x-thing"] == "T"  # header names lower-cased
    assert body["body"] == "payload"


async def test_literal_route_wins_over_parameter(
    host: RunningDevHost, http: aiohttp.ClientSession
) -> None:
    special = await get_json(http, "GET", host.url("echo/special"))
    named = await get_json(http, "GET", host.url("echo/alice"))
    number = await get_json(http, "GET", host.url("echo/7"))
    assert (special["function"], named["function"], number["function"]) == (
        "echo_special",
        "echo_name",
        "echo_int",
    )
    assert named["route_params"] == {"name": "alice"}


async def test_optional_default_and_catch_all_parameters(
    host: RunningDevHost, http: aiohttp.ClientSession
) -> None:
    without_page = await get_json(http, "GET", host.url("items/books"))
    with_page = await get_json(http, "GET", host.url("items/books/3"))
    default = await get_json(http, "GET", host.url("defaults"))
    rest = await get_json(http, "GET", host.url("files/a/b/c.txt"))
    assert without_page["route_params"] == {"category": "books"}
    assert with_page["route_params"] == {"category": "books", "page": "3"}
    assert default["route_params"] == {"lang": "en"}
    assert rest["route_params"] == {"path": "a/b/c.txt"}
    assert await status_of(http, "GET", host.url("items/books/three")) == 404


async def test_default_route_is_the_function_name(
    host: RunningDevHost, http: aiohttp.ClientSession
) -> None:
    async with http.get(host.url("default_route")) as response:
        assert await response.text() == "default route"
    async with http.get(host.url("renamed")) as response:
        assert await response.text() == "renamed"
    assert await status_of(http, "GET", host.url("renamed_python_name")) == 404


async def test_methods_unknown_routes_and_head(
    host: RunningDevHost, http: aiohttp.ClientSession
) -> None:
    assert await status_of(http, "POST", host.url("only-post")) == 201
    assert await status_of(http, "DELETE", host.url("only-post")) == 200
    # The host treats the method as a route constraint: no match is 404, not 405.
    assert await status_of(http, "GET", host.url("only-post")) == 404
    assert await status_of(http, "GET", host.url("no/such/route")) == 404
    assert await status_of(http, "GET", f"{host.base_url}/echo/1") == 404  # prefix required
    # ...except HEAD on a route accepting neither GET nor HEAD.
    async with http.head(host.url("only-post")) as response:
        assert response.status == 405
        assert response.headers["Allow"] == "POST, DELETE" or response.headers["Allow"] in {
            "POST",
            "DELETE",
        }
    assert await status_of(http, "HEAD", host.url("echo/special")) == 200  # GET implies HEAD
    for method in ("GET", "PUT", "PATCH", "OPTIONS"):
        async with http.request(method, host.url("any-method")) as response:
            assert await response.text() == method


async def test_response_conversion(host: RunningDevHost, http: aiohttp.ClientSession) -> None:
    async with http.get(host.url("response/custom")) as response:
        assert response.status == 418
        assert response.headers["X-Custom"] == "yes"
        assert response.headers["Content-Type"] == "text/html; charset=latin-1"
        assert response.headers["Set-Cookie"] == "a=1; Path=/"
        assert await response.read() == b"<b>hi</b>"
    async with http.get(host.url("response/bytes")) as response:
        assert response.headers["Content-Type"] == "application/octet-stream"
        assert await response.read() == b"\x00\x01\x02"
    async with http.get(host.url("response/string")) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
        assert await response.text() == "just a string"


async def test_unhandled_exception_is_500_with_logged_traceback(
    host: RunningDevHost, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="devhost"):
        sync_status = await status_of(http, "GET", host.url("boom"))
        async_status = await status_of(http, "GET", host.url("async-boom"))
        dict_status = await status_of(http, "GET", host.url("response/dict"))
    assert (sync_status, async_status, dict_status) == (500, 500, 500)
    tracebacks = [r.exc_text or "" for r in caplog.records]
    assert any("RuntimeError: boom on purpose" in text for text in tracebacks)
    assert any("ValueError: async boom on purpose" in text for text in tracebacks)
    assert any("must return func.HttpResponse" in text for text in tracebacks)


async def test_sync_functions_run_in_threads_async_on_the_loop(
    host: RunningDevHost, http: aiohttp.ClientSession
) -> None:
    sync_body, async_body = await asyncio.gather(
        get_json(http, "GET", host.url("echo/1")), get_json(http, "GET", host.url("echo/x"))
    )
    assert sync_body["thread"].startswith("devhost")
    assert async_body["thread"] == "MainThread"


async def test_context_parameter_is_bound(
    host: RunningDevHost, http: aiohttp.ClientSession
) -> None:
    first = await get_json(http, "GET", host.url("context"))
    second = await get_json(http, "GET", host.url("context"))
    assert first["function_name"] == "with_context"
    assert first["id"] != second["id"]


async def test_local_settings_loaded_without_overriding(
    host: RunningDevHost, http: aiohttp.ClientSession
) -> None:
    names = "DEVHOST_TEST_FROM_SETTINGS,DEVHOST_TEST_ALREADY_SET,FUNCTIONS_WORKER_RUNTIME"
    values = await get_json(http, "GET", host.url("settings") + f"?names={names}")
    assert values == {
        "DEVHOST_TEST_FROM_SETTINGS": "from-local-settings",
        "DEVHOST_TEST_ALREADY_SET": "from-environment",
        "FUNCTIONS_WORKER_RUNTIME": "python",
    }
    assert "DEVHOST_TEST_ALREADY_SET" not in host.applied_settings


async def test_many_concurrent_requests_each_get_their_own_answer(
    host: RunningDevHost, http: aiohttp.ClientSession
) -> None:
    bodies = await asyncio.gather(
        *(get_json(http, "POST", host.url(f"echo/{n}"), data=str(n).encode()) for n in range(50))
    )
    assert [b["route_params"]["id"] for b in bodies] == [str(n) for n in range(50)]
    assert [b["body"] for b in bodies] == [str(n) for n in range(50)]


def test_banner_lists_functions_like_core_tools(host: RunningDevHost) -> None:
    banner = host.banner
    assert "Functions:\n\n\techo_int: [GET,POST] " + host.url("echo/{id:int}") in banner
    assert f"\tonly_post: [POST] {host.url('only-post')}" in banner
    assert "EMBEDDED REDIS" in banner
    assert "not enforced locally" in banner
