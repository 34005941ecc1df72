"""Run user functions the way the Python worker does.

``async def`` functions run on the event loop; plain functions run in a thread pool whose
size is ``PYTHON_THREADPOOL_THREAD_COUNT`` (the worker's setting) when set.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from devhost._errors import HostConfigError

THREAD_COUNT_SETTING = "PYTHON_THREADPOOL_THREAD_COUNT"


def thread_count_from(environ: Mapping[str, str]) -> int | None:
    """The thread pool size from ``PYTHON_THREADPOOL_THREAD_COUNT``, or None for the default."""
    text = environ.get(THREAD_COUNT_SETTING)
    if text is None or text == "":
        return None
    if not text.isdigit() or not 1 <= int(text) <= 32:
        raise HostConfigError(
            f"{THREAD_COUNT_SETTING} must be an integer from 1 to 32, got {text!r}"
        )
    return int(text)


class Invoker:
    """Calls a user function with keyword arguments; owns the thread pool for sync ones."""

    def __init__(self, *, max_threads: int | None = None) -> None:
        self._executor = ThreadPoolExecutor(max_workers=max_threads, thread_name_prefix="devhost")

    async def invoke(self, function: Callable[..., Any], arguments: Mapping[str, Any]) -> Any:
        if inspect.iscoroutinefunction(function):
            return await function(**arguments)
        loop = asyncio.get_running_loop()
        call = functools.partial(contextvars.copy_context().run, function, **arguments)
        result = await loop.run_in_executor(self._executor, call)
        if inspect.isawaitable(result):
            return await result
        return result

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
