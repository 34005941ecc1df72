"""Several runs of a benchmark, reported as figures a rerun can reproduce.

One run on a shared machine is one draw: independent reruns did not reproduce figures taken
from single runs. So every benchmark runs ``--runs N`` times (default 5), each run from a fresh
start (its own redis-server, its own backend process), and reports:

* each figure as min / median / max over the runs;
* each target as "met in k of n runs", beside the measured min / median / max;
* the machine's load average (1, 5, 15 minutes) at the start and at the end, and its CPUs.

A run hands back a :class:`RunOutcome`: its figures by name, its target checks, and the
detailed tables of that run (printed with ``--each``).
"""

from __future__ import annotations

import argparse
import os
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field

from bench._stats import table

DEFAULT_RUNS = 5


@dataclass(frozen=True)
class Check:
    """One target in one run: whether it was met, and the figure it was judged on."""

    met: bool
    measured: float
    unit: str = ""


@dataclass
class RunOutcome:
    """What one run measured."""

    figures: dict[str, float] = field(default_factory=dict)
    checks: dict[str, Check] = field(default_factory=dict)
    detail: str = ""


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """``--runs N`` and ``--each`` for a benchmark's argument parser."""
    parser.add_argument(
        "--runs",
        type=_positive,
        default=DEFAULT_RUNS,
        help=f"independent runs, each figure reported as min/median/max ({DEFAULT_RUNS})",
    )
    parser.add_argument(
        "--each", action="store_true", help="also print every run's own detailed tables"
    )


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def load_average() -> str:
    """The 1, 5 and 15-minute load averages, or a note where the OS keeps none."""
    try:
        one, five, fifteen = os.getloadavg()
    except (AttributeError, OSError):
        return "not available"
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def repeat(runs: int, one_run: Callable[[int], RunOutcome]) -> tuple[list[RunOutcome], str]:
    """``runs`` runs of ``one_run`` (given the run's index), and the load line around them."""
    load_at_start = load_average()
    outcomes = [one_run(index) for index in range(runs)]
    load_at_end = load_average()
    load = (
        f"Load average (1 / 5 / 15 min) at the start {load_at_start}, at the end {load_at_end}; "
        f"{os.cpu_count()} CPUs."
    )
    return outcomes, load


def number(value: float) -> str:
    """A figure with as many decimals as its size deserves."""
    size = abs(value)
    if float(value).is_integer() and size < 1e6:
        return str(int(value))  # counts: starts, calls
    if size >= 100:
        return f"{value:.0f}"
    if size >= 10:
        return f"{value:.1f}"
    if size >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def spread(values: list[float]) -> list[str]:
    return [number(min(values)), number(statistics.median(values)), number(max(values))]


def report(outcomes: list[RunOutcome], *, each: bool) -> str:
    """The figures and targets over every run, as markdown (and each run's tables if asked)."""
    runs = len(outcomes)
    names = list(dict.fromkeys(name for outcome in outcomes for name in outcome.figures))
    lines = [f"## Figures over {runs} run{'s' if runs != 1 else ''}\n"]
    rows = [
        [name, *spread([o.figures[name] for o in outcomes if name in o.figures])] for name in names
    ]
    lines.append(table(["figure", "min", "median", "max"], rows))
    targets = list(dict.fromkeys(target for outcome in outcomes for target in outcome.checks))
    if targets:
        lines.append("\n## Targets\n")
        target_rows = []
        for target in targets:
            checks = [o.checks[target] for o in outcomes if target in o.checks]
            met = sum(check.met for check in checks)
            unit = checks[0].unit
            measured = " / ".join(spread([check.measured for check in checks]))
            target_rows.append(
                [target, f"{met} of {len(checks)}", f"{measured}{' ' + unit if unit else ''}"]
            )
        lines.append(
            table(["target", "met in k of n runs", "measured min / median / max"], target_rows)
        )
    if each:
        for index, outcome in enumerate(outcomes, start=1):
            lines.append(f"\n## Run {index} of {runs}\n\n{outcome.detail}")
    return "\n".join(lines)
