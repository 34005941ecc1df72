"""The code blocks of the documentation that tests run.

A block is tagged by an HTML comment on the line before its fence, invisible on the site:

    <!-- test: KIND NAME -->
    ```python
    ...
    ```

KIND says what a test does with it: ``app`` (a ``function_app.py`` served on the devhost),
``module`` (a Python module imported and called), ``shell`` (a bash script run against a
served app), ``output`` (the exact standard output of the ``shell`` block of the same NAME),
``settings-json`` (a ``local.settings.json``). Every untagged ``python`` block must still
compile.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
README = ROOT / "README.md"

_TAG = re.compile(r"^<!-- test: (?P<kind>[a-z-]+)(?: (?P<name>[A-Za-z0-9_-]+))? -->$")
_FENCE = re.compile(r"^(?P<fence>`{3,})(?P<lang>[A-Za-z0-9_-]*)")


@dataclasses.dataclass(frozen=True)
class Block:
    path: Path
    line: int  # of the fence, 1-based
    lang: str
    code: str
    kind: str | None = None
    name: str | None = None

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def documents() -> list[Path]:
    """The README and every page of the site (docs/notes/ is not part of it)."""
    pages = sorted(p for p in DOCS.rglob("*.md") if "notes" not in p.relative_to(DOCS).parts)
    return [README, *pages]


def blocks(path: Path) -> list[Block]:
    """Every fenced block of ``path``, with its tag if the line before the fence carries one."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    index = 0
    while index < len(lines):
        fence = _FENCE.match(lines[index].lstrip())
        if fence is None:
            index += 1
            continue
        start = index
        indent = len(lines[index]) - len(lines[index].lstrip())
        index += 1
        body: list[str] = []
        while index < len(lines) and not lines[index].strip().startswith(fence["fence"]):
            body.append(lines[index][indent:])
            index += 1
        tag = _TAG.match(lines[start - 1].strip()) if start > 0 else None
        found.append(
            Block(
                path=path,
                line=start + 1,
                lang=fence["lang"],
                code="\n".join(body) + "\n",
                kind=tag["kind"] if tag else None,
                name=tag["name"] if tag else None,
            )
        )
        index += 1
    return found


def all_blocks() -> list[Block]:
    return [block for path in documents() for block in blocks(path)]


def tagged(kind: str, name: str | None = None) -> Block:
    """The one block tagged ``kind name`` (AssertionError if there is none, or several)."""
    matches = [b for b in all_blocks() if b.kind == kind and b.name == name]
    assert len(matches) == 1, f"expected one block tagged {kind} {name}, found {len(matches)}"
    return matches[0]
