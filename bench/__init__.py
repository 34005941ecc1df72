"""Benchmarks of the Redis lease (``python -m bench``; not a test).

Measured in one run, on loopback, against a redis-server the run starts itself, so every
ratio is against a baseline measured minutes apart on the same machine:

- uncontended acquire+release: our lease vs the 2-round-trip floor (raw ``SET NX PX`` +
  Lua compare-and-delete), redis.asyncio ``Lock`` and python-redis-lock;
- hand-off: release to a blocked waiter's acquisition (ours vs redis-py ``Lock`` polling
  every 0.1 s / 0.01 s vs python-redis-lock's BLPOP);
- Redis commands per acquisition, from ``INFO commandstats``.
"""
