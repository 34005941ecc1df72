"""The one pending run of an instance ID, kept in Redis (``conflict=queue-next``).

A start under ``queue-next`` that finds the instance active keeps its request here as the
ID's *one* pending run — Temporal's BUFFER_ONE: the first queued request wins, a later one is
refused (``next-already-queued``) and told which run is pending. When the active instance has
finished, the next holder of the ID's lease (a start request of any policy, or the watchdog's
tick through :meth:`SingletonStarter.start_pending`) starts the pending run with its input and
then deletes the record, still under the lease, so it starts once.

Layout, in the instance's lease slot (same ``{=hub/id}`` hash tag as its lease keys: one Redis
Cluster slot, every key in KEYS)::

    durable-singleton:{=MyHub%2Fx}:pending    string: the pending run (JSON), with a TTL

The record expires after ``ttl`` (24 h by default): a run still pending then is dropped,
logged by whoever finds it gone (nobody can: Redis just forgets it) — so choose a TTL longer
than your instances run. A record of another version is left alone and reported as
unreadable (it is never started by this version).
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import time
from typing import Any

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError

from singleton._errors import LeaseUnavailable
from singleton.lease._keys import escape, unescape

#: How long a pending run waits for its turn before Redis forgets it.
DEFAULT_TTL = 24 * 3600.0
RECORD_VERSION = 1
_SCAN_BATCH = 500

_REDIS_ERRORS = (RedisError, OSError)

# KEYS[1] the pending key. ARGV[1] the record, ARGV[2] its TTL in ms.
# Returns false when queued; the record already pending otherwise (untouched).
QUEUE = """
local existing = redis.call('GET', KEYS[1])
if existing then return existing end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
"""

# KEYS[1] the pending key. ARGV[1] the run's id, or '' for whichever is pending.
# Returns the deleted record, or false when no such run was pending.
DROP = """
local existing = redis.call('GET', KEYS[1])
if not existing then return false end
if ARGV[1] ~= '' then
  local ok, record = pcall(cjson.decode, existing)
  if not ok or type(record) ~= 'table' or record['id'] ~= ARGV[1] then return false end
