"""``@singleton`` keeps the function's parameters and return type; ``current_lease()`` is a
``Lease`` inside a body (issue 15). Checked by mypy in ``./dev lint``; pytest runs it too, so
the same code also runs (no Redis: nothing is invoked but the lease lookups outside a body).

Before, a decorated function kept its parameters but returned ``Coroutine[Any, Any, Any]``:
the lines marked ``# type: ignore[assignment]`` below were accepted (so those ignores were
unused, a lint error), and ``current_lease().fence`` was an error (``Lease | None`` has no
``fence``).
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

import azure.functions as func
import pytest
from azure.functions.timer import TimerRequest

from singleton import Lease, current_lease, singleton
from singleton.functions.decorator import current_lease_or_none


@singleton("{customerId}", on_busy="fail")
async def build_report(req: func.HttpRequest, *, fast: bool = False) -> func.HttpResponse:
    fence: int = current_lease().fence  # no None test needed inside a body
    return func.HttpResponse(str(fence))


@singleton(lambda msg: msg.get_json()["id"])
def handle_sync(msg: func.QueueMessage, retries: int) -> str:
    lease: Lease = current_lease()
    return lease.name


@singleton(on_busy="skip")
async def tick(timer: func.TimerRequest) -> int:
    return 1


async def _uses() -> None:  # type-checked, never run
    request = func.HttpRequest(method="POST", url="http://x/", body=b"")
    response: func.HttpResponse = await build_report(request, fast=True)
    text: str = await handle_sync(func.QueueMessage(body=b"{}"), 3)  # a sync body is awaited
    skipped: int | None = await tick(TimerRequest(past_due=False))  # skip may return None
    pending: Coroutine[Any, Any, str] = handle_sync(func.QueueMessage(body=b"{}"), retries=1)
    pending.close()

    await build_report("not a request")  # type: ignore[arg-type]
    await build_report(request, faster=True)  # type: ignore[call-arg]
    await handle_sync(func.QueueMessage(body=b"{}"))  # type: ignore[call-arg]
    wrong: int = await handle_sync(func.QueueMessage(body=b"{}"), 3)  # type: ignore[assignment]
    not_none: int = await tick(TimerRequest(past_due=False))  # type: ignore[assignment]
    del response, text, skipped, wrong, not_none


def test_outside_a_body_current_lease_raises_and_the_or_none_form_answers_none() -> None:
    maybe: Lease | None = current_lease_or_none()
    assert maybe is None
    with pytest.raises(RuntimeError, match=r"outside a @singleton function's body"):
        current_lease()
