"""Route templates and the route table, against the host's documented rules."""

from __future__ import annotations

import pytest

from devhost import RouteTemplateError
from devhost._routes import RouteTable, RouteTemplate, split_path


def match(template: str, path: str) -> dict[str, str] | None:
    return RouteTemplate.parse(template).match(split_path(path))


@pytest.mark.parametrize(
    ("template", "path", "expected"),
    [
        (
            "api/orchestrators/{functionName}/{instanceId}",
            "/api/orchestrators/f/i-1",
            {"functionName": "f", "instanceId": "i-1"},
        ),
        ("api/Products", "/API/products", {}),  # literals are case-insensitive
        ("api/products", "/api/products/", {}),  # a trailing slash is ignored
        ("api/items/{category}/{page:int?}", "/api/items/books", {"category": "books"}),
        (
            "api/items/{category}/{page:int?}",
            "/api/items/books/3",
            {"category": "books", "page": "3"},
        ),
        ("api/defaults/{lang=en}", "/api/defaults", {"lang": "en"}),
        ("api/defaults/{lang=en}", "/api/defaults/fr", {"lang": "fr"}),
        ("api/files/{*path}", "/api/files/a/b/c.txt", {"path": "a/b/c.txt"}),
        ("api/files/{*path}", "/api/files", {}),
        ("api/files/{**path}", "/api/files/x/y", {"path": "x/y"}),
        ("api/e/{name}", "/api/e/hello%20world", {"name": "hello world"}),
        ("api/n/{id:int:min(10)}", "/api/n/10", {"id": "10"}),
    ],
)
def test_templates_match_like_the_host(template: str, path: str, expected: dict[str, str]) -> None:
    assert match(template, path) == expected


@pytest.mark.parametrize(
    ("template", "path"),
    [
        ("api/orchestrators/{functionName}/{instanceId}", "/api/orchestrators/f"),
        ("api/orchestrators/{functionName}/{instanceId}", "/api/orchestrators/f/i/extra"),
        ("api/n/{id:int}", "/api/n/abc"),
        ("api/n/{id:int}", "/api/n/99999999999"),  # beyond Int32
        ("api/n/{id:int:min(10)}", "/api/n/9"),
        ("api/n/{id:range(1,5)}", "/api/n/6"),
        ("api/n/{name:alpha}", "/api/n/abc1"),
        ("api/n/{name:length(3)}", "/api/n/abcd"),
        ("api/n/{flag:bool}", "/api/n/yes"),
        ("api/n/{id:guid}", "/api/n/not-a-guid"),
        ("api/items/{category}/{page:int?}", "/api/items/books/x"),
        ("api/a/{x}", "/api/b/1"),
    ],
)
def test_templates_reject_what_the_host_rejects(template: str, path: str) -> None:
    assert match(template, path) is None


def test_regex_constraint_is_unanchored_and_case_insensitive() -> None:
    assert match(r"api/r/{code:regex(\d)}", "/api/r/a1b") == {"code": "a1b"}
    assert match(r"api/r/{code:regex(^[a-z]{{2}}$)}", "/api/r/AB") == {"code": "AB"}
    assert match(r"api/r/{code:regex(^[a-z]{{2}}$)}", "/api/r/abc") is None


@pytest.mark.parametrize(
    "template",
    [
        "api/{a}.{b}",  # complex segments: not supported, refused loudly
        "api/{*rest}/more",
        "api/{x?}/more",
        "api/{x}/{X}",
        "api/{x:nosuchconstraint}",
        "api//double",
        "api/{1bad}",
    ],
)
def test_invalid_or_unsupported_templates_fail_at_start(template: str) -> None:
    with pytest.raises(RouteTemplateError):
        RouteTemplate.parse(template)


def table(*functions: tuple[str, str, list[str] | None]) -> RouteTable:
    return RouteTable.build(prefix="api", functions=functions)


def test_literal_beats_parameter_whatever_the_registration_order() -> None:
    routes = table(("by_name", "echo/{name}", ["GET"]), ("special", "echo/special", ["GET"]))
    found = routes.match("GET", "/api/echo/special")
    assert found is not None
    assert found.route.function_name == "special"


def test_more_constraints_beat_fewer() -> None:
    routes = table(("plain", "n/{x}", None), ("typed", "n/{x:int}", None))
    by_int, by_text = routes.match("GET", "/api/n/5"), routes.match("GET", "/api/n/five")
    assert by_int is not None
    assert by_text is not None
    assert (by_int.route.function_name, by_text.route.function_name) == ("typed", "plain")


def test_wrong_method_falls_through_to_the_next_route_then_404() -> None:
    routes = table(("getter", "items/{id}", ["GET"]), ("deleter", "items/{id}", ["DELETE"]))
    deleted = routes.match("DELETE", "/api/items/1")
    assert deleted is not None
    assert deleted.route.function_name == "deleter"
    assert routes.match("PUT", "/api/items/1") is None


def test_get_implies_head_and_head_on_post_only_route_is_405_sentinel() -> None:
    routes = table(("getter", "g", ["GET"]), ("poster", "p", ["POST", "PUT"]))
    head_get = routes.match("HEAD", "/api/g")
    head_post = routes.match("HEAD", "/api/p")
    assert head_get is not None
    assert head_get.route.head_not_allowed == ()
    assert head_post is not None
    assert head_post.route.head_not_allowed == ("POST", "PUT")


def test_empty_route_prefix() -> None:
    routes = RouteTable.build(prefix="", functions=[("f", "hello", None)])
    assert routes.match("GET", "/hello") is not None
    assert routes.match("GET", "/api/hello") is None
