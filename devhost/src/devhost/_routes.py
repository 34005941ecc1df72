"""Route templates and the route table, with the Functions host's matching rules.

The host (``WebJobsRouteBuilder`` over ASP.NET Core routing) matches ``<routePrefix>/<route>``:

- literal segments compare case-insensitively; ``{name}`` takes one non-empty segment;
- ``{name?}`` and ``{name=default}`` may be left off, but only at the end of the path;
- ``{*rest}`` / ``{**rest}`` (last segment only) takes the rest of the path, slashes included;
- inline constraints ``{id:int}``, ``{id:int:min(1)}`` must all accept the value;
- the HTTP method is one more route constraint: a request whose method no function accepts
  falls through to the next route and ends as **404**, not 405. The one exception (newer
  hosts) is HEAD on a route that accepts neither GET nor HEAD: 405 with an ``Allow`` header.
  A function accepting GET also accepts HEAD.
- routes are tried in precedence order: per segment, literal before parameter, literals in
  case-insensitive ordinal order, more constraints before fewer; longer before shorter.

Complex segments (``{name}.{ext}``) and ``{{`` escapes are rejected with ``RouteTemplateError``.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import unquote

from devhost._constraints import RouteConstraint, parse_constraint
from devhost._errors import RouteTemplateError

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Literal:
    """A literal path segment."""

    text: str


@dataclass(frozen=True)
class Parameter:
    """A ``{name...}`` path segment."""

    name: str
    constraints: tuple[RouteConstraint, ...] = ()
    optional: bool = False
    default: str | None = None
    catch_all: bool = False

    def accepts(self, value: str) -> bool:
        return all(check(value) for check in self.constraints)


Segment = Literal | Parameter


def _parameter_body(piece: str) -> str | None:
    """The inside of a whole-segment ``{...}`` (``{{``/``}}`` unescaped), else None."""
    if not (piece.startswith("{") and piece.endswith("}")):
        return None
    inner = piece[1:-1]
    if "{" in inner.replace("{{", "") or "}" in inner.replace("}}", ""):
        return None
    return inner.replace("{{", "{").replace("}}", "}")


def _split_constraints(text: str) -> list[str]:
    """Split ``int:range(1,9):regex(a:b)`` on colons outside parentheses."""
    parts: list[str] = []
    depth = 0
    current = ""
    for char in text:
        if char == ":" and depth == 0:
            parts.append(current)
            current = ""
            continue
        depth += (char == "(") - (char == ")")
        current += char
    parts.append(current)
    return parts


def _parse_parameter(body: str, template: str, is_last: bool) -> Parameter:
    catch_all = body.startswith("*")
    body = body.lstrip("*")
    default: str | None = None
    optional = False
    if "=" in body:
        body, default = body.split("=", 1)
    elif body.endswith("?"):
        body, optional = body[:-1], True
    name, *constraint_texts = _split_constraints(body)
    if _NAME.fullmatch(name) is None:
        raise RouteTemplateError(f"route {template!r}: invalid parameter name {name!r}")
    if catch_all and not is_last:
        raise RouteTemplateError(
            f"route {template!r}: a catch-all parameter must be the last segment"
        )
    if catch_all and optional:
        raise RouteTemplateError(f"route {template!r}: a catch-all parameter cannot be optional")
    constraints = tuple(parse_constraint(text) for text in constraint_texts if text)
    return Parameter(name, constraints, optional, default, catch_all)


@dataclass(frozen=True)
class RouteTemplate:
    """A parsed route template such as ``api/orchestrators/{functionName}/{instanceId}``."""

    text: str
    segments: tuple[Segment, ...]

    @classmethod
    def parse(cls, text: str) -> RouteTemplate:
        stripped = text.removeprefix("~").removeprefix("/")
        pieces = stripped.split("/") if stripped else []
        segments: list[Segment] = []
        names: set[str] = set()
        for index, piece in enumerate(pieces):
            if piece == "":
                raise RouteTemplateError(f"route {text!r}: empty segment")
            body = _parameter_body(piece)
            if body is None:
                if "{" in piece or "}" in piece:
                    raise RouteTemplateError(
                        f"route {text!r}: segment {piece!r} mixes literals and parameters or "
                        "escapes braces; devhost supports one parameter per segment"
                    )
                segments.append(Literal(piece))
                continue
            parameter = _parse_parameter(body, text, index == len(pieces) - 1)
            if parameter.name.lower() in names:
                raise RouteTemplateError(f"route {text!r}: parameter {parameter.name!r} repeated")
            names.add(parameter.name.lower())
            segments.append(parameter)
        for earlier, later in itertools.pairwise(segments):
            if isinstance(earlier, Parameter) and earlier.optional and not _omittable(later):
                raise RouteTemplateError(
                    f"route {text!r}: optional parameter {earlier.name!r} must be at the end"
                )
        return cls(text=text, segments=tuple(segments))

    def match(self, path_segments: Sequence[str]) -> dict[str, str] | None:
        """Route values when the (decoded) path segments match, else None."""
        values: dict[str, str] = {}
        for index, segment in enumerate(self.segments):
            if isinstance(segment, Parameter) and segment.catch_all:
                rest = "/".join(path_segments[index:])
                value = rest or segment.default
                if value is not None:
                    if not segment.accepts(value):
                        return None
                    values[segment.name] = value
                return values
            if index >= len(path_segments):
                if not _omittable(segment):
                    return None
                assert isinstance(segment, Parameter)
                if segment.default is not None:
                    values[segment.name] = segment.default
                continue
            part = path_segments[index]
            if isinstance(segment, Literal):
                if part.lower() != segment.text.lower():
                    return None
            elif part == "" or not segment.accepts(part):
                return None
            else:
                values[segment.name] = part
        if len(path_segments) > len(self.segments):
            return None
        return values

    def precedence_key(self) -> tuple[tuple[int, int, str], ...]:
        """Sort key reproducing the host's route order (smaller is tried first)."""
        key = [
            (0, 0, segment.text.upper())
            if isinstance(segment, Literal)
            else (1, -len(segment.constraints), "")
            for segment in self.segments
        ]
        # The end of a template sorts after any segment: longer templates win.
        return (*key, (2, 0, ""))


