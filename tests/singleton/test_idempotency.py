"""Idempotency-Key answers, each against a real redis-server and the real Durable client over
HTTP (the embedded backend): what a key answers depends on what its attempt decided, never on
which caller stayed, on a record write Redis refused, or on a record this version cannot read;
a replay is the first answer byte for byte; the records are bounded per instance ID and by a
TTL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import azure.functions as func
import pytest
import redis.asyncio as aioredis
from aiohttp import web
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot

from singleton import (
    ConfigurationError,
    LeasePolicy,
    Leases,
    RedisSettings,
    RuntimeStatus,
    Settings,
    SingletonStarter,
    create_redis_client,
)
from singleton._runtime import _build
from singleton.functions.http import REPLAYED_HEADER, handle_start_request
from singleton.starter import Decision, IdempotencyRecords, Outcome, StartPolicy, StartResult
from singleton.starter._idempotency import RECORD_VERSION, Claim, parse_record
from tests.lease.servers import running_cluster
from tests.redis_servers import RedisServer, running_redis_server
from tests.singleton.durable_app import WAIT_FOR_FINISH
from tests.singleton.harness import HUB, DurableHost, post, running_durable_host

pytestmark = pytest.mark.redis


class StartGate:
    """An aiohttp middleware on the Durable backend that holds every start request until
    ``release`` is set (``arrived`` tells a start is in flight), then runs ``after_start``
    once the host has applied it, before its answer goes back."""

    def __init__(self) -> None:
        self.arrived = asyncio.Event()
        self.release = asyncio.Event()
        self.release.set()
        self.after_start: Callable[[], Awaitable[None]] | None = None

    @web.middleware
    async def middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.method != "POST" or "/orchestrators/" not in request.path:
            return await handler(request)  # type: ignore[no-any-return]
        self.arrived.set()
        await self.release.wait()
        response = await handler(request)
        if self.after_start is not None:
            after, self.after_start = self.after_start, None
            await after()
        return response  # type: ignore[no-any-return]


@pytest.fixture
async def gate() -> StartGate:
    return StartGate()


@pytest.fixture
async def host(gate: StartGate) -> AsyncIterator[DurableHost]:
    async with running_durable_host(storage_latency=0.005, middlewares=[gate.middleware]) as host:
        yield host


def call(
    host: DurableHost,
    starter: SingletonStarter,
    instance_id: str,
    body: bytes = b'{"n": 1}',
    *,
    key: str | None = "k",
    **params: str,
) -> Awaitable[func.HttpResponse]:
    headers = {} if key is None else {"Idempotency-Key": key}
    request = post(WAIT_FOR_FINISH, instance_id, body, params=params, headers=headers)
    return handle_start_request(request, host.client(), starter=lambda: starter)


def answer(response: func.HttpResponse) -> tuple[int, dict[str, str], bytes]:
    """What the client receives, less the header that marks a replay."""
    headers = {k.lower(): v for k, v in response.headers.items()}
    headers.pop(REPLAYED_HEADER.lower(), None)
    return response.status_code, headers, response.get_body()


def replayed(response: func.HttpResponse) -> bool:
    return response.headers.get(REPLAYED_HEADER) == "true"


def problem_type(response: func.HttpResponse) -> str:
    return str(json.loads(response.get_body())["type"]).rsplit(":", 1)[-1]


# --- a caller that leaves ------------------------------------------------------------------


async def test_a_caller_cancelled_while_its_attempt_starts_leaves_the_key_its_202(
    host: DurableHost, gate: StartGate, starter: SingletonStarter
) -> None:
    gate.release.clear()
    first = asyncio.ensure_future(call(host, starter, "left"))
    await asyncio.wait_for(gate.arrived.wait(), 5)  # the start is at the host
    first.cancel()  # the caller gives up (a client timeout, a closed connection)
    with pytest.raises(asyncio.CancelledError):
        await first
    gate.release.set()  # ...and the host applies the start after all

    retry = await call(host, starter, "left")

    assert host.started("left") == 1
    assert retry.status_code == 202, retry.get_body()
    assert replayed(retry)
    assert json.loads(retry.get_body())["id"] == "left"
    assert (await call(host, starter, "left")).get_body() == retry.get_body()
    assert host.started("left") == 1


async def test_a_caller_that_times_out_on_a_shared_attempt_leaves_the_key_its_answer(
    host: DurableHost, gate: StartGate, starter: SingletonStarter
) -> None:
    gate.release.clear()
    plain = asyncio.ensure_future(call(host, starter, "shared", key=None))
    await asyncio.wait_for(gate.arrived.wait(), 5)
    # Joins the attempt in flight (same ID, same policy), then times out.
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(call(host, starter, "shared", key="t"), 0.3)
    gate.release.set()
    assert (await plain).status_code == 202

    retry = await call(host, starter, "shared", key="t")

    # The key's answer is what its attempt decided for it: the concurrent start, adopted.
    assert retry.status_code == 409
    assert replayed(retry)
    assert "a concurrent request started" in json.loads(retry.get_body())["detail"]
    assert host.started("shared") == 1


# --- Redis fails between the start and the record -------------------------------------------


@pytest.fixture(scope="module")
def own_redis() -> Iterator[RedisServer]:
    """A redis-server of this module's own, whose memory limit the tests change."""
    with running_redis_server() as server:
        yield server


