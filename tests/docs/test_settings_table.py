"""The one settings table (docs/reference/settings.md) lists exactly the app settings the
library reads: every ``REDIS_*``/``SINGLETON_*`` name in singleton/ is a row, every row is
read somewhere."""

from __future__ import annotations

import re

from tests.docs.blocks import DOCS, ROOT

TABLE = DOCS / "reference" / "settings.md"
_SETTING = re.compile(r"""["'](?P<name>(?:REDIS|SINGLETON)_[A-Z0-9_]+)["']""")
_ROW = re.compile(r"^\| `(?P<names>[A-Z0-9_`/ <>]+)` \| (?P<default>[^|]*) \|", re.MULTILINE)
# A family of settings, one per function: `SINGLETON_LIMIT_<FUNCTION>` is read as the prefix
# the code builds the name from ("SINGLETON_LIMIT_").
_PLACEHOLDER = re.compile(r"<[A-Z]+>")


def code_settings() -> set[str]:
    """Every setting name the library's code reads (a quoted ``REDIS_*``/``SINGLETON_*``)."""
    names: set[str] = set()
    for path in (ROOT / "singleton").rglob("*.py"):
        names |= {m["name"] for m in _SETTING.finditer(path.read_text(encoding="utf-8"))}
    return names


def table_rows() -> dict[str, str]:
    """Setting name -> the default column (a row may name two: `A` / `B`)."""
    rows: dict[str, str] = {}
    for row in _ROW.finditer(TABLE.read_text(encoding="utf-8")):
        for name in re.findall(r"[A-Z0-9_]+", _PLACEHOLDER.sub("", row["names"])):
            rows[name] = row["default"].strip()
    return rows


def test_every_setting_the_code_reads_is_in_the_table() -> None:
    assert code_settings() - table_rows().keys() == set()


def test_every_setting_in_the_table_is_read_by_the_code() -> None:
    assert table_rows().keys() - code_settings() == set()


def test_the_table_is_the_only_one() -> None:
    """Other pages link to it instead of repeating it (a second copy would drift)."""
    for page in DOCS.rglob("*.md"):
        if page == TABLE or "notes" in page.relative_to(DOCS).parts:
            continue
        assert "| `SINGLETON_LEASE_TTL` |" not in page.read_text(encoding="utf-8"), page
