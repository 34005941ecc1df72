"""One version, from the package metadata: ``singleton.__version__``, ``python -m devhost
--version``, and the local host's pin on the library it serves."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import singleton

ROOT = Path(__file__).resolve().parents[2]


def project_version(pyproject: Path) -> str:
    found = re.search(r'^version = "([^"]+)"$', pyproject.read_text(encoding="utf-8"), re.M)
    assert found is not None, pyproject
    return found.group(1)


def test_the_version_is_the_installed_distributions() -> None:
    assert singleton.__version__ == metadata.version("durable-singleton")
    assert singleton.__version__ == project_version(ROOT / "pyproject.toml")


def test_a_source_tree_that_was_never_installed_still_has_a_version() -> None:
    probe = (
        "from importlib import metadata\n"
        "def missing(name):\n"
        "    raise metadata.PackageNotFoundError(name)\n"
        "metadata.version = missing\n"
        "import singleton\n"
        "print(singleton.__version__)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "0+unknown"


def test_devhost_says_its_version_and_the_librarys() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "devhost", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        f"devhost {metadata.version('durable-singleton-devhost')} "
        f"(durable-singleton {singleton.__version__})"
    )


def test_the_local_host_pins_the_library_at_its_own_version() -> None:
    devhost = ROOT / "devhost" / "pyproject.toml"
    pin = f'"durable-singleton=={project_version(ROOT / "pyproject.toml")}"'
    assert pin in devhost.read_text(encoding="utf-8")
    assert project_version(devhost) == project_version(ROOT / "pyproject.toml")


def test_both_distributions_carry_the_same_mit_license() -> None:
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License")
    assert "Copyright (c) 2026 the durable-singleton authors" in text
    assert (ROOT / "devhost" / "LICENSE").read_text(encoding="utf-8") == text
    for pyproject in (ROOT / "pyproject.toml", ROOT / "devhost" / "pyproject.toml"):
        config = pyproject.read_text(encoding="utf-8")
        assert 'license = "MIT"' in config
        assert 'license-files = ["LICENSE"]' in config
