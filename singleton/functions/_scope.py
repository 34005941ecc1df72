"""Scopes of ``@singleton``: which invocations of one function exclude each other.

A scope is a binding expression, as in WebJobs ``[Singleton("{CustomerId}")]``: literal text
with ``{name}`` placeholders, each filled from the trigger's data (see :mod:`._trigger`), e.g.
``"{customerId}"`` or ``"{region}/{customerId}"``; ``""`` is one scope for the whole function.
A callable is the Pythonic alternative: it gets those of the function's arguments it names and
returns the scope. Both are checked when the function is decorated (fail fast at import), not
on its first invocation; a placeholder that is a near miss of a name the trigger declares
(:func:`near_miss`) is refused when the app is indexed (see :mod:`._trigger`).
"""

from __future__ import annotations

import inspect
import json
import logging
import math
import re
from collections.abc import Callable, Iterable, Mapping
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


#: At most this many edits make a near miss (a typo of a declared name, not another name).
NEAR_MISS_EDITS = 2


def near_miss(name: str, declared: Iterable[str]) -> str | None:
    """The declared name ``name`` is most likely a typo of, or None.

    A near miss is at most :data:`NEAR_MISS_EDITS` edits away (insertions, deletions,
    substitutions, adjacent transpositions; case is ignored, as the trigger data's lookup
    ignores it) and fewer edits than the shorter name has characters (so ``{v}`` is not a
    typo of ``{id}``). A name equal to a declared one ignoring case is no miss. The closest
    wins; on a tie, the first declared."""
    folded = name.casefold()
    best: tuple[int, str] | None = None
    for candidate in declared:
        other = candidate.casefold()
        if other == folded:
            return None
        limit = min(NEAR_MISS_EDITS, min(len(folded), len(other)) - 1)
        distance = edit_distance(folded, other, limit)
        if distance <= limit and (best is None or distance < best[0]):
            best = (distance, candidate)
    return None if best is None else best[1]


def edit_distance(a: str, b: str, limit: int) -> int:
    """The optimal-string-alignment distance of ``a`` and ``b`` (a transposition is one
    edit), or ``limit + 1`` as soon as it must exceed ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    before: list[int] | None = None
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            value = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if before is not None and i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                value = min(value, before[j - 2] + 1)
            current[j] = value
        if min(current) > limit:
            return limit + 1
        before, previous = previous, current
    return previous[-1]