def _omittable(segment: Segment) -> bool:
    return isinstance(segment, Parameter) and (
        segment.optional or segment.default is not None or segment.catch_all
    )


def split_path(raw_path: str) -> list[str]:
    """Decoded segments of a raw (still percent-encoded) request path."""
    path = raw_path.split("?", 1)[0].strip("/")
    if not path:
        return []
    return [unquote(part) for part in path.split("/")]


@dataclass(frozen=True)
class Route:
    """One entry of the route table: a template, its methods and what it leads to.

    ``methods`` is None when every method is accepted. ``head_not_allowed`` marks the host's
    HEAD shadow route, which answers 405 instead of invoking ``function_name``.
    """

    template: RouteTemplate
    methods: frozenset[str] | None
    function_name: str
    head_not_allowed: tuple[str, ...] = ()

    def accepts_method(self, method: str) -> bool:
        return self.methods is None or method.upper() in self.methods


@dataclass(frozen=True)
class RouteMatch:
    """A matched route and its route values."""

    route: Route
    values: Mapping[str, str] = field(default_factory=dict)


@dataclass
class RouteTable:
    """All HTTP routes of the app, in the host's precedence order."""

    routes: list[Route] = field(default_factory=list)

    @classmethod
    def build(
        cls, *, prefix: str, functions: Iterable[tuple[str, str, Sequence[str] | None]]
    ) -> RouteTable:
        """Build from ``(function name, route, methods or None)`` triples."""
        routes: list[Route] = []
        for function_name, route, methods in functions:
            text = f"{prefix}/{route}" if prefix else route
            template = RouteTemplate.parse(text)
            upper = None if methods is None else frozenset(m.upper() for m in methods)
            if upper is not None and "GET" in upper:
                upper = upper | {"HEAD"}
            routes.append(Route(template, upper, function_name))
            if upper is not None and not upper & {"GET", "HEAD"}:
                allowed = tuple(m.upper() for m in methods or ())
                routes.append(Route(template, frozenset({"HEAD"}), function_name, allowed))
        routes.sort(key=lambda route: route.template.precedence_key())
        return cls(routes=routes)

    def match(self, method: str, raw_path: str) -> RouteMatch | None:
        segments = split_path(raw_path)
        for route in self.routes:
            if not route.accepts_method(method):
                continue
            values = route.template.match(segments)
            if values is not None:
                return RouteMatch(route, values)
        return None
