"""Scopes of ``@singleton``: which invocations of one function exclude each other.

A scope is a binding expression, as in WebJobs ``[Singleton("{CustomerId}")]``: literal text
with ``{name}`` placeholders, each filled from the trigger's data (see :mod:`._trigger`), e.g.
``"{customerId}"`` or ``"{region}/{customerId}"``; ``""`` is one scope for the whole function.
A callable is the Pythonic alternative: it gets those of the function's arguments it names and
returns the scope. Both are checked when the function is decorated (fail fast at import), not
on its first invocation.
"""

from __future__ import annotations

import inspect
import json
import logging
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from singleton._errors import InvalidScope

logger = logging.getLogger(__name__)

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")

#: Looks up one placeholder in the trigger's data; raises InvalidScope if it is not there.
Lookup = Callable[[str], object]


@dataclass(frozen=True)
class Template:
    """A parsed binding expression: ``literals[0] {names[0]} literals[1] ... literals[-1]``."""

    text: str
    literals: tuple[str, ...]
    names: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> Template:
        """Parse ``text``; a ``ValueError`` for a stray brace or an empty placeholder."""
        literals: list[str] = []
        names: list[str] = []
        position = 0
        for match in _PLACEHOLDER.finditer(text):
            name = match.group(1).strip()
            if not name:
                raise ValueError(f"empty placeholder {{}} in {text!r}")
            literals.append(text[position : match.start()])
            names.append(name)
            position = match.end()
        literals.append(text[position:])
        if any("{" in literal or "}" in literal for literal in literals):
            raise ValueError(f"unbalanced braces in {text!r}: placeholders are {{name}}")
        return cls(text=text, literals=tuple(literals), names=tuple(names))

    def render(self, lookup: Lookup) -> str:
        """The text with every placeholder filled by ``lookup``; each value must be non-empty."""
        parts = [self.literals[0]]
        for name, literal in zip(self.names, self.literals[1:], strict=True):
            value = scope_text(lookup(name), f"{{{name}}}")
            if not value:
                raise InvalidScope(f"{{{name}}} is empty in the trigger's data")
            parts += (value, literal)
        return "".join(parts)

    def matcher(self) -> re.Pattern[str]:
        """A regex matching texts this template renders to; group ``i`` is ``names[i - 1]``
        (as blob trigger paths bind their parameters: ``"in/{name}"`` matches ``"in/a/b.txt"``)."""
        pattern = re.escape(self.literals[0])
        for literal in self.literals[1:]:
            pattern += "(.+?)" + re.escape(literal)
        return re.compile(pattern)


def scope_text(value: object, what: str) -> str:
    """``value`` as scope text: a str as is, a number or bool as JSON writes it."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)):
        return json.dumps(value)
    raise InvalidScope(f"{what} is {value!r}: a scope must be text or a number")


class CallableScope:
    """A scope computed by ``function`` from the decorated function's arguments it names."""

    def __init__(self, function: Callable[..., object], parameters: Mapping[str, Any]) -> None:
        if inspect.iscoroutinefunction(function):
            raise TypeError(
                f"a scope callable must be a plain function, not the coroutine function "
                f"{function!r} (was @singleton written without parentheses? use @singleton())"
            )
        signature = inspect.signature(function)
        self._takes_all = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
        self._names = tuple(
            name
            for name, p in signature.parameters.items()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        )
        required = [
            name
            for name, p in signature.parameters.items()
            if p.default is p.empty and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
        ]
        unknown = [name for name in required if name not in parameters]
        if unknown:
            raise TypeError(
                f"the scope callable {function!r} needs {unknown}, which the decorated function "
                f"has no parameters for (it has {list(parameters)})"
            )
        self._function = function

    def resolve(self, arguments: Mapping[str, Any]) -> str:
        """The scope; :class:`InvalidScope` when the callable raises (its error is the cause,
        and is logged: only its type is in the message, which an HTTP answer shows)."""
        if self._takes_all:
            chosen = dict(arguments)
        else:
            chosen = {name: arguments[name] for name in self._names if name in arguments}
        try:
            value = self._function(**chosen)
        except InvalidScope:
            raise
        except Exception as exc:
            logger.warning("the scope callable %r raised %r", self._function, exc)
            raise InvalidScope(
                f"the scope callable {_name_of(self._function)} raised {type(exc).__name__}: "
                "the trigger's data does not give a scope"
            ) from exc
        return scope_text(value, f"the scope returned by {_name_of(self._function)}")


def _name_of(function: Callable[..., object]) -> str:
    return str(getattr(function, "__qualname__", None) or repr(function))
