"""SqliteStore: a new backend on the same file sees the instances and resumes in-flight work."""

from __future__ import annotations

import json
from pathlib import Path

import azure.durable_functions as df
import pytest

from devhost.durable import DurableBackend, SqliteStore, serve_backend
from tests.devhost.durable import orchestrations as o
from tests.devhost.durable.conftest import HUB, wait_for_status


def backend_on(store: SqliteStore) -> DurableBackend:
    return DurableBackend(functions=o.build_functions(), hub_name=HUB, store=store)


async def test_instances_survive_a_restart_and_in_flight_ones_resume(tmp_path: Path) -> None:
    db = tmp_path / "hub.sqlite"
    first_store = SqliteStore(db)
    first = backend_on(first_store)
    async with serve_backend(first) as base_url:
        client = df.DurableOrchestrationClient(first.client_binding(base_url))
        await client.start_new(o.ECHO, "finished", "before restart")
        await wait_for_status(client, "finished", "Completed")
        await client.start_new(o.WAIT_FOR_GO, "waiting", None)
        await client.start_new(o.TIMER, "sleeping", 0.3)
        await wait_for_status(client, "waiting", "Running")
        await wait_for_status(client, "sleeping", "Running")
    # Never executed: started through the API while no executor runs.
    # As the Python client posts "queued": a JSON string holding the JSON text.
    await first.start_new(o.ECHO, "pending", json.dumps(json.dumps("queued")))
    first_store.close()

    second_store = SqliteStore(db)
    second = backend_on(second_store)
    async with serve_backend(second) as base_url:
        client = df.DurableOrchestrationClient(second.client_binding(base_url))
        assert (await client.get_status("finished")).output == "before restart"
        assert (await client.get_status("waiting")).runtime_status.value == "Running"
        # The timer armed before the restart is re-armed and fires.
        assert (await wait_for_status(client, "sleeping", "Completed")).output >= 0.3
        assert (await wait_for_status(client, "pending", "Completed")).output == "queued"
        await client.raise_event("waiting", "go", "after restart")
        status = await wait_for_status(client, "waiting", "Completed")
        assert status.output == {"got": '"after restart"'}  # the client double-encodes
        assert [r.created for r in second.start_records("waiting")] == [True]
        # The dedupe still holds across the restart.
        await client.start_new(o.WAIT_FOR_GO, "held", None)
        await wait_for_status(client, "held", "Running")
    second_store.close()

    third_store = SqliteStore(db)
    third = backend_on(third_store)
    async with serve_backend(third) as base_url:
        client = df.DurableOrchestrationClient(third.client_binding(base_url))
        with pytest.raises(Exception, match="already exists"):
            await client.start_new(o.WAIT_FOR_GO, "held", None)
    third_store.close()


def test_sqlite_store_rejects_an_empty_path() -> None:
    with pytest.raises(ValueError, match="file path"):
        SqliteStore("")
