"""Decorated functions index as the undecorated ones do, and the worker binds them the same way.

What azure-functions and the Python worker read from a function: its name and bindings
(``app.get_functions()``), its parameters (``inspect.signature``), its annotations
(``typing.get_type_hints``) and whether it is a coroutine function (``is_async``: run on the
loop, else in a thread). ``@singleton`` keeps the first three and makes every function async.
"""

from __future__ import annotations

import inspect
import json
import typing
from typing import Any

import pytest
from azure.functions.blob import InputStream

from tests.functions import indexed_app
from tests.functions.conftest import MakeLeases


def indexed(app: Any) -> dict[str, Any]:
    return {f.get_function_name(): f for f in app.get_functions()}


def test_decorated_functions_index_with_the_same_bindings_and_parameters() -> None:
    decorated = indexed(indexed_app.build(decorate=True))
    plain = indexed(indexed_app.build(decorate=False))
    assert set(decorated) == set(plain) == {"Report", "on_order", "on_upload", "tick", "start"}
    for name, function in decorated.items():
        twin = plain[name]
        bindings = [json.loads(b) for b in function.get_raw_bindings()]
        assert bindings == [json.loads(b) for b in twin.get_raw_bindings()], name
        user, twin_user = function.get_user_function(), twin.get_user_function()
        assert inspect.signature(user) == inspect.signature(twin_user), name
        assert typing.get_type_hints(user) == typing.get_type_hints(twin_user), name
        assert inspect.iscoroutinefunction(user), name  # the worker awaits it on its loop
    trigger = json.loads(decorated["on_upload"].get_raw_bindings()[0])
    assert trigger["path"] == "uploads/{customerId}/{name}"


@pytest.mark.redis
async def test_a_blob_scope_binds_the_declared_path_parameters(make_leases: MakeLeases) -> None:
    indexed_app.LEASES[:] = [make_leases(wait=0)]
    indexed_app.SEEN.clear()
    on_upload = indexed(indexed_app.app)["on_upload"].get_user_function()
    blob = InputStream(data=b"x", name="uploads/c-42/2024/report.csv")
    assert await on_upload(blob=blob) is None
    assert indexed_app.SEEN == [
        "function:tests.functions.indexed_app.build.<locals>.on_upload:c-42"
    ]