async def test_a_start_is_202_though_redis_refuses_its_record_and_retries_replay_it(
    own_redis: RedisServer, host: DurableHost, gate: StartGate
) -> None:
    """Redis refuses writes from just after the start: the caller still hears 202, a retry
    in the same process gets that answer at once, and one in another process gets it as soon
    as Redis takes writes again (the answer is written in the background), not after the
    claim's 60 s."""
    clients = [aioredis.from_url(own_redis.url) for _ in range(3)]
    admin = clients[2]
    all_leases = [
        Leases(client, namespace="oom", policy=LeasePolicy(ttl=5.0, wait=0.5))
        for client in clients[:2]
    ]
    here, elsewhere = (SingletonStarter(leases=leases) for leases in all_leases)

    async def out_of_memory() -> None:
        # noeviction and over maxmemory: every write (scripts included) is refused with OOM.
        await admin.config_set("maxmemory", "1")

    gate.after_start = out_of_memory
    try:
        first = await call(host, here, "oom")
        assert first.status_code == 202, first.get_body()  # started: never "nothing started"

        during = await call(host, here, "oom")  # Redis still refuses writes
        assert answer(during) == answer(first)
        assert replayed(during)
        other_body = await call(host, here, "oom", b'{"n": 2}')
        assert other_body.status_code == 422

        await admin.config_set("maxmemory", "0")
        retry = await asyncio.wait_for(call(host, elsewhere, "oom"), 5)

        assert answer(retry) == answer(first)
        assert replayed(retry)
        assert host.started("oom") == 1
        records: IdempotencyRecords = here._idempotency
        await records.wait_idle()
        kept = await admin.hget(records.keys(f"{HUB}/oom").records, "k")
        assert kept is not None
        assert parse_record(kept).decision is not None
    finally:
        await admin.config_set("maxmemory", "0")
        for leases in all_leases:
            await leases.aclose()
        for client in clients:
            await client.aclose()


# --- records this version cannot read --------------------------------------------------------


def records_of(starter: SingletonStarter, instance_id: str) -> str:
    records: IdempotencyRecords = starter._idempotency
    return records.keys(f"{HUB}/{instance_id}").records


@pytest.mark.parametrize(
    "record",
    [
        {"v": RECORD_VERSION + 1, "fingerprint": "f", "answer": {"status": 202}},
        {"v": RECORD_VERSION, "fingerprint": "f", "decision": json.dumps({"v": 99})},
    ],
    ids=["record-version", "decision-version"],
)
async def test_a_record_of_another_version_is_a_503_problem_and_stays(
    host: DurableHost,
    starter: SingletonStarter,
    redis_client: aioredis.Redis,
    record: dict[str, Any],
) -> None:
    stored = json.dumps(record)
    await redis_client.hset(records_of(starter, "newer"), "k", stored)

    response = await call(host, starter, "newer")

    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert problem_type(response) == "idempotency-record-unreadable"
    assert response.mimetype == "application/problem+json"
    assert host.started("newer") == 0
    # The other version's answer is left for it to replay.
    assert await redis_client.hget(records_of(starter, "newer"), "k") == stored.encode()


@pytest.mark.parametrize(
    "damaged",
    [
        b"\xff\xfe not JSON",
        b"[1, 2]",
        b'{"fingerprint": "f", "decision": "x"}',
        b'{"v": 1, "fingerprint": "f", "decision": "not a decision"}',
        b'{"v": 1, "fingerprint": 7, "token": "t"}',
    ],
    ids=["bytes", "array", "no-version", "bad-decision", "bad-fingerprint"],
)
async def test_a_damaged_record_is_replaced_and_the_request_decided_afresh(
    host: DurableHost, starter: SingletonStarter, redis_client: aioredis.Redis, damaged: bytes
) -> None:
    await redis_client.hset(records_of(starter, "damaged"), "k", damaged)

    first = await call(host, starter, "damaged")
    retry = await call(host, starter, "damaged")

    assert first.status_code == 202, first.get_body()
    assert answer(retry) == answer(first)
    assert replayed(retry)
    assert host.started("damaged") == 1
    kept = await redis_client.hget(records_of(starter, "damaged"), "k")
    assert kept is not None
    assert parse_record(kept).decision is not None


