"""Long histories and function names as the host has them.

The backend keeps history events shared and immutable between the store and the copies it
hands out (so a step's cost does not grow with the history); these tests show that the
results stay exact: long histories replay correctly, survive a restart on SQLite with every
event stored once, and earlier copies never see later changes.
"""

from __future__ import annotations

from pathlib import Path

import aiohttp
import azure.durable_functions as df
import pytest

from devhost.durable import DurableBackend, MemoryStore, SqliteStore, serve_backend
from tests.devhost.durable import orchestrations as o
from tests.devhost.durable.conftest import HUB, Served, wait_for, wait_for_status

STEPS = 150  # 600 events and more


def backend_on(store: SqliteStore | MemoryStore) -> DurableBackend:
    return DurableBackend(functions=o.build_functions(), hub_name=HUB, store=store)


async def _until_waiting(client: df.DurableOrchestrationClient, instance_id: str) -> None:
    await wait_for(
        lambda: client.get_status(instance_id),
        lambda s: s.custom_status == "waiting",
        timeout=60,
    )


def _event_types(history: list[dict[str, object]]) -> list[object]:
    return [event["EventType"] for event in history]


async def test_a_long_history_survives_a_restart_with_every_event_stored_once(
    tmp_path: Path,
) -> None:
    db = tmp_path / "hub.sqlite"
    first_store = SqliteStore(db)
    first = backend_on(first_store)
    async with serve_backend(first) as base_url:
        client = df.DurableOrchestrationClient(first.client_binding(base_url))
        await client.start_new(o.LONG_THEN_WAIT, "long", {"steps": STEPS})
        await _until_waiting(client, "long")
        before = first.history("long")
    first_store.close()
    # ExecutionStarted, then per step: TaskScheduled, OrchestratorCompleted, OrchestratorStarted,
    # TaskCompleted; the framing events of the first and last episodes.
    assert len(before) >= 4 * STEPS
    assert all(event["IsPlayed"] for event in before)

    second_store = SqliteStore(db)
    second = backend_on(second_store)
    async with serve_backend(second) as base_url:
        assert second.history("long") == before
        client = df.DurableOrchestrationClient(second.client_binding(base_url))
        # The webhook, not client.raise_event (which JSON-encodes the data twice, as in
        # Azure: azure-functions-durable-python #295).
        url = f"{base_url}/runtime/webhooks/durabletask/instances/long/raiseEvent/go"
        async with aiohttp.ClientSession() as http, http.post(url, json="after restart") as r:
            assert r.status == 202
        status = await wait_for_status(client, "long", "Completed", timeout=30)
    second_store.close()
    assert status.output == {
        "count": STEPS,
        "first": "Hello 0!",
        "last": f"Hello {STEPS - 1}!",
        "go": "after restart",
    }
    third_store = SqliteStore(db)
    after = backend_on(third_store).history("long")
    third_store.close()
    # The restarted backend appended to the stored history and rewrote nothing before it.
    assert after[: len(before)] == before
    assert _event_types(after).count(1) == 1  # one ExecutionCompleted


async def test_earlier_copies_never_see_later_episodes(served: Served) -> None:
    client = served.client
    await client.start_new(o.LONG_THEN_WAIT, "copies", {"steps": 3})
    await _until_waiting(client, "copies")
    early = served.backend.history("copies")
    early_snapshot = [dict(event) for event in early]
    await client.raise_event("copies", "go", 1)
    await wait_for_status(client, "copies", "Completed")
    assert early == early_snapshot  # neither the list nor its events changed in place
    later = served.backend.history("copies")
    assert len(later) > len(early)
    assert later[: len(early)] == early


async def test_orchestrator_and_activity_names_match_ignoring_case(
    served: Served, http: aiohttp.ClientSession
) -> None:
    client = served.client
    await client.start_new(o.ECHO.upper(), "shouted-echo", {"a": 1})
    status = await wait_for_status(client, "shouted-echo", "Completed")
    assert status.output == {"a": 1}
    # As on the host, the instance keeps the name it was started with.
    assert status.name == o.ECHO.upper()
    await client.start_new(o.SHOUTING, "shouted-activity", None)
    assert (await wait_for_status(client, "shouted-activity", "Completed")).output == "Hello case!"
    # The public webhook matches names the same way.
    # (An object body: a webhook start's non-object body fails get_input(), as in Azure.)
    titled = served.webhook(f"orchestrators/{o.ECHO.title()}/titled")
    async with http.post(titled, json={"n": 7}) as r:
        assert r.status == 202
    assert (await wait_for_status(client, "titled", "Completed")).output == {"n": 7}


async def test_an_unknown_name_is_still_refused(served: Served) -> None:
    with pytest.raises(Exception, match="doesn't exist"):
        await served.client.start_new("no_such_orchestrator", "nope", None)
