"""The app this repository deploys is the product: the starter and the admin endpoint; the
examples (and the eternal monitor's timer) only when ``SINGLETON_EXAMPLES`` asks for them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = {"StartSingleton", "StartSingletonPendingRuns", "SingletonLeases", "SingletonPending"}
EXAMPLES = {
    "ProcessBatch",
    "process_item",
    "Monitor",
    "check_health",
    "AwaitApproval",
    "WatchMonitor",
    "SingletonWatchdog",
    "SingletonUnwatch",
    "SingletonWatched",
    "BuildReport",
}

INDEX = """
import json, sys
import function_app
names = sorted(f.get_function_name() for f in function_app.app.get_functions())
print(json.dumps({"names": names, "examples": "examples" in sys.modules}))
"""


def index(*, examples: str | None) -> subprocess.CompletedProcess[str]:
    """Import function_app.py in a fresh interpreter, as the worker does, and list its
    functions."""
    environ = {k: v for k, v in os.environ.items() if k != "SINGLETON_EXAMPLES"}
    if examples is not None:
        environ["SINGLETON_EXAMPLES"] = examples
    return subprocess.run(
        [sys.executable, "-c", INDEX],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_deployment_gets_the_starter_and_the_admin_endpoint_only() -> None:
    done = index(examples=None)
    assert done.returncode == 0, done.stderr
    indexed = json.loads(done.stdout)

    assert set(indexed["names"]) == PRODUCT
    assert indexed["examples"] is False  # never imported: deploying without examples/ works


@pytest.mark.parametrize("value", ["true", "1", "yes"])
def test_the_examples_are_registered_when_the_setting_asks(value: str) -> None:
    done = index(examples=value)
    assert done.returncode == 0, done.stderr

    assert set(json.loads(done.stdout)["names"]) == PRODUCT | EXAMPLES


def test_a_malformed_setting_stops_the_indexing_naming_it() -> None:
    done = index(examples="maybe")

    assert done.returncode != 0
    assert "SINGLETON_EXAMPLES must be true or false" in done.stderr


def test_the_deployment_leaves_the_examples_and_the_dev_files_out() -> None:
    ignored = (ROOT / ".funcignore").read_text(encoding="utf-8").split()
    for entry in ("examples", "tests", "devhost", "bench", "docs"):
        assert entry in ignored, entry
