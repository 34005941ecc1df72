"""The telemetry table of the Operate guide names exactly the spans, metrics and attributes
singleton/_telemetry.py reports, so a dashboard built from the guide finds them."""

from __future__ import annotations

import re

from tests.docs.blocks import DOCS, ROOT

GUIDE = DOCS / "guides" / "operate.md"
_NAME = re.compile(r"(?:durable_singleton|singleton)\.[a-z_]+(?:\.[a-z_]+)*")


def _table() -> str:
    text = GUIDE.read_text(encoding="utf-8")
    start = text.index("| kind | name | attributes |")
    return text[start : text.index("\n\n", start)]


def test_the_table_names_what_the_code_reports() -> None:
    code = (ROOT / "singleton" / "_telemetry.py").read_text(encoding="utf-8")
    reported = {m.group(0) for m in re.finditer(r'"((?:durable_)?singleton\.[a-z_.]+)"', code)}
    reported = {name.strip('"') for name in reported}
    documented = set(_NAME.findall(_table()))
    assert reported - documented == set(), "reported but not in the guide's table"
    assert documented - reported == set(), "in the guide's table but never reported"
