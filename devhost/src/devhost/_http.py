"""The HTTP front door: route a request to its function, bind, invoke, convert the result."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from devhost._routes import RouteTable

logger = logging.getLogger(__name__)

# (function name, route values, request) -> the function's return value
FunctionCaller = Callable[[str, Mapping[str, str], web.Request], Awaitable[web.StreamResponse]]


class HttpFrontDoor:
    """One aiohttp handler for every HTTP trigger, faithful to the host's routing outcomes."""

    def __init__(self, *, routes: RouteTable, call: FunctionCaller) -> None:
        self._routes = routes
        self._call = call

    async def handle(self, request: web.Request) -> web.StreamResponse:
        match = self._routes.match(request.method, request.raw_path)
        if match is None:
            return web.Response(status=404)
        route = match.route
        if route.head_not_allowed:
            return web.Response(status=405, headers={"Allow": ", ".join(route.head_not_allowed)})
        return await self._call(route.function_name, match.values, request)


def install(web_app: web.Application, handler: Callable[[web.Request], Awaitable[Any]]) -> None:
    """Route every path the backend did not claim to ``handler`` (added last, so it loses ties)."""
    web_app.router.add_route("*", "/{tail:.*}", handler)
