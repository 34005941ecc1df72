"""Enter/exit times of invocations, and the checks the exclusion tests make on them.

Times are ``time.monotonic()``: CLOCK_MONOTONIC on Linux, one clock for every process of the
machine, so records of different processes compare.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass


@dataclass(frozen=True)
class Record:
    scope: str
    enter: float
    exit: float
    who: str = ""  # which process or host ran it


def overlaps_within_scopes(records: list[Record]) -> list[tuple[Record, Record]]:
    """Pairs of invocations of one scope whose [enter, exit] intervals overlap."""
    found: list[tuple[Record, Record]] = []
    by_scope = sorted(records, key=lambda r: (r.scope, r.enter))
    for _, group in itertools.groupby(by_scope, key=lambda r: r.scope):
        ordered = list(group)
        found += [(a, b) for a, b in itertools.pairwise(ordered) if b.enter < a.exit]
    return found


def overlaps_across_scopes(records: list[Record]) -> int:
    """How many pairs of invocations of different scopes ran at the same time."""
    return sum(
        1
        for a, b in itertools.combinations(records, 2)
        if a.scope != b.scope and a.enter < b.exit and b.enter < a.exit
    )
