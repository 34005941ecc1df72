"""A small HTTP app exercising routing, binding and response conversion."""

from __future__ import annotations

import asyncio
import json
import os
import threading

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


def _echo(req: func.HttpRequest, **extra: object) -> func.HttpResponse:
    body = {
        "method": req.method,
        "url": req.url,
        "headers": dict(req.headers),
        "params": dict(req.params),
        "route_params": dict(req.route_params),
        "body": req.get_body().decode("utf-8", "replace"),
        **extra,
    }
    return func.HttpResponse(json.dumps(body), mimetype="application/json")


@app.route(route="echo/{id:int}", methods=["GET", "POST"])
def echo_int(req: func.HttpRequest) -> func.HttpResponse:
    return _echo(req, function="echo_int", thread=threading.current_thread().name)


@app.route(route="echo/{name}", methods=["GET"])
async def echo_name(req: func.HttpRequest) -> func.HttpResponse:
    await asyncio.sleep(0)
    return _echo(req, function="echo_name", thread=threading.current_thread().name)


@app.route(route="echo/special", methods=["GET"])
def echo_special(req: func.HttpRequest) -> func.HttpResponse:
    return _echo(req, function="echo_special")


@app.route(route="items/{category}/{page:int?}", methods=["GET"])
def items(req: func.HttpRequest) -> func.HttpResponse:
    return _echo(req, function="items")


@app.route(route="defaults/{lang=en}", methods=["GET"])
def defaults(req: func.HttpRequest) -> func.HttpResponse:
    return _echo(req, function="defaults")


@app.route(route="files/{*path}", methods=["GET"])
def files(req: func.HttpRequest) -> func.HttpResponse:
    return _echo(req, function="files")


@app.route(route="only-post", methods=["POST"])
def only_post(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("posted", status_code=201)


@app.route(route="only-post", methods=["DELETE"])
def only_delete(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("deleted", status_code=200)


@app.route(methods=["GET"])
def default_route(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("default route")


@app.function_name("renamed")
@app.route(methods=["GET"])
def renamed_python_name(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("renamed")


@app.route(route="any-method")
def any_method(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(req.method)


@app.route(route="response/custom", methods=["GET"])
def custom_response(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(
        "<b>hi</b>",
        status_code=418,
        headers={"X-Custom": "yes", "Set-Cookie": "a=1; Path=/"},
        mimetype="text/html",
        charset="latin-1",
    )


@app.route(route="response/bytes", methods=["GET"])
def bytes_response(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(b"\x00\x01\x02", mimetype="application/octet-stream")


@app.route(route="response/string", methods=["GET"])
def string_response(req: func.HttpRequest) -> str:
    return "just a string"


@app.route(route="response/dict", methods=["GET"])
def dict_response(req: func.HttpRequest) -> func.HttpResponse:
    # The seed's bug: a dict is not an HttpResponse; the worker fails the invocation.
    return {"status": 409}  # type: ignore[return-value]


@app.route(route="boom", methods=["GET"])
def boom(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("boom on purpose")


@app.route(route="async-boom", methods=["GET"])
async def async_boom(req: func.HttpRequest) -> func.HttpResponse:
    raise ValueError("async boom on purpose")


@app.route(route="context", methods=["GET"])
def with_context(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps({"function_name": context.function_name, "id": context.invocation_id})
    )


@app.route(route="settings", methods=["GET"])
def settings(req: func.HttpRequest) -> func.HttpResponse:
    names = req.params.get("names", "").split(",")
    return func.HttpResponse(json.dumps({name: os.environ.get(name) for name in names}))
