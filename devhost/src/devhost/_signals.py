"""Stop the host on Ctrl-C and SIGTERM, on Unix and on Windows.

``loop.add_signal_handler`` exists only on Unix event loops (Windows' ProactorEventLoop and
SelectorEventLoop raise ``NotImplementedError``). Where it is missing, a plain
``signal.signal`` handler hands the stop over to the loop with ``call_soon_threadsafe``
(the Windows loops wake on a signal through their wake-up socket). Ctrl-Break (``SIGBREAK``,
Windows only) stops the host too. Every handler is put back on exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

logger = logging.getLogger(__name__)


def stop_signals() -> tuple[signal.Signals, ...]:
    """SIGINT and SIGTERM, and SIGBREAK where it exists (Windows)."""
    extra = getattr(signal, "SIGBREAK", None)
    signals = (signal.SIGINT, signal.SIGTERM)
    return (*signals, extra) if isinstance(extra, signal.Signals) else signals


@contextlib.contextmanager
def stop_on_signals(loop: asyncio.AbstractEventLoop, stop: Callable[[], None]) -> Iterator[None]:
    """Call ``stop`` on the loop when a stop signal arrives, while the block runs."""
    on_loop: list[signal.Signals] = []
    previous: dict[signal.Signals, Any] = {}

    def handler(signum: int, frame: FrameType | None) -> None:
        loop.call_soon_threadsafe(stop)

    for signum in stop_signals():
        try:
            loop.add_signal_handler(signum, stop)
            on_loop.append(signum)
        except NotImplementedError:  # Windows event loops
            previous[signum] = signal.signal(signum, handler)
    if previous:
        logger.debug("no loop.add_signal_handler here; using signal.signal for %s", previous)
    try:
        yield
    finally:
        for signum in on_loop:
            loop.remove_signal_handler(signum)
        for signum, old in previous.items():
            signal.signal(signum, old)
