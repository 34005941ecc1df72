"""The start body's reader: strict JSON within limits, and no other exception ever escapes."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from singleton import ConfigurationError
from singleton.functions._body import (
    MAX_DEPTH,
    MAX_INTEGER_DIGITS,
    BodyTooLargeError,
    InvalidBodyError,
    max_body_bytes,
    parse_body,
)

LIMIT = 1024 * 1024


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (b"", None),
        (b" \r\n\t", None),
        (b"null", None),
        (b'{"a": [1, 2.5, "\xc3\xa9", true]}', {"a": [1, 2.5, "é", True]}),
        (b"-" + b"9" * MAX_INTEGER_DIGITS, -int("9" * MAX_INTEGER_DIGITS)),
        (b"1.7976931348623157e308", 1.7976931348623157e308),
        (b"[" * MAX_DEPTH + b"]" * MAX_DEPTH, json.loads("[" * MAX_DEPTH + "]" * MAX_DEPTH)),
    ],
)
def test_strict_json_within_the_limits_is_read(raw: bytes, value: Any) -> None:
    assert parse_body(raw, max_bytes=LIMIT) == value


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b"NaN", "NaN is not a JSON number"),
        (b"[-Infinity]", "-Infinity is not a JSON number"),
        (b"-1e400", "too large for a double"),
        (b"9" * (MAX_INTEGER_DIGITS + 1), f"{MAX_INTEGER_DIGITS + 1}-digit integer"),
        (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), f"deeper than {MAX_DEPTH}"),
        (b'{"a":' * 5000, f"deeper than {MAX_DEPTH}"),
        (b"\xc3", "not UTF-8"),
        (b"{", "not valid JSON"),
    ],
)
def test_anything_else_is_an_invalid_body_saying_why(raw: bytes, says: str) -> None:
    with pytest.raises(InvalidBodyError, match=says):
        parse_body(raw, max_bytes=LIMIT)


def test_the_size_limit_is_checked_before_parsing() -> None:
    with pytest.raises(BodyTooLargeError, match="11 bytes, more than the 10 allowed"):
        parse_body(b"[" * 11, max_bytes=10)
    assert parse_body(b"[1,2,3,45]", max_bytes=10) == [1, 2, 3, 45]


def test_the_limit_setting_is_strict() -> None:
    assert max_body_bytes({}) == LIMIT
    assert max_body_bytes({"SINGLETON_MAX_BODY_BYTES": "2048"}) == 2048
    for bad in ("0", "-1", "1k"):
        with pytest.raises(ConfigurationError, match="SINGLETON_MAX_BODY_BYTES"):
            max_body_bytes({"SINGLETON_MAX_BODY_BYTES": bad})


@given(
    st.binary(max_size=300) | st.text(alphabet='[]{}:,"0123456789.eE-+aNIfinty ').map(str.encode)
)
def test_no_body_raises_anything_but_invalid_body(raw: bytes) -> None:
    try:
        value = parse_body(raw, max_bytes=LIMIT)
    except InvalidBodyError:
        return
    # What is accepted goes back out as strict JSON.
    json.dumps(value, allow_nan=False)


#: Times the check of ``"`` followed by N x ``\\"`` (an unterminated string of escaped quotes:
#: the backtracking case), and of N x ``\\"[`` (brackets in that string, so the depth count
#: runs too), for a 32 KB and a 1 MiB body, each the best of several tries in CPU time (a
#: process preempted on a loaded machine loses wall time in the long run only). In a child
#: process, so a quadratic check can be cut off (a regex holds the GIL: no thread could).
_GROWTH = """
import json, sys, time
from singleton.functions._body import InvalidBodyError, parse_body

def best(unit, size, tries):
    body = b'"' + unit * (size // len(unit))
    times = []
    for _ in range(tries):
        started = time.thread_time()
        try:
            parse_body(body, max_bytes=2 * 1024 * 1024)
        except InvalidBodyError:
            pass
        times.append(time.thread_time() - started)
    return min(times)

print(json.dumps({
    name: {"small": best(unit, 32 * 1024, 20), "large": best(unit, 1024 * 1024, 5)}
    for name, unit in (("quotes", b'\\\\"'), ("quotes and brackets", b'\\\\"['))
}))
"""


def test_the_check_takes_time_linear_in_the_body() -> None:
    """1 MiB is 32x 32 KB: a linear check takes ~32x as long, a quadratic one ~1,000x (the old
    regex: 2 s for 32 KB, half an hour for 1 MiB). Asserted within 100x, a generous margin;
    the absolute times are in the benchmark (``./dev bench body``)."""
    root = Path(__file__).resolve().parents[2]
    try:
        done = subprocess.run(
            [sys.executable, "-c", _GROWTH],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("checking 32 KB and 1 MiB bodies of escaped quotes took over 60 s")
    times = json.loads(done.stdout)
    for body, sizes in times.items():
        assert sizes["large"] <= 100 * sizes["small"], (body, times)


def _depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    return 0


#: Strings made of what could fool a scan of the text: quotes, backslashes and brackets.
_TRICKY = st.text(alphabet='"\\[]{}a', max_size=8)
_NESTED = st.recursive(
    st.none() | st.integers() | _TRICKY,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TRICKY, inner, max_size=3),
    max_leaves=80,
)


@given(_NESTED, st.integers(min_value=MAX_DEPTH - 2, max_value=MAX_DEPTH + 2))
def test_the_depth_is_counted_outside_strings_only(value: Any, wrap: int) -> None:
    deep = value
    for _ in range(wrap):
        deep = [deep]
    raw = json.dumps(deep).encode()
    if _depth(deep) > MAX_DEPTH:
        with pytest.raises(InvalidBodyError, match=f"deeper than {MAX_DEPTH}"):
            parse_body(raw, max_bytes=LIMIT)
    else:
        assert parse_body(raw, max_bytes=LIMIT) == deep


@pytest.mark.parametrize(
    "text",
    [
        '["\\\\", ' + "[" * MAX_DEPTH + "]" * MAX_DEPTH + "]",  # "\\" ends the string
        '["\\\\\\"[[[[", ' + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "]",
    ],
)
def test_escaped_backslashes_and_quotes_are_read_as_json_reads_them(text: str) -> None:
    value = json.loads(text)
    if _depth(value) > MAX_DEPTH:
        with pytest.raises(InvalidBodyError, match=f"deeper than {MAX_DEPTH}"):
            parse_body(text.encode(), max_bytes=LIMIT)
    else:
        assert parse_body(text.encode(), max_bytes=LIMIT) == value


def test_the_collector_is_left_as_it_was_found() -> None:
    """parse_body turns the cyclic collector off while json.loads builds the value (it builds
    a tree), and back on after, refusals included; it never turns on a collector left off."""
    assert gc.isenabled()
    assert parse_body(b"[[1], [2]]", max_bytes=LIMIT) == [[1], [2]]
    with pytest.raises(InvalidBodyError):
        parse_body(b"[NaN]", max_bytes=LIMIT)
    assert gc.isenabled()
    gc.disable()
    try:
        parse_body(b"[[1], [2]]", max_bytes=LIMIT)
        assert not gc.isenabled()
    finally:
        gc.enable()
