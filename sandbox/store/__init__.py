"""Where sessions' state lives: memory (one process, the default) or Redis (workers and replicas)."""
from __future__ import annotations

from sandbox.store.protocol import Store, SyncStore
from sandbox.store.state import SessionState, Tx

__all__ = ["SessionState", "Store", "SyncStore", "Tx", "open_store"]


def open_store(url: str | None, **options) -> Store:
    """`None` or `memory` for the in-process store, `redis://host:port/db` for Redis,
    `redis+cluster://host:port[,host:port...]` for a Redis Cluster."""
    if url in (None, "", "memory"):
        from sandbox.store.memory import MemoryStore

        return MemoryStore(**options)
    if url.startswith(("redis://", "rediss://", "unix://")):
        from sandbox.store.redis import RedisStore

        return RedisStore(url, **options)
    if url.startswith(("redis+cluster://", "rediss+cluster://")):
        from sandbox.store.cluster import ClusterStore, parse

        parse(url)  # a malformed URL fails here, at start-up
        return ClusterStore(url, **options)
    raise ValueError(f"unknown store {url!r}: use memory, redis://host:port/db or "
                     "redis+cluster://host:port[,host:port...]")