# --- a replay is the first answer, byte for byte --------------------------------------------


@pytest.mark.parametrize(
    ("planted", "params"),
    [
        (None, {}),
        (RuntimeStatus.RUNNING, {}),
        (RuntimeStatus.RUNNING, {"conflict": "use-existing"}),
        (RuntimeStatus.COMPLETED, {"reuse": "reject"}),
        (RuntimeStatus.FAILED, {"reuse": "failed-only"}),
    ],
    ids=["started", "already-running", "use-existing", "reuse-rejected", "failed-only-restart"],
)
async def test_a_replay_is_the_first_answer_byte_for_byte(
    host: DurableHost,
    starter: SingletonStarter,
    planted: RuntimeStatus | None,
    params: dict[str, str],
) -> None:
    if planted is not None:
        host.plant("same", planted, WAIT_FOR_FINISH)

    first = await call(host, starter, "same", **params)
    retries = [await call(host, starter, "same", **params) for _ in range(2)]

    assert not replayed(first)
    for retry in retries:
        assert replayed(retry)
        assert answer(retry) == answer(first)


async def test_a_replay_of_an_adopted_answer_keeps_its_detail(
    host: DurableHost, gate: StartGate, starter: SingletonStarter
) -> None:
    gate.release.clear()
    plain = asyncio.ensure_future(call(host, starter, "adopted", key=None))
    await asyncio.wait_for(gate.arrived.wait(), 5)
    keyed = asyncio.ensure_future(call(host, starter, "adopted", key="a"))
    await asyncio.sleep(0.1)  # the keyed caller has claimed its key and joined the attempt
    gate.release.set()
    assert (await plain).status_code == 202
    first = await keyed

    retry = await call(host, starter, "adopted", key="a")

    assert first.status_code == 409
    assert "a concurrent request started" in json.loads(first.get_body())["detail"]
    assert answer(retry) == answer(first)
    assert replayed(retry)
    assert host.started("adopted") == 1


def test_adopted_travels_with_a_decision_and_only_when_true() -> None:
    result = StartResult(
        outcome=Outcome.ALREADY_RUNNING,
        instance_id="x",
        runtime_status=RuntimeStatus.PENDING,
        fence=3,
        adopted=True,
    )
    decision = Decision(StartPolicy(), result)

    assert Decision.from_json(decision.to_json()).result == result
    own = Decision(
        StartPolicy(), StartResult(outcome=Outcome.STARTED, instance_id="x", runtime_status=None)
    )
    assert "adopted" not in json.loads(own.to_json())  # the follow message keeps its shape
    with pytest.raises(ValueError, match="not a start decision"):
        Decision.from_json(decision.to_json().replace("true", '"yes"'))


# --- records bounded: per instance ID, and by a TTL ------------------------------------------


async def test_at_the_bound_the_oldest_key_of_the_id_is_dropped_and_decides_afresh(
    host: DurableHost, leases: Leases, redis_client: aioredis.Redis
) -> None:
    records = IdempotencyRecords(redis_client, namespace=leases.namespace, max_keys=3)
    starter = SingletonStarter(leases=leases, idempotency=records)
    use_existing = {"conflict": "use-existing"}
    firsts = [await call(host, starter, "bounded", key=f"k{n}", **use_existing) for n in range(4)]
    other = await call(host, starter, "elsewhere", key="k0")  # another ID: its own records

    keys = records.keys(f"{HUB}/bounded")
    assert await redis_client.hlen(keys.records) == 3
    assert await redis_client.zcard(keys.order) == 3
    assert await redis_client.zcard(keys.expiry) == 3
    for n in (1, 2, 3):  # kept: replayed
        retry = await call(host, starter, "bounded", key=f"k{n}", **use_existing)
        assert replayed(retry)
        assert answer(retry) == answer(firsts[n])
    dropped = await call(host, starter, "bounded", key="k0", **use_existing)
    assert not replayed(dropped)  # decided afresh: the instance this key started is running
    assert dropped.status_code == 200
    assert firsts[0].status_code == 202
    assert replayed(await call(host, starter, "elsewhere", key="k0"))
    assert other.status_code == 202
    assert host.started("bounded") == 1
    assert await redis_client.hlen(keys.records) == 3  # k0 came back; k1 went

    # Redis evicts the order (volatile-lru may pick any key with a TTL): the next new key of
    # the ID drops the records it could no longer bound.
    await redis_client.delete(keys.order)
    await call(host, starter, "bounded", key="k9", **use_existing)
    assert await redis_client.hkeys(keys.records) == [b"k9"]
    assert not replayed(await call(host, starter, "bounded", key="k2", **use_existing))
    assert host.started("bounded") == 1


