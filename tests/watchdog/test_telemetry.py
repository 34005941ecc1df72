"""The watchdog's restarts and reasons as metrics and span events, read back through the
OpenTelemetry SDK (the one the starter's telemetry tests install once per process)."""

from __future__ import annotations

import asyncio

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from singleton import RuntimeStatus, SingletonStarter
from tests.singleton.durable_app import WAIT_FOR_FINISH
from tests.singleton.harness import DurableHost
from tests.singleton.test_telemetry import _SPANS, _sum, sdk  # noqa: F401  # the shared SDK

pytestmark = pytest.mark.redis


@pytest.fixture
def spans() -> InMemorySpanExporter:
    _SPANS.clear()
    return _SPANS


RESTARTS = "durable_singleton.watchdog.restarts"


async def test_a_restart_is_counted_with_its_reason_and_is_a_span_event(
    durable: DurableHost, starter: SingletonStarter, spans: InMemorySpanExporter
) -> None:
    client = durable.client()
    absent = _sum(RESTARTS, **{"singleton.watchdog.reason": "absent"})
    terminated = _sum(RESTARTS, **{"singleton.watchdog.reason": "terminated"})
    await starter.ensure_running(client, WAIT_FOR_FINISH, "otel-watched")
    assert _sum(RESTARTS, **{"singleton.watchdog.reason": "absent"}) == absent + 1
    await durable.wait_for_status("otel-watched", RuntimeStatus.RUNNING)
    await starter.watchdog.tick(client)  # ran a whole tick: no backoff left
    await client.terminate("otel-watched", "by hand")
    await durable.wait_for_status("otel-watched", RuntimeStatus.TERMINATED)
    spans.clear()
    await starter.watchdog.tick(client)
    assert _sum(RESTARTS, **{"singleton.watchdog.reason": "terminated"}) == terminated + 1
    [tick] = [s for s in spans.get_finished_spans() if s.name == "singleton.watchdog.tick"]
    [event] = tick.events
    assert event.name == "singleton.watchdog.restarted"
    assert dict(event.attributes or {}) == {
        "singleton.instance_id": "otel-watched",
        "singleton.watchdog.reason": "terminated",
    }


async def test_one_that_stays_pending_is_counted(
    durable: DurableHost, starter: SingletonStarter
) -> None:
    before = _sum("durable_singleton.watchdog.stuck")
    await durable.backend.stop()  # a terminate is queued but never carried out
    durable.plant("otel-wedged", RuntimeStatus.PENDING, WAIT_FOR_FINISH)
    client = durable.client()
    await starter.ensure_running(client, WAIT_FOR_FINISH, "otel-wedged", stuck_after=0.01)
    await asyncio.sleep(0.05)
    await starter.watchdog.tick(client)
    assert _sum("durable_singleton.watchdog.stuck") == before + 1
    assert durable.started("otel-wedged") == 0
