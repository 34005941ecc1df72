"""``@singleton``'s binding of an invocation without ``Signature.bind`` (issue 18): the same
arguments, in the signature's order, and the same TypeError for a call that does not fit."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pytest

from singleton.functions._scope import Template
from singleton.functions.decorator import _Guard
from singleton.lease import Leases


def guard(function: Callable[..., Any]) -> _Guard:
    def no_leases() -> Leases:
        raise AssertionError("not used")

    return _Guard(
        function,
        scope=Template.parse(""),
        on_busy="fail",
        wait=0.0,
        name="binding",
        retry_after=1,
        leases=no_leases,
    )


def plain(req: object, msg: object, *, ctx: object = None) -> None: ...


def positional(req: object, msg: object) -> None: ...


def odd(req: object, /, *rest: object, **more: object) -> None: ...


CALLS: list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]] = [
    (plain, (), {"ctx": 3, "msg": 2, "req": 1}),  # the worker's way: all by keyword
    (plain, (1, 2), {}),  # ctx left to its default
    (plain, (1,), {"msg": 2, "ctx": 3}),
    (positional, (1, 2), {}),
    (positional, (), {"msg": 2, "req": 1}),
    (odd, (1, 2, 3), {"x": 4}),
]


@pytest.mark.parametrize(("function", "args", "kwargs"), CALLS)
def test_binding_is_what_signature_bind_gives(
    function: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    bound = inspect.signature(function).bind(*args, **kwargs)

    arguments, call_args, call_kwargs = guard(function)._bind(args, kwargs)

    assert list(arguments.items()) == list(bound.arguments.items())  # the order too
    assert inspect.signature(function).bind(*call_args, **call_kwargs).arguments == (
        bound.arguments
    )


BAD_CALLS: list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]] = [
    (plain, (1, 2, 3), {}),  # a keyword-only parameter passed by position
    (plain, (), {"req": 1, "msg": 2, "nope": 3}),  # an unknown keyword, same count
    (positional, (1,), {"req": 1}),  # twice
    (positional, (1,), {}),  # missing
    (odd, (), {"req": 1}),  # positional-only by keyword
]


@pytest.mark.parametrize(("function", "args", "kwargs"), BAD_CALLS)
def test_a_call_that_does_not_fit_is_a_type_error(
    function: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    with pytest.raises(TypeError):
        function(*args, **kwargs)  # the call itself does not fit
    try:
        reference = inspect.signature(function).bind(*args, **kwargs)
    except TypeError:
        with pytest.raises(TypeError):
            guard(function)._bind(args, kwargs)
    else:
        # CPython 3.13.0's Signature.bind binds a positional-only name given by keyword into
        # **kwargs and reports nothing missing: _bind gives what it gives (the body's own
        # call then raises the TypeError).
        assert guard(function)._bind(args, kwargs)[0] == reference.arguments


def http(route: dict[str, str], query: dict[str, str] | None = None, body: bytes = b"") -> Any:
    import azure.functions as func

    return func.HttpRequest(
        method="POST", url="http://localhost/api/x", route_params=route, params=query, body=body
    )


def scope_guard(text: str) -> _Guard:
    def body(req: object) -> None: ...

    g = guard(body)
    g._scope = Template.parse(text)
    return g


RESOLVED = [
    ("{customerId}", http({"customerId": "c1"})),
    ("reports/{region}/{customerId}.", http({"customerId": "c1", "region": "eu"})),
    ("{CustomerID}", http({"customerId": "c1"})),  # a case-insensitive match
    ("{customerId}", http({}, {"customerId": "from-query"})),
    ("{customerId}/{n}", http({"customerId": "c1"}, body=b'{"n": 5}')),
]


@pytest.mark.parametrize(("text", "req"), RESOLVED)
def test_an_http_scope_resolves_as_the_trigger_lookup_renders_it(text: str, req: Any) -> None:
    from singleton.functions._trigger import find_trigger, trigger_lookup

    g = scope_guard(text)
    trigger = find_trigger({"req": req})
    expected = Template.parse(text).render(trigger_lookup(trigger, lambda: None))

    assert g._resolve(trigger, {"req": req}) == expected


@pytest.mark.parametrize(
    "req", [http({"customerId": ""}), http({"other": "x"}), http({}, body=b"[1]")]
)
def test_an_http_scope_that_cannot_be_filled_is_invalid(req: Any) -> None:
    from singleton._errors import InvalidScope
    from singleton.functions._trigger import find_trigger

    with pytest.raises(InvalidScope):
        scope_guard("{customerId}")._resolve(find_trigger({"req": req}), {"req": req})