end
redis.call('DEL', KEYS[1])
return existing
"""


class PendingRecordUnreadable(ValueError):
    """The pending record is not one this version wrote (another version, or damaged)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class PendingRun:
    """A start kept for when the active instance finishes."""

    id: str
    """A random name of this queued request (answers and the admin endpoint name it)."""
    lease_name: str
    """``hub/instanceId``."""
    orchestrator: str
    input: Any
    reuse: str
    """The queued request's reuse policy, applied when the run starts."""
    queued_at: float
    """Unix time, seconds."""

    @property
    def hub(self) -> str:
        return self.lease_name.split("/", 1)[0]

    @property
    def instance_id(self) -> str:
        return self.lease_name.split("/", 1)[1]

    def to_json(self) -> str:
        return json.dumps(
            {
                "v": RECORD_VERSION,
                "id": self.id,
                "name": self.lease_name,
                "orchestrator": self.orchestrator,
                "input": self.input,
                "reuse": self.reuse,
                "queuedAt": self.queued_at,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> PendingRun:
        try:
            data: Any = json.loads(text)
            if data.get("v") != RECORD_VERSION:
                raise PendingRecordUnreadable(f"pending record of version {data.get('v')!r}")
            return cls(
                id=str(data["id"]),
                lease_name=str(data["name"]),
                orchestrator=str(data["orchestrator"]),
                input=data["input"],
                reuse=str(data["reuse"]),
                queued_at=float(data["queuedAt"]),
            )
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, PendingRecordUnreadable):
                raise
            raise PendingRecordUnreadable(f"not a pending record: {text[:200]!r}") from exc

    def describe(self) -> dict[str, Any]:
        """The run as the answers and the admin listing show it (the input included)."""
        return {
            "id": self.id,
            "name": self.lease_name,
            "instanceId": self.instance_id,
            "orchestrator": self.orchestrator,
            "input": self.input,
            "queuedAt": self.queued_at,
        }


def pending_key(namespace: str, lease_name: str) -> str:
    """The key of ``lease_name``'s pending run (its lease's hash tag)."""
    return f"{escape(namespace)}:{{={escape(lease_name)}}}:pending"


def _name_of_key(namespace: str, key: str) -> str | None:
    head, tail = f"{escape(namespace)}:{{=", "}:pending"
    if not key.startswith(head) or not key.endswith(tail):
        return None
    return unescape(key[len(head) : -len(tail)])


def new_run(lease_name: str, orchestrator: str, client_input: Any, reuse: str) -> PendingRun:
    """A pending run for the request, named at random. ``TypeError`` for an input that is
    not JSON-serialisable (nothing queued)."""
    run = PendingRun(
        id=secrets.token_hex(8),
        lease_name=lease_name,
        orchestrator=orchestrator,
        input=client_input,
        reuse=reuse,
        queued_at=time.time(),
    )
    run.to_json()  # fail now, not in Redis
    return run


class PendingRuns:
    """The pending runs in ``namespace`` of one Redis (a client or a cluster client)."""

    def __init__(self, client: Any, *, namespace: str, ttl: float = DEFAULT_TTL) -> None:
        if not ttl > 0:
            raise ValueError(f"the pending runs' TTL must be positive, got {ttl!r}")
        self._client = client
        self.namespace = namespace
        self.ttl = ttl

    def _key(self, lease_name: str) -> str:
        return pending_key(self.namespace, lease_name)

    async def queue(self, run: PendingRun) -> PendingRun | None:
        """Keep ``run`` as its ID's pending run: ``None`` when queued, else the run already
        pending (untouched; ``run`` is not kept). Raises LeaseUnavailable, or
        PendingRecordUnreadable when the pending record is another version's."""
        key = self._key(run.lease_name)
        try:
            existing = await self._client.eval(
                QUEUE, 1, key, run.to_json(), max(1, int(self.ttl * 1000))
            )
        except _REDIS_ERRORS as exc:
            raise LeaseUnavailable(f"Redis failed to queue the next run of {key!r}: {exc}") from exc
        return None if existing is None else PendingRun.from_json(existing)

    async def get(self, lease_name: str) -> PendingRun | None:
        """The ID's pending run, or ``None``. Raises LeaseUnavailable or
        PendingRecordUnreadable."""
        key = self._key(lease_name)
        try:
            raw = await self._client.get(key)
        except _REDIS_ERRORS as exc:
            raise LeaseUnavailable(f"Redis failed to read {key!r}: {exc}") from exc
        return None if raw is None else PendingRun.from_json(raw)

    async def drop(self, lease_name: str, run_id: str | None = None) -> PendingRun | str | None:
        """Delete the ID's pending run (only if it is ``run_id``, when given): the run deleted,
        or ``None`` when there was none (or another one is pending). A record this version
        cannot read is deleted too when no ``run_id`` is given; then ``lease_name`` is
        returned in its place."""
        key = self._key(lease_name)
        try:
            raw = await self._client.eval(DROP, 1, key, run_id or "")
        except _REDIS_ERRORS as exc:
            raise LeaseUnavailable(f"Redis failed to drop {key!r}: {exc}") from exc
        if raw is None:
            return None
        try:
            return PendingRun.from_json(raw)
        except PendingRecordUnreadable:
            return lease_name

    async def list(self) -> list[PendingRun | str]:
        """Every pending run in the namespace, by name; the lease name alone for a record
        this version cannot read. A snapshot (``SCAN``, on every primary of a cluster)."""
        client = self._client
        pattern = f"{escape(self.namespace)}:{{=*}}:pending"
        try:
            if isinstance(client, RedisCluster):
                found = client.scan_iter(
                    match=pattern, count=_SCAN_BATCH, target_nodes=RedisCluster.PRIMARIES
                )
            else:
                found = client.scan_iter(match=pattern, count=_SCAN_BATCH)
            names: dict[str, str] = {}
            async for raw in found:  # SCAN may return a key twice
                key = raw.decode() if isinstance(raw, bytes) else str(raw)
                name = _name_of_key(self.namespace, key)
                if name is not None:
                    names[key] = name
            runs: list[PendingRun | str] = []
            for key in sorted(names, key=names.__getitem__):
                value = await client.get(key)
                if value is None:
                    continue  # started or dropped meanwhile
                try:
                    runs.append(PendingRun.from_json(value))
                except PendingRecordUnreadable:
                    runs.append(names[key])
        except _REDIS_ERRORS as exc:
            raise LeaseUnavailable(f"Redis failed to list the pending runs: {exc}") from exc
        return runs
