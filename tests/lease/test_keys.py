"""Key layout: escaping is injective, names stay in their namespace, one slot per lease."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from redis.crc import key_slot

from singleton.lease._keys import _escape_name, escape, lease_keys, unescape

names = st.text()  # any str: ':', '{', '}', '%', empty, unicode, lone surrogates
namespaces = st.text(min_size=1)


@given(names)
def test_escaping_round_trips_and_leaves_no_separator_or_brace(name: str) -> None:
    escaped = escape(name)
    assert unescape(escaped) == name
    assert not set(escaped) & set(":{}")


@given(st.one_of(names, st.text(alphabet=st.characters(max_codepoint=127))))
def test_the_fast_escape_of_a_name_is_escape_itself(name: str) -> None:
    # ASCII names take str.translate, others quote(): one layout, whichever way.
    assert _escape_name(name) == escape(name)


@given(namespaces, names, namespaces, names)
def test_distinct_namespace_name_pairs_never_share_a_key(
    ns_a: str, name_a: str, ns_b: str, name_b: str
) -> None:
    keys_a, keys_b = lease_keys(ns_a, name_a), lease_keys(ns_b, name_b)
    if (ns_a, name_a) != (ns_b, name_b):
        everything_a = {keys_a.lease, keys_a.fence, keys_a.channel}
        everything_b = {keys_b.lease, keys_b.fence, keys_b.channel}
        assert not everything_a & everything_b


@given(namespaces, names)
def test_every_key_of_a_lease_starts_with_its_namespace_and_shares_one_slot(
    namespace: str, name: str
) -> None:
    keys = lease_keys(namespace, name)
    prefix = escape(namespace) + ":{"
    slots = {
        key_slot(k.encode("utf-8", "surrogatepass")) for k in (keys.lease, keys.fence, keys.channel)
    }
    assert all(k.startswith(prefix) for k in (keys.lease, keys.fence, keys.channel))
    assert len(slots) == 1


def test_the_layout_is_readable() -> None:
    keys = lease_keys("durable-singleton", "MyHub/x:{y}")
    assert keys.lease == "durable-singleton:{=MyHub%2Fx%3A%7By%7D}:lease"
    assert keys.fence == "durable-singleton:{=MyHub%2Fx%3A%7By%7D}:fence"
    assert keys.channel == "durable-singleton:{=MyHub%2Fx%3A%7By%7D}:released"


def test_the_empty_name_still_has_a_non_empty_hash_tag() -> None:
    keys = lease_keys("ns", "")
    assert keys.lease == "ns:{=}:lease"
    assert key_slot(keys.lease.encode()) == key_slot(b"=")


def test_a_name_that_is_not_a_str_is_refused() -> None:
    with pytest.raises(TypeError, match="must be a str"):
        lease_keys("ns", b"bytes")  # type: ignore[arg-type]
