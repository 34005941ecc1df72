"""Imports as light as the layer, checked at run time in a fresh interpreter.

The lease and the starter must not pull in the Azure Functions worker's modules nor aiohttp:
a library user who only takes a lease (a queue worker, a script) should not pay for them, and
a layer that imports them has started to depend on them.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("azure.functions", "azure.durable_functions", "aiohttp")


def imported_after(statement: str) -> list[str]:
    """The heavy modules in ``sys.modules`` after ``statement`` ran in a new interpreter."""
    probe = (
        f"{statement}\n"
        "import json, sys\n"
        f"heavy = {HEAVY!r}\n"
        "print(json.dumps(sorted(m for m in sys.modules "
        "if any(m == h or m.startswith(h + '.') for h in heavy))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    found: list[str] = json.loads(done.stdout)
    return found


@pytest.mark.parametrize(
    "statement",
    [
        "import singleton",
        "import singleton.lease",
        "import singleton.starter",
        "from singleton import Leases, LeasePolicy, Settings, list_leases, force_release",
        "from singleton import SingletonStarter, Outcome, create_starter, default_starter",
    ],
)
def test_the_lease_and_the_starter_import_nothing_of_azure_or_aiohttp(statement: str) -> None:
    assert imported_after(statement) == []


def test_the_decorator_is_imported_on_first_use_of_its_name() -> None:
    # The probe is honest: naming @singleton does import azure.functions.
    assert "azure.functions" in imported_after("from singleton import singleton")


def test_lazy_names_are_the_real_objects_and_listed() -> None:
    import singleton
    from singleton.functions.decorator import current_lease
    from singleton.starter import SingletonStarter

    assert singleton.SingletonStarter is SingletonStarter
    assert singleton.current_lease is current_lease
    assert set(singleton.__all__) <= set(dir(singleton))
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = singleton.no_such_name  # type: ignore[attr-defined]
