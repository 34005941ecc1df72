"""``python -m bench body [--runs N]``: how long the start body's check takes.

``parse_body`` runs on the event loop before any lease is taken, so its time is time in which
nothing else on that loop runs (no lease is renewed). Measured for bodies at the default size
limit (1 MiB) and smaller, each the median of several tries, in one process (no Redis):

* ``"`` then N x ``\\"``: an unterminated string of escaped quotes, the body that made the old
  regex backtrack (2 s at 32 KB, ~36 min at 1 MiB);
* the same with a bracket in every escape pair (the depth count runs over the whole text);
* ``[]`` repeated: every character a bracket (the densest valid nesting count);
* a typical document: an array of small objects with strings, numbers and nested arrays.

Target: every 1 MiB body checked in well under 100 ms (``MAX_1MIB_MS``). Bodies of many small
containers are bound by ``json.loads`` itself (it builds them all), the depth count a part.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import statistics
import time

from bench._runs import Check, RunOutcome, add_run_options, repeat, report
from bench._stats import table
from singleton.functions._body import InvalidBodyError, parse_body

MAX_1MIB_MS = 100.0
SIZES = {"32 KB": 32 * 1024, "256 KB": 256 * 1024, "1 MiB": 1024 * 1024}


def _document(size: int) -> bytes:
    item = {"id": 12345, "name": 'a "quoted" name [x]', "tags": ["a", "b"], "n": [1.5, [2]]}
    one = json.dumps(item)
    return ("[" + ",".join([one] * (size // (len(one) + 1))) + "]").encode()


BODIES = {
    "escaped quotes": lambda size: b'"' + b'\\"' * ((size - 1) // 2),
    "escaped quotes and brackets": lambda size: b'"' + b'\\"[' * ((size - 1) // 3),
    "[] repeated": lambda size: b"[" + b"[]," * ((size - 2) // 3 - 1) + b"[]]",
    "a typical document": _document,
}


def check_ms(body: bytes, tries: int) -> float:
    """The median wall time of ``tries`` checks of ``body``, in ms."""
    times = []
    for _ in range(tries):
        started = time.perf_counter()
        with contextlib.suppress(InvalidBodyError):
            parse_body(body, max_bytes=len(body))
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def one_run(tries: int) -> RunOutcome:
    outcome = RunOutcome()
    rows = []
    for body_name, make in BODIES.items():
        row = [body_name]
        for size_name, size in SIZES.items():
            ms = check_ms(make(size), tries)
            outcome.figures[f"{body_name}, {size_name}: ms"] = ms
            row.append(f"{ms:.2f}")
        rows.append(row)
        large = outcome.figures[f"{body_name}, 1 MiB: ms"]
        outcome.checks[f"{body_name}: 1 MiB checked within {MAX_1MIB_MS:g} ms"] = Check(
            large <= MAX_1MIB_MS, large, "ms"
        )
    outcome.detail = table(["body", *(f"{name} ms" for name in SIZES)], rows)
    return outcome


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench body", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer tries (a smoke run)")
    add_run_options(parser)
    args = parser.parse_args(argv)
    tries = 3 if args.quick else 11
    outcomes, load = repeat(args.runs, lambda _: one_run(tries))
    print(
        f"# Start body check: parse_body, median of {tries} tries per body, {args.runs} runs; "
        f"Python {platform.python_version()}\n\n{load}\n"
    )
    print(report(outcomes, each=args.each))
    return 0
