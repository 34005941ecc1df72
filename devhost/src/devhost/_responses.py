"""Turn a function's return value into the HTTP response the host would send.

The conversion goes through azure-functions' own ``HttpResponseConverter`` (what the worker
uses), so content type defaults (``text/plain; charset=utf-8`` for text mimetypes) and
cookie handling match. A return value the worker cannot encode (a dict, say) fails the
invocation, which the host answers with 500.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from azure.functions import _abc as func_abc
from azure.functions.http import HttpResponseConverter
from multidict import CIMultiDict


class UnsupportedReturnValueError(TypeError):
    """The HTTP function returned something the worker cannot encode."""


def to_web_response(result: Any) -> web.Response:
    """The aiohttp response for an HTTP function's return value."""
    if result is None:
        # No $return value: the host answers 204 No Content.
        return web.Response(status=204)
    if isinstance(result, str):
        return web.Response(status=200, text=result, content_type="text/plain", charset="utf-8")
    if not isinstance(result, func_abc.HttpResponse):
        raise UnsupportedReturnValueError(
            "an HTTP function must return func.HttpResponse, str or None, "
            f"not {type(result).__name__}"
        )
    datum = HttpResponseConverter.encode(result, expected_type=None)
    value = datum.value
    headers: CIMultiDict[str] = CIMultiDict(
        (name, header.value) for name, header in value["headers"].items()
    )
    for cookie in value.get("cookies") or ():
        for morsel in cookie.values():
            headers.add("Set-Cookie", morsel.OutputString())
    body: bytes = value["body"].value
    return web.Response(status=int(value["status_code"].value), headers=headers, body=body)
