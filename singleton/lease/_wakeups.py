"""Push wake-ups for waiters of busy leases.

The release script publishes on the lease's channel. One subscriber connection per
``Leases`` (on Redis Cluster: one per node, with sharded SSUBSCRIBE, since a shard channel
is served by the node owning its slot) carries every channel that has waiters, and wakes
all of a channel's waiters on each message, except a hand-off (``next <token>``: the waiter
first in line, see ACQUIRE's fair waiting; ``next <token> <fence> <until>``: the lease handed
to it, see QUEUE's grant), which wakes that waiter only.

One task owns each subscriber connection and is the only code that touches it: it sends
every SUBSCRIBE, UNSUBSCRIBE and PING and reads every reply and message. Waiters only
register and unregister in memory (synchronously, so neither an exception nor a
cancellation can leave a half-made subscription behind) and poke the owner. So:

* no two coroutines ever read the connection at once: redis-py's own health check (a PING
  and a read, fired by a command after an idle spell) is off for this connection, and the
  owner probes it instead, with a PING it reads itself;
* a dead connection is noticed by a round trip: every command the owner sends must be
  answered within ``reply_within`` (SUBSCRIBE confirmations included), and an idle
  connection is PINGed every ``probe_every`` while it carries channels (every 30 s
  otherwise; Azure drops connections idle for ~10 minutes). A half-open connection (a
  NAT or load balancer dropped it silently) is thus replaced within about two probes;
* any failure of the connection (an error, a missing reply) closes it, wakes every waiter
  (a release may have gone unseen), and the owner connects again with capped backoff,
  subscribing whatever has waiters then.

Wake-ups are an optimisation, never the only way out: a waiter waits for its
subscription's confirmation no longer than its fallback nap, and then wakes at the
holder's remaining TTL or after ``wake_fallback`` at the latest, so a lost message, a
refused subscription or a dead connection delays a waiter but never strands it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from singleton.lease._bounded import bounded

logger = logging.getLogger(__name__)

#: How the release script's message starts when the holder settled the lease with a result.
SETTLED_PREFIX = b"settled "
#: How a release's message to the first waiter in line starts (``b"next <token>"``).
NEXT_PREFIX = b"next "
_MAX_BACKOFF = 1.0
#: How often a connection that carries no channel is PINGed.
_IDLE_PROBE_EVERY = 30.0
#: A connect (TCP, TLS, AUTH) taking longer than this is given up and tried again.
_CONNECT_WITHIN = 10.0
#: The owner's read returns at least this often even when nothing arrives.
_READ_SLICE = 60.0


class Signal:
    """One waiter's view of its channel: set by each release and by every failure of the
    connection; the waiter clears it before each try."""

    __slots__ = ("_event", "_next", "_subscribed", "granted", "settled")

    def __init__(self, subscribed: asyncio.Event, token: str | None = None) -> None:
        self._event = asyncio.Event()
        self._subscribed = subscribed
        #: ``b"next <token>"`` wakes only the waiter in line with that token;
        #: ``b"next <token> <fence> <until>"`` also hands it the lease.
        self._next = None if token is None else NEXT_PREFIX + token.encode()
        #: The latest release message that carried a settled result (``b"settled <fence>
        #: <result>"``); a later plain ``b"released"`` does not replace it.
        self.settled: bytes | None = None
        #: ``(fence, until)`` once a release handed this waiter the lease (QUEUE's grant):
        #: ours, with that fence, until then (ms, server clock).
        self.granted: tuple[int, int] | None = None

    def set(self, message: bytes | None = None) -> None:
        if message is not None:
            if message.startswith(NEXT_PREFIX):
                if message != self._next:
                    if self._next is None or not message.startswith(self._next + b" "):
                        return  # another waiter's turn
                    self.granted = _grant_of(message[len(self._next) + 1 :])
            elif message.startswith(SETTLED_PREFIX):
                self.settled = message
        self._event.set()

    def clear(self) -> None:
        self._event.clear()

    async def wait(self, timeout: float) -> bool:
        """True when woken, False after ``timeout`` seconds."""
        return await _wait_event(self._event, timeout)

    async def subscribed(self, timeout: float) -> bool:
        """Wait until Redis confirmed the channel's subscription (from then on no release can
        slip past unseen), the connection failed, or ``timeout`` passed; True if confirmed
        or the connection failed (both mean: try again now)."""
        return await _wait_event(self._subscribed, timeout)


def _grant_of(rest: bytes) -> tuple[int, int] | None:
    """``b"<fence> <until>"`` of a grant as ints; None if malformed (the waiter then tries, and
    its try finds the lease its own)."""
    fence, _, until = rest.partition(b" ")
    try:
        return int(fence), int(until)
    except ValueError:
        return None


async def _wait_event(event: asyncio.Event, timeout: float) -> bool:
    if event.is_set():
        return True
    try:
        await bounded(event.wait(), timeout)
    except asyncio.TimeoutError:
        return False
    return True


class _ConnectionDead(Exception):
    """A command sent on the subscriber connection was not answered in time."""


class _Subscriber:
    """One pub/sub connection, the task that owns it, and the waiters of its channels."""

    def __init__(
        self,
        client: Redis,
        *,
        sharded: bool,
        probe_every: float,
        reply_within: float,
    ) -> None:
        self._client = client
        self._pubsub: Any = client.pubsub()  # redis-py leaves PubSub untyped
        self._sharded = sharded
        self._probe_every = probe_every
        self._reply_within = reply_within
        self._waiters: dict[str, set[Signal]] = {}
        #: Per channel with waiters: set once its subscription is confirmed (or the
        #: connection failed, releasing whoever waits for the confirmation).
        self._confirmations: dict[str, asyncio.Event] = {}
        #: Channels subscribed and confirmed on the live connection.
        self._live: set[str] = set()
        self._poke: asyncio.Future[None] | None = None
        self._owner: asyncio.Task[None] | None = None

    # -- the waiters' side: in memory only, never an await ---------------------------------

    def add(self, channel: str, token: str | None = None) -> Signal:
        confirmation = self._confirmations.get(channel)
        if confirmation is None:
            confirmation = self._confirmations[channel] = asyncio.Event()
            if channel in self._live:
                confirmation.set()
        signal = Signal(confirmation, token)
        self._waiters.setdefault(channel, set()).add(signal)
        self._wake_owner()
        return signal

    def remove(self, channel: str, signal: Signal) -> None:
        signals = self._waiters.get(channel)
        if signals is None:
            return
        signals.discard(signal)
        if not signals:
            del self._waiters[channel]
            self._confirmations.pop(channel, None)
            self._wake_owner()

    def _wake_owner(self) -> None:
        if self._owner is None or self._owner.done():
            self._owner = asyncio.get_running_loop().create_task(
                self._own(), name="singleton lease wake-ups"
            )
        if self._poke is not None and not self._poke.done():
            self._poke.set_result(None)

    # -- the owner's side: the only code that touches the connection ------------------------

    async def _own(self) -> None:
        failures = 0
        while True:  # until aclose() cancels it; every failure backs off (capped)
            try:
                await self._serve()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure at all must heal, not kill the owner
                failures += 1
                logger.warning(
                    "lease wake-up connection failed (%d in a row), reconnecting: %s: %s",
                    failures,
                    type(exc).__name__,
                    exc,
                )
            await self._drop_connection()
            await asyncio.sleep(min(_MAX_BACKOFF, 0.01 * 2**failures))
            if failures and not self._waiters:
                failures = 0  # nothing to serve: the next waiter starts afresh

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._waiters:  # connect only once someone waits
            await self._poked()
        await bounded(self._pubsub.connect(), _CONNECT_WITHIN)
        subscribed: set[str] = set()
        unconfirmed: collections.Counter[str] = collections.Counter()
        sent_at: collections.deque[float] = collections.deque()  # commands awaiting replies
        heard_at = loop.time()
        reader: asyncio.Task[Any] | None = None
        try:
            while True:
                poke = self._poke = loop.create_future()
                for channel in [c for c in self._waiters if c not in subscribed]:
                    await self._send("SSUBSCRIBE" if self._sharded else "SUBSCRIBE", channel)
                    subscribed.add(channel)
                    unconfirmed[channel] += 1
                    sent_at.append(loop.time())
                for channel in [c for c in subscribed if c not in self._waiters]:
                    if channel in self._waiters:
                        continue  # a waiter came while an earlier command was being sent
                    # Not live from now on, before the await: a waiter that registers while
                    # the UNSUBSCRIBE is sent must wait for the next SUBSCRIBE's confirmation,
                    # not be told "subscribed" while Redis drops the subscription.
                    subscribed.discard(channel)
                    self._live.discard(channel)
                    await self._send("SUNSUBSCRIBE" if self._sharded else "UNSUBSCRIBE", channel)
                    sent_at.append(loop.time())
                probe_every = self._probe_every if subscribed else _IDLE_PROBE_EVERY
                now = loop.time()
                if not sent_at and now - heard_at >= probe_every:
                    await self._send("PING")
                    sent_at.append(now)
                if sent_at:
                    deadline = sent_at[0] + self._reply_within
                    if now >= deadline:
                        raise _ConnectionDead(
                            f"no reply within {self._reply_within} s on the wake-up connection"
                        )
                else:
                    deadline = heard_at + probe_every
                if reader is None:
                    reader = loop.create_task(self._pubsub.get_message(timeout=_READ_SLICE))
                done, _ = await asyncio.wait(
                    {reader, poke}, timeout=deadline - now, return_when=asyncio.FIRST_COMPLETED
                )
                if reader not in done:
                    continue
                message, reader = reader.result(), None
                if message is None:
                    continue
                heard_at = loop.time()
                kind = _text(message["type"])
                if kind in ("message", "smessage"):
                    self._deliver(_text(message["channel"]), message["data"])
                    continue
                if sent_at:
                    sent_at.popleft()  # replies come in the order their commands were sent
                if kind in ("subscribe", "ssubscribe"):
                    channel = _text(message["channel"])
                    unconfirmed[channel] -= 1
                    if unconfirmed[channel] <= 0:
                        del unconfirmed[channel]
                        if channel in subscribed:
                            self._confirm(channel)
        finally:
            self._poke = None
            if reader is not None:
                reader.cancel()
                # Its outcome does not matter; our own cancellation, if any, must propagate.
                await asyncio.wait({reader})

    async def _poked(self) -> None:
        poke = self._poke = asyncio.get_running_loop().create_future()
        try:
            await poke
        finally:
            self._poke = None

    async def _send(self, *command: str) -> None:
        # Bounded: a full send buffer on a dead connection must not hold the owner.
        await bounded(self._pubsub.execute_command(*command), self._reply_within)

    def _confirm(self, channel: str) -> None:
        self._live.add(channel)
        confirmation = self._confirmations.get(channel)
        if confirmation is not None:
            confirmation.set()

    def _deliver(self, channel: str, data: Any) -> None:
        payload = data if isinstance(data, bytes) else str(data).encode()
        for signal in self._waiters.get(channel, ()):
            signal.set(payload)

    async def _drop_connection(self) -> None:
        """Close the connection; release every waiter (a release may have gone unseen)."""
        self._live.clear()
        for channel, confirmation in list(self._confirmations.items()):
            confirmation.set()  # nobody waits for a confirmation that will not come
            self._confirmations[channel] = asyncio.Event()  # the next connection's
        for signals in self._waiters.values():
            for signal in signals:
                signal.set()
        with contextlib.suppress(Exception):
            await self._pubsub.aclose()  # forgets its channels; the next connect is fresh

    async def aclose(self) -> None:
        if self._owner is not None:
            self._owner.cancel()
            await asyncio.wait({self._owner})
        with contextlib.suppress(Exception):
            await self._pubsub.aclose()
        with contextlib.suppress(Exception):
            await self._client.aclose()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _dedicated_client(connection_class: Any, connection_kwargs: dict[str, Any]) -> Redis:
    """A client of its own for the subscriber connection: redis-py's health check and retries
    off (the owner probes and reconnects itself), everything else as the lease client's."""
    options = dict(connection_kwargs)
    options.update(health_check_interval=0, retry=Retry(NoBackoff(), 0))
    pool = ConnectionPool(connection_class=connection_class, **options)
    return Redis.from_pool(pool)  # closing the client closes the pool


