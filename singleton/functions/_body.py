"""The start request's body: strict JSON within limits, or a clear refusal.

Python's ``json.loads`` is lenient where the rest of the path is not, and fails in ways that
are not a bad-request answer:

* it accepts ``NaN``, ``Infinity`` and ``-Infinity`` (not JSON: the host cannot read them) and
  turns ``1e999`` into ``inf``, which ``json.dumps`` writes back as ``Infinity``;
* it raises ``RecursionError`` for deep nesting (``[`` x 100000) and ``ValueError`` for an
  integer past CPython's digit limit (a 5,000-digit number);
* given bytes it guesses UTF-16/32; an HTTP JSON body is UTF-8 (RFC 8259 section 8.1).

:func:`parse_body` refuses all of those with :class:`InvalidBodyError` (400) and bodies over
the configured size with :class:`BodyTooLargeError` (413), before anything is started.

Every step is linear in the body's length, so no body of the allowed size can hold the event
loop (a regex that backtracks over string escapes took seconds for 32 KB of ``\\"``: a lease
that is not renewed meanwhile expires). ``bench/`` measures it (``./dev bench body``).
"""

from __future__ import annotations

import contextlib
import gc
import json
import math
import threading
from collections.abc import Iterator, Mapping
from itertools import accumulate
from typing import Any

from singleton._environ import parse_count

MAX_BODY_BYTES_SETTING = "SINGLETON_MAX_BODY_BYTES"
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
#: Json.NET's default MaxDepth: .NET readers of the input (the host's tools, a C# client)
#: stop there, and no reasonable orchestration input nests deeper.
MAX_DEPTH = 64
#: CPython's default limit on int/str conversion: the worker that runs the orchestrator
#: parses the input again and would fail past it.
MAX_INTEGER_DIGITS = 4300
#: Opening brackets as the signed byte +1, closing ones as -1 (see :func:`_check_depth`).
_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")
#: The bytes the depth count can skip: all but quotes and brackets.
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'"[]{}')


class InvalidBodyError(ValueError):
    """The request body is neither empty nor strict JSON within the limits (HTTP 400)."""


class BodyTooLargeError(InvalidBodyError):
    """The request body is longer than ``SINGLETON_MAX_BODY_BYTES`` (HTTP 413)."""


def max_body_bytes(environ: Mapping[str, str]) -> int:
    """``SINGLETON_MAX_BODY_BYTES`` (default 1 MiB); ConfigurationError when malformed."""
    return parse_count(environ, MAX_BODY_BYTES_SETTING, DEFAULT_MAX_BODY_BYTES, minimum=1)


def parse_body(raw: bytes, *, max_bytes: int) -> Any:
    """The JSON value ``raw`` holds, or ``None`` for an empty (or all-whitespace) body."""
    if len(raw) > max_bytes:
        raise BodyTooLargeError(
            f"the request body is {len(raw)} bytes, more than the {max_bytes} allowed "
            f"({MAX_BODY_BYTES_SETTING})"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidBodyError(
            f"the request body is not JSON: not UTF-8 ({exc.reason} at byte {exc.start})"
        ) from None
    if not text.strip():
        return None
    _check_depth(raw)
    try:
        with _no_cyclic_collection():
            value = json.loads(
                text,
                parse_constant=_refuse_constant,
                parse_float=_finite_float,
                parse_int=_bounded_int,
            )
    except RecursionError:
        raise InvalidBodyError(
            f"the request body nests deeper than {MAX_DEPTH} arrays or objects"
        ) from None
    except json.JSONDecodeError as exc:
        raise InvalidBodyError(f"the request body is not valid JSON: {exc}") from None
    return value


#: Parses running now, and whether the cyclic collector was on before the first of them.
_parsing = 0
_collector_was_on = False
_parsing_lock = threading.Lock()


@contextlib.contextmanager
def _no_cyclic_collection() -> Iterator[None]:
    """The cyclic garbage collector off while bodies are parsed.

    ``json.loads`` of a 1 MiB body of small arrays allocates ~350,000 containers, and each
    allocation burst triggers collections that traverse the growing tree again: 1 s of the
    event loop instead of 0.13 s. What JSON builds is a tree (no cycles; reference counting
    frees it), so the collector has nothing to find there. Counted, so concurrent parses (sync
    bodies run in threads) turn it back on once, after the last, and only if it was on."""
    global _parsing, _collector_was_on
    with _parsing_lock:
        if _parsing == 0:
            _collector_was_on = gc.isenabled()
            gc.disable()
        _parsing += 1
    try:
        yield
    finally:
        with _parsing_lock:
            _parsing -= 1
            if _parsing == 0 and _collector_was_on:
                gc.enable()


def _refuse_constant(name: str) -> Any:
    raise InvalidBodyError(f"the request body is not strict JSON: {name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise InvalidBodyError(
            f"the request body holds a number too large for a double: {text[:20]}..."
        )
    return value


def _bounded_int(text: str) -> int:
    digits = len(text) - text.startswith("-")
    if digits > MAX_INTEGER_DIGITS:
        raise InvalidBodyError(
            f"the request body holds a {digits}-digit integer (at most {MAX_INTEGER_DIGITS})"
        )
    return int(text)


def _check_depth(raw: bytes) -> None:
    """Refuse nesting deeper than MAX_DEPTH before parsing, so the answer does not depend on
    how deep this Python's JSON parser can recurse (3.13's stops later than 3.11's).

    Linear, in C-speed steps over the UTF-8 bytes (no byte of a multi-byte character is a
    quote, a backslash or a bracket): the escapes that can hide a quote (``\\\\`` and ``\\"``)
    are dropped first (``replace`` pairs backslashes from the left, as JSON does), so every
    quote left delimits a string; all but quotes and brackets is dropped, and splitting on the
    quotes leaves the brackets outside strings at the even places. Where the text is not JSON
    these steps may miscount, but only past the first error, where ``json.loads`` stops
    anyway."""
    if raw.count(b"[") + raw.count(b"{") <= MAX_DEPTH:
        return  # the common case: too few brackets anywhere to nest that deep
    unescaped = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    outside = b"".join(unescaped.translate(None, _NOT_STRUCTURE).split(b'"')[::2])
    if len(outside) <= MAX_DEPTH:
        return  # the rest were in strings
    if max(accumulate(memoryview(outside.translate(_STEPS)).cast("b"))) > MAX_DEPTH:
        raise InvalidBodyError(f"the request body nests deeper than {MAX_DEPTH} arrays or objects")
