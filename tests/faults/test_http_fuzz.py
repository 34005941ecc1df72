"""Hypothesis over real HTTP: whatever a client sends to the starter, the answer is never a
5xx, and nothing starts unless the answer is 202."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from urllib.parse import quote

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from yarl import URL

from devhost import RunningDevHost
from tests.faults.conftest import devhost_on
from tests.redis_servers import RedisServer

pytestmark = pytest.mark.redis

ORCHESTRATORS = st.sampled_from(["AwaitApproval", "ProcessBatch", "NoSuchOne", "9bad", "a b"])
IDS = st.text(
    # No lone surrogates: no URL can carry one (it has no UTF-8 form).
    alphabet=st.characters(blacklist_categories=("Cs",)),
    min_size=0,
    max_size=300,
) | st.sampled_from([".", "..", "@x", "a/b", "x" * 257])
JSON_TEXT = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
    max_leaves=20,
).map(lambda value: json.dumps(value).encode())
BODIES = (
    st.binary(max_size=200)
    | JSON_TEXT
    | st.sampled_from([b"NaN", b"[" * 5000, b"1e999", b"9" * 5000, b"\xff"])
)


@pytest.fixture(scope="module")
async def fuzzed_host(
    redis_server: RedisServer,
) -> AsyncIterator[tuple[RunningDevHost, aiohttp.ClientSession]]:
    with pytest.MonkeyPatch.context() as monkeypatch:
        async with (
            devhost_on(redis_server.url, monkeypatch, SINGLETON_LEASE_WAIT="0.5") as host,
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http,
        ):
            yield host, http


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(orchestrator=ORCHESTRATORS, instance_id=IDS, body=BODIES)
async def test_no_client_input_gets_a_5xx(
    fuzzed_host: tuple[RunningDevHost, aiohttp.ClientSession],
    orchestrator: str,
    instance_id: str,
    body: bytes,
) -> None:
    host, http = fuzzed_host
    path = f"orchestrators/{quote(orchestrator, safe='')}/{quote(instance_id, safe='')}"
    url = URL(host.url(path), encoded=True)
    records_before = len(host.backend.start_records(instance_id))
    before = len(await host.backend.list_states())
    async with http.post(url, data=body) as response:
        status = response.status
        text = await response.text()
    records = host.backend.start_records(instance_id)
    assert status < 500, (status, text)
    if status == 202:  # a new instance, or a finished one started again
        assert len(records) == records_before + 1
        assert records[-1].created
    else:
        assert len(records) == records_before, (status, text)
        assert len(await host.backend.list_states()) == before, (status, text)


async def test_an_id_with_braces_starts(
    fuzzed_host: tuple[RunningDevHost, aiohttp.ClientSession],
) -> None:
    host, http = fuzzed_host
    url = URL(host.url(f"orchestrators/AwaitApproval/{quote('{tenant}-1', safe='')}"), encoded=True)
    async with http.post(url) as response:
        assert response.status == 202, await response.text()