async def test_the_ttl_and_the_bound_come_from_app_settings_and_records_expire(
    host: DurableHost, redis_server: RedisServer, redis_client: aioredis.Redis
) -> None:
    settings = Settings.from_environ(
        {
            "REDIS_URL": redis_server.url,
            "SINGLETON_KEY_PREFIX": "ttl",
            "SINGLETON_IDEMPOTENCY_TTL": "1",
            "SINGLETON_IDEMPOTENCY_MAX_KEYS_PER_INSTANCE": "2",
        }
    )
    runtime = _build(settings)
    starter = runtime.starter
    try:
        records: IdempotencyRecords = starter._idempotency
        assert (records.ttl, records.max_keys) == (1.0, 2)
        use_existing = {"conflict": "use-existing"}
        first = await call(host, starter, "short", **use_existing)
        keys = records.keys(f"{HUB}/short")
        assert 0 < await redis_client.pttl(keys.records) <= 1000  # as long as its record
        assert replayed(await call(host, starter, "short", **use_existing))

        for _ in range(100):  # the record expires with its TTL...
            if not await redis_client.exists(keys.records, keys.order, keys.expiry):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the records outlived their TTL")
        again = await call(host, starter, "short", **use_existing)

        assert first.status_code == 202
        assert again.status_code == 200  # ...and the key decides afresh
        assert not replayed(again)
        assert host.started("short") == 1
    finally:
        await runtime.aclose()


def test_idempotency_settings_have_defaults_and_refuse_nonsense() -> None:
    base = {"REDIS_URL": "redis://localhost:6379/0"}
    defaults = Settings.from_environ(base)
    assert defaults.idempotency_ttl == 24 * 3600
    assert defaults.idempotency_max_keys_per_instance == 100
    for name, value in [
        ("SINGLETON_IDEMPOTENCY_TTL", "0"),
        ("SINGLETON_IDEMPOTENCY_TTL", "a day"),
        ("SINGLETON_IDEMPOTENCY_TTL", "nan"),
        ("SINGLETON_IDEMPOTENCY_MAX_KEYS_PER_INSTANCE", "0"),
        ("SINGLETON_IDEMPOTENCY_MAX_KEYS_PER_INSTANCE", "1.5"),
    ]:
        with pytest.raises(ConfigurationError, match=name):
            Settings.from_environ({**base, name: value})


@pytest.fixture(scope="module")
def cluster() -> Iterator[list[RedisServer]]:
    with running_cluster() as nodes:
        yield nodes


async def test_the_records_scripts_run_on_redis_cluster_in_the_instances_slot(
    cluster: list[RedisServer],
) -> None:
    settings = RedisSettings.from_environ(
        {"REDIS_URL": f"redis://127.0.0.1:{cluster[0].port}", "REDIS_CLUSTER": "true"}
    )
    client = create_redis_client(settings)
    assert isinstance(client, RedisCluster)
    records = IdempotencyRecords(client, namespace="cluster", max_keys=2)
    decision = Decision(
        StartPolicy(),
        StartResult(outcome=Outcome.STARTED, instance_id="x", runtime_status=None, fence=1),
    )
    try:
        names = [f"{HUB}/id-{n}" for n in range(6)]  # spread over the three masters
        slots = {key_slot(records.keys(name).records.encode()) for name in names}
        assert len(slots) > 1
        for name in names:
            for key in ("a", "b", "c"):
                claim = await records.claim(name, key, "print", wait=0)
                assert isinstance(claim, Claim)
                await records.complete(claim, "print", decision)
            # The bound dropped "a"; "b" and "c" replay.
            assert await records.claim(name, "c", "print", wait=0) == decision
            assert await records.claim(name, "b", "print", wait=0) == decision
            assert isinstance(await records.claim(name, "a", "print", wait=0), Claim)
    finally:
        await client.aclose()