class WakeUps:
    """Hands out :class:`Signal` s for lease channels, fed by shared subscriber connections."""

    def __init__(self, client: Any, *, probe_every: float = 1.0, reply_within: float = 1.0) -> None:
        self._client = client
        self._sharded = isinstance(client, RedisCluster)
        self._probe_every = probe_every
        self._reply_within = reply_within
        self._subscribers: dict[str, _Subscriber] = {}

    @contextlib.contextmanager
    def watch(self, channel: str, token: str | None = None) -> Iterator[Signal]:
        """A signal set on each release of ``channel`` while the block runs (a hand-off to
        the first in line, ``next <token>``, only for the waiter with that ``token``).
        Subscribing happens in the background: ``await signal.subscribed(timeout)`` to wait
        for it."""
        subscriber = self._subscriber_for(channel)
        signal = subscriber.add(channel, token)
        try:
            yield signal
        finally:
            subscriber.remove(channel, signal)

    def _subscriber_for(self, channel: str) -> _Subscriber:
        if not self._sharded:
            node_name, pool = "", self._client.connection_pool
            connection_class, connection_kwargs = pool.connection_class, pool.connection_kwargs
        else:
            # A shard channel lives on the node that owns its slot: one connection per node.
            node = self._client.get_node_from_key(channel)
            node_name = node.name
            connection_class, connection_kwargs = node.connection_class, node.connection_kwargs
        subscriber = self._subscribers.get(node_name)
        if subscriber is None:
            subscriber = _Subscriber(
                _dedicated_client(connection_class, connection_kwargs),
                sharded=self._sharded,
                probe_every=self._probe_every,
                reply_within=self._reply_within,
            )
            self._subscribers[node_name] = subscriber
        return subscriber

    async def aclose(self) -> None:
        subscribers, self._subscribers = list(self._subscribers.values()), {}
        for subscriber in subscribers:
            await subscriber.aclose()
