"""Push wake-ups for waiters of busy leases.

The release script publishes on the lease's channel. One subscriber connection per
``Leases`` (on Redis Cluster: one per node, with sharded SSUBSCRIBE, since a shard
channel is served by the node owning its slot) multiplexes every channel that has
waiters, and wakes ALL of a channel's waiters on each message. A channel is subscribed
while it has a waiter and unsubscribed when its last waiter leaves.

Wake-ups are an optimisation, never the only way out: a waiter also wakes at the
holder's remaining TTL and after ``wake_fallback`` at the latest, so a lost message (a
reconnect, a slot migration, a subscribe that failed) delays it but never strands it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.cluster import RedisCluster

from singleton.lease._store import REDIS_ERRORS

logger = logging.getLogger(__name__)

_MAX_LISTENER_BACKOFF = 1.0
#: The listener returns to redis-py this often even when no message comes, so the client's
#: health check can PING the pub/sub connection (Azure drops connections idle ~10 minutes).
_LISTEN_SLICE = 30.0


class Signal:
    """Set when the watched lease is released; the waiter clears it before each try."""

    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def set(self) -> None:
        self._event.set()

    def clear(self) -> None:
        self._event.clear()

    async def wait(self, timeout: float) -> bool:
        """True when woken, False after ``timeout`` seconds."""
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except TimeoutError:
            return False
        return True


class _Subscriber:
    """One pub/sub connection and the waiters of the channels it carries."""

    def __init__(self, pubsub: Any, *, sharded: bool, owned_client: Redis | None) -> None:
        self._pubsub = pubsub
        self._sharded = sharded
        self._owned_client = owned_client
        self._signals: dict[str, set[Signal]] = {}
        self._confirmations: dict[str, asyncio.Future[None]] = {}
        # Keeps SUBSCRIBE/UNSUBSCRIBE in the same order on the wire as in _signals.
        self._commands = asyncio.Lock()
        self._listener: asyncio.Task[None] | None = None

    async def add(self, channel: str, signal: Signal, timeout: float) -> None:
        async with self._commands:
            signals = self._signals.get(channel)
            if signals is None:
                confirmation = await self._subscribe(channel, signal)
            else:
                signals.add(signal)
                confirmation = self._confirmations.get(channel)  # None once confirmed
        if confirmation is not None:
            # Only once Redis confirms the subscription can no release slip past unseen.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(confirmation), timeout)

    async def _subscribe(self, channel: str, signal: Signal) -> asyncio.Future[None] | None:
        """Subscribe to ``channel`` for its first waiter; the confirmation to wait for, or None
        if Redis refused (the waiter then relies on its fallback timers)."""
        self._signals[channel] = {signal}
        confirmation: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._confirmations[channel] = confirmation
        try:
            if self._sharded:
                await self._pubsub.ssubscribe(channel)
            else:
                await self._pubsub.subscribe(channel)
        except REDIS_ERRORS as exc:
            # The acquisition itself reports Redis trouble; waiting degrades to the timers.
            logger.warning("could not subscribe to %r, waiting without push: %r", channel, exc)
            self._confirmations.pop(channel, None)
            return None
        self._start_listener()
        return confirmation

    async def remove(self, channel: str, signal: Signal) -> None:
        async with self._commands:
            signals = self._signals.get(channel)
            if signals is None:
                return
            signals.discard(signal)
            if signals:
                return
            del self._signals[channel]
            self._confirmations.pop(channel, None)
            try:
                if self._sharded:
                    await self._pubsub.sunsubscribe(channel)
                else:
                    await self._pubsub.unsubscribe(channel)
            except REDIS_ERRORS as exc:
                logger.warning("could not unsubscribe from %r: %r", channel, exc)

    def _start_listener(self) -> None:
        if self._listener is None or self._listener.done():
            self._listener = asyncio.get_running_loop().create_task(self._listen())

    async def _listen(self) -> None:
        failures = 0
        while True:  # until aclose() cancels it; every failure backs off (capped)
            try:
                message = await self._pubsub.get_message(timeout=_LISTEN_SLICE)
            except REDIS_ERRORS as exc:
                failures += 1
                logger.warning("pub/sub connection failed (%d in a row): %r", failures, exc)
                # A release may have been missed: let every waiter try again now.
                for signals in self._signals.values():
                    for signal in signals:
                        signal.set()
                await asyncio.sleep(min(_MAX_LISTENER_BACKOFF, 0.01 * 2**failures))
                continue
            failures = 0
            if message is not None:
                self._dispatch(message)

    def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        channel = message["channel"]
        if isinstance(channel, bytes):
            channel = channel.decode()
        if isinstance(kind, bytes):
            kind = kind.decode()
        if kind in ("message", "smessage"):
            for signal in self._signals.get(channel, ()):
                signal.set()
        elif kind in ("subscribe", "ssubscribe"):
            confirmation = self._confirmations.pop(channel, None)
            if confirmation is not None and not confirmation.done():
                confirmation.set_result(None)

    async def aclose(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        with contextlib.suppress(*REDIS_ERRORS):
            await self._pubsub.aclose()
        if self._owned_client is not None:
            with contextlib.suppress(*REDIS_ERRORS):
                await self._owned_client.aclose()


class WakeUps:
    """Hands out :class:`Signal` s for lease channels, fed by shared subscriber connections."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._sharded = isinstance(client, RedisCluster)
        self._subscribers: dict[str, _Subscriber] = {}

    @contextlib.asynccontextmanager
    async def watch(self, channel: str, *, timeout: float) -> AsyncIterator[Signal]:
        """A signal set on each release of ``channel``, subscribed (confirmed, or ``timeout``
        elapsed) before it is handed out."""
        subscriber = self._subscriber_for(channel)
        signal = Signal()
        await subscriber.add(channel, signal, timeout)
        try:
            yield signal
        finally:
            await subscriber.remove(channel, signal)

    def _subscriber_for(self, channel: str) -> _Subscriber:
        if not self._sharded:
            subscriber = self._subscribers.get("")
            if subscriber is None:
                subscriber = _Subscriber(self._client.pubsub(), sharded=False, owned_client=None)
                self._subscribers[""] = subscriber
            return subscriber
        # A shard channel lives on the node that owns its slot: one connection per node.
        node = self._client.get_node_from_key(channel)
        subscriber = self._subscribers.get(node.name)
        if subscriber is None:
            pool = ConnectionPool(connection_class=node.connection_class, **node.connection_kwargs)
            node_client = Redis.from_pool(pool)  # closing the client closes the pool
            subscriber = _Subscriber(node_client.pubsub(), sharded=True, owned_client=node_client)
            self._subscribers[node.name] = subscriber
        return subscriber

    async def aclose(self) -> None:
        subscribers, self._subscribers = list(self._subscribers.values()), {}
        for subscriber in subscribers:
            await subscriber.aclose()
