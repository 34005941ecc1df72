"""The site builds with ``--strict`` (broken links, missing pages and unresolved API
references fail it), every Python block of the docs at least compiles, every tag is one a
test knows, and the README's links reach real pages."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.docs.blocks import DOCS, README, ROOT, Block, all_blocks

KINDS = {"app", "module", "shell", "output", "settings-json"}


def test_the_site_builds_strictly_and_leaves_the_notes_out(tmp_path: Path) -> None:
    """Built from a copy of the docs that also holds an engineer's note (with a broken link,
    which --strict would refuse if the note were part of the site)."""
    project = tmp_path / "project"
    shutil.copytree(DOCS, project / "docs")
    for name in ("mkdocs.yml", "CHANGELOG.md"):
        shutil.copy(ROOT / name, project / name)
    (project / "singleton").symlink_to(ROOT / "singleton")
    (project / "docs" / "notes").mkdir(exist_ok=True)
    (project / "docs" / "notes" / "some-branch.md").write_text("[gone](../nowhere.md)\n")
    site = tmp_path / "site"

    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )

    assert result.returncode == 0, result.stderr
    api = (site / "reference" / "api" / "index.html").read_text()
    assert api.count('id="singleton.SingletonStarter"') == 1
    assert 'id="singleton.LeaseUnavailable"' in api
    # The public names that joined after 0.1.0 each have their entry.
    for name in (
        "functions.http.starter_blueprint",
        "functions.http.handle_start_request",
        "list_leases",
        "force_release",
        "HeldLease",
        "current_lease_or_none",
        "IdempotencyRecordUnreadable",
        "SingletonStarter.ensure_running",
        "SingletonStarter.unwatch",
        "functions.watchdog.watchdog_blueprint",
        "starter.Watchdog",
        "starter.PassResult",
        "starter.PassOutcome",
        "starter.WatchlistFull",
        "SingletonStarter.start_pending_runs",
        "SingletonStarter.start_pending",
        "starter.PendingRun",
        "starter.PendingRuns",
    ):
        assert f'id="singleton.{name}"' in api, name
    assert (site / "guides" / "durable-task" / "index.html").is_file()
    assert (site / "guides" / "watchdog" / "index.html").is_file()
    assert not (site / "notes").exists()
    # The changelog page carries CHANGELOG.md.
    first_entry = next(
        line[3:] for line in (ROOT / "CHANGELOG.md").read_text().splitlines() if line[:3] == "## "
    )
    assert first_entry.strip("[]") in (site / "changelog" / "index.html").read_text()


@pytest.mark.parametrize(
    "block", [b for b in all_blocks() if b.lang == "python"], ids=lambda b: b.where
)
def test_every_python_block_compiles(block: Block) -> None:
    compile(block.code, block.where, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)


def test_every_tag_is_known_and_every_shell_block_has_its_output() -> None:
    blocks = all_blocks()
    tags = [(b.kind, b.name) for b in blocks if b.kind is not None]
    assert {kind for kind, _ in tags} <= KINDS
    assert len(tags) == len(set(tags)), "a tag is used twice"
    shells = {name for kind, name in tags if kind == "shell"}
    outputs = {name for kind, name in tags if kind == "output"}
    assert shells == outputs
    # A tagged block no test names would silently never run.
    tests = "".join(p.read_text() for p in Path(__file__).parent.glob("test_*.py"))
    for kind, name in tags:
        if kind in {"app", "module", "shell"}:
            assert f'"{name}"' in tests, f"no test runs the block tagged {kind} {name}"


def test_the_readme_links_reach_real_pages() -> None:
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", README.read_text())
    local = [link for link in links if not link.startswith(("http://", "https://"))]
    assert local, "the README links to the site's pages"
    for link in local:
        assert (ROOT / link).is_file(), link
    assert "docs/reference/settings.md" in local
    assert all(
        page.relative_to(ROOT).as_posix() in local for page in (DOCS / "guides").glob("*.md")
    )
