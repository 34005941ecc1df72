"""The start-up text, laid out like Core Tools' ``func start``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

AUTH_NOTICE = (
    "Note: HTTP auth levels (function/admin keys) are not enforced locally, as with Core Tools."
)


@dataclass(frozen=True)
class FunctionLine:
    """One function as listed: HTTP ones with methods and URL, others with their trigger."""

    name: str
    trigger_type: str
    url: str | None = None
    methods: Sequence[str] | None = None
    note: str | None = None

    def render(self) -> str:
        if self.url is None:
            note = f" ({self.note})" if self.note else ""
            return f"\t{self.name}: {self.trigger_type}{note}"
        methods = f"[{','.join(self.methods)}] " if self.methods else ""
        return f"\t{self.name}: {methods}{self.url}"


def render_banner(
    *,
    functions: Sequence[FunctionLine],
    redis_line: str,
    durable_line: str,
    storage_line: str | None = None,
    warnings: Sequence[str] = (),
) -> str:
    lines = ["", "Functions:", ""]
    for function in functions:
        lines += [function.render(), ""]
    if not functions:
        lines += ["\t(none)", ""]
    lines += [f"Redis: {redis_line}", f"Durable store: {durable_line}"]
    if storage_line is not None:
        lines.append(f"Storage: {storage_line}")
    lines.append(AUTH_NOTICE)
    lines += list(warnings)
    return "\n".join(lines) + "\n"
