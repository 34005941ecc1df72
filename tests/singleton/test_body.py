"""The start body's reader: strict JSON within limits, and no other exception ever escapes."""

from __future__ import annotations

import json
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
