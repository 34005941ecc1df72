"""Where a lease lives in Redis: its key, its fence counter and its wake-up channel.

Layout for namespace ``durable-singleton`` and name ``MyHub/x``::

    durable-singleton:{=MyHub%2Fx}:lease      the holder's token, with the TTL
    durable-singleton:{=MyHub%2Fx}:fence      fencing counter (INCR per acquisition, no TTL)
    durable-singleton:{=MyHub%2Fx}:released   channel published on release
    durable-singleton:{=MyHub%2Fx}:result     the last release: token, fence and settled result
                                              (short TTL)

Both parts are percent-escaped (everything but ``A-Z a-z 0-9 _ . - ~``), so neither can contain
``:``, ``{`` or ``}``: a name can neither leave its namespace nor collide with another name, and
escaping is reversible, hence injective. The ``{=...}`` hash tag puts all four in one Redis
Cluster slot; the ``=`` keeps the tag non-empty for the empty name (an empty tag ``{}`` would
make Redis hash each whole key separately).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote, unquote


def escape(part: str) -> str:
    """Percent-escape ``part`` reversibly; lone surrogates survive (``surrogatepass``)."""
    return quote(part, safe="", errors="surrogatepass")


def unescape(part: str) -> str:
    """Inverse of :func:`escape`."""
    return unquote(part, errors="surrogatepass")


@dataclass(frozen=True, slots=True)
class LeaseKeys:
    lease: str
    fence: str
    channel: str
    result: str


@lru_cache(maxsize=4096)  # a starter takes the same few names again and again
def lease_keys(namespace: str, name: str) -> LeaseKeys:
    """The keys of lease ``name`` in ``namespace`` (both any str; the namespace non-empty)."""
    if not isinstance(name, str):
        raise TypeError(f"a lease name must be a str, not {name!r}")
    base = f"{escape(namespace)}:{{={escape(name)}}}:"
    return LeaseKeys(
        lease=base + "lease",
        fence=base + "fence",
        channel=base + "released",
        result=base + "result",
    )
