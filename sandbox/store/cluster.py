"""The Redis store on a Redis Cluster: no script crosses a slot, so what spans sessions (a
tenant's index with its eviction, the senders' wake-up index) follows in steps of its own
that can run again safely."""
from __future__ import annotations

import asyncio
import logging
import time
from urllib.parse import unquote

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError, RedisClusterException
from redis.retry import Retry

from sandbox import errors
from sandbox.store.base import split_sid
from sandbox.store.redis import TIMEOUT, RedisStore
from sandbox.store.redis_units import _score

log = logging.getLogger("sandbox")
SCHEMES = ("redis+cluster://", "rediss+cluster://")
SYNC_ATTEMPTS = 8   # looks at a session changing under a sender before it leaves the index early
IDLE_MARGIN = 60    # seconds an idle session's entry outlives its keys (expired entries go first all the same)


def parse(url: str) -> dict:
    """RedisCluster's keywords from `redis+cluster://[user:password@]host:port[,host:port...]`
    (`rediss+cluster://` for TLS): any of the nodes is enough, the rest are found."""
    scheme, _, rest = url.partition("://")
    if scheme + "://" not in SCHEMES:
        raise ValueError(f"not a cluster URL: {url!r}")
    userinfo, _, rest = rest.rpartition("@")
    hosts, _, path = rest.partition("/")
    if path not in ("", "0"):
        raise ValueError("a Redis Cluster has only database 0: drop the /N from the URL")
    nodes = []
    for host in hosts.split(","):
        name, _, port = host.rpartition(":")
        if not name or not port.isdigit():
            raise ValueError(f"a cluster node is host:port, not {host!r}: redis+cluster://host:port[,host:port...]")
        nodes.append((name.strip("[]"), int(port)))
    user, _, password = userinfo.partition(":")
    return {"startup_nodes": nodes, "username": unquote(user) or None, "password": unquote(password) or None,
            "ssl": scheme == "rediss+cluster"}


class ClusterStore(RedisStore):
    """RedisStore with the steps that span slots split out. A session's own scripts (LOAD,
    COMMIT, RESET, APPEND) touch only its keys, which share its id as hash tag: they are given
    its meta key in the indexes' place (scripts.py). What they leave to a step of its own:

    - a tenant's index of last use: opening a session as its use (LOAD) and a request's
      journal entry (APPEND) each go out with a mark of the session's use beside them, on the
      index's master at the same time, so they cost a command but no wait. The mark (TOUCH)
      leaves out a session the index does not hold: one being made enters it with its EVICT,
      once whole, so that no other process's eviction deletes it half made; one being evicted
      is not put back while its keys are deleted.
    - a tenant's cap: after LOAD made a session, EVICT on the index's slot takes
      the least recently used over the cap out of it (atomically, so concurrent creators never
      take the same ones) into an evicting set; their keys are deleted, each in its own slot,
      and only then are they struck from that set. A later EVICT deletes again what a process
      that died in between left there, unless the session was used since.
    - the senders' wake-up index: the session's meta keeps when a sender should look (w,
      set by COMMIT and RESET). A commit that changed it, a reset, and a sender's look set
      the session's entry to it, then read the version again: if another commit came
      between, they set what that one left, so whoever checks last leaves the entry as the
      session is. Each delivery's claim stays one compare-and-set in the session's slot, so
      it is sent once whoever looks."""

    wired = False  # each slot's node has its own connections: redis-py's cluster client keeps them
    defers = False  # a commit sets the wake-up index in a step after it (_commit): not deferred to the entry

    def _connect(self) -> RedisCluster:
        options = parse(self.url)
        # No retry: a script whose reply was lost must not run twice (see RedisStore._call);
        # MOVED and ASK redirections are followed all the same, each patching the slot map
        # (reinitialize_steps=0: a full re-read after some MOVEDs closes every connection,
        # those of calls in flight too).
        return RedisCluster(startup_nodes=[ClusterNode(h, p) for h, p in options.pop("startup_nodes")],
                            socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT, retry=Retry(NoBackoff(), 0),
                            reinitialize_steps=0, client_name=self.client_name, **options)

    async def _connect_for(self, channel: str) -> tuple[str, aioredis.Redis]:
        """A channel's subscriber connects to the node that holds its slot (SSUBSCRIBE is sharded)."""
        client = self._client()
        await client.initialize()
        node = client.get_node_from_key(channel)
        options = parse(self.url)
        options.pop("startup_nodes")
        # no retry of its own: a lost connection is made again by the subscriber, which tells the watchers
        return node.name, aioredis.Redis(host=node.host, port=node.port, socket_timeout=TIMEOUT, retry=Retry(NoBackoff(), 0),
                                         socket_connect_timeout=TIMEOUT, client_name=self.client_name, **options)

    async def _call(self, coro_fn, changes: bool = False):
        async def call(r: RedisCluster):
            # The slot map first: redis-py 8.1 sends a command issued while another call
            # reads it to an arbitrary node, whose MOVED replies then pile up.
            await r.initialize()
            try:
                return await coro_fn(r)
            except (RuntimeError, AttributeError) as exc:
                # After a failed call the client disconnects its idle connections while other
                # calls may be taking them: to this store, a connection lost.
                raise ConnectionError(f"connection closed under the call ({exc})") from exc

        try:
            return await super()._call(call, changes)
        except RedisClusterException as exc:  # no node answered, or the slots are not all served
            if "same key slot" in str(exc):  # a command across slots: a bug of ours
                raise
            self.outage.failed(exc)
            raise errors.StoreUnavailable() from None  # raised before anything was sent

    def _in_step(self, key: str, sid: str) -> str:
        return self._keys(sid)[0]  # the index is in another slot: the script leaves it alone

    # -- a tenant's index and its cap --
    async def open(self, sid: str, owner: str | None = None, create: bool = True,
                   use: bool = True, fresh: bool = True):
        found = super().open(sid, owner, create, use, fresh)
        if not (use and fresh):  # no LOAD, or one that is not a use
            return await found
        state, _ = await asyncio.gather(found, self._touch(sid))
        return state

    async def journal_append(self, sid: str, entry: dict, mark: str | None = None, keep: str | None = None,
                             basis: tuple | None = None, tell: bool = True, pending=None) -> bool:
        appended, _ = await asyncio.gather(super().journal_append(sid, entry, mark, keep, basis, tell, pending),
                                           self._touch(sid))
        return appended

    async def _touch(self, sid: str) -> None:
        """Mark the session used (TOUCH: only one the index holds; a session being made enters it
        with its EVICT). A mark lost to an outage only leaves it older in the order."""
        index = self._index(split_sid(sid)[0])
        try:
            await self._call(lambda r: self._scripts["touch"](keys=[index, index + ":evicting"],
                                                              args=[time.time(), sid], client=r))
        except errors.StoreUnavailable:
            pass

    async def _made(self, sid: str, evicted: list, now: float) -> None:
        """After LOAD made a session: EVICT, then the evicted sessions' keys deleted."""
        tenant = split_sid(sid)[0]
        index = self._index(tenant)
        kept, _, cutoff, default = self._eviction(tenant)
        if cutoff != "":  # a minute late: a use just before its keys expire must find its entry (TOUCH)
            cutoff -= IDLE_MARGIN
        found = await self._call(lambda r: self._scripts["evict"](
            keys=[index, index + ":evicting"], args=[kept, cutoff, default, sid, now], client=r))
        if not found:
            return
        self._forget(found)
        gone = [g.decode() for g in found]

        async def drop(r):
            async with r.pipeline(transaction=False) as pipe:
                for victim in gone:
                    pipe.delete(*self._keys(victim), self._timeline_key(victim))
                pipe.zrem(self._wake_key, *gone)
                return await pipe.execute()
        try:  # deleting twice is harmless, so a dropped connection is tried again (as a read)
            await self._call(drop)
            await self._call(lambda r: r.zrem(index + ":evicting", *gone))
        except errors.StoreUnavailable:
            log.warning("Redis store: evicted sessions %s are deleted by a later eviction", gone)

    # -- the senders' wake-up index --
    async def _commit(self, sid: str, argv: list, wake: float | None):
        done = await super()._commit(sid, argv, wake)
        if done and done[1].decode() != _score(wake):  # none before and none after, the common case: as it is
            await self._set_wake(sid, wake, (str(argv[0] + 1).encode(), argv[1]))
        return done

    async def _reset(self, sid: str, keys: list, argv: list, wake: float | None) -> bool:
        done = await super()._reset(sid, keys, argv, wake)
        if done:
            await self._set_wake(sid, wake, (str(argv[1] + 1).encode(), argv[2]))
        return done

    async def run_existing(self, sid: str, fn, *args):
        """As RedisStore's; then the session's entry set to what it holds, since the sender's
        look may have changed nothing (its entry was early)."""
        result = None
        if await self._call(lambda r: r.exists(self._keys(sid)[0])):
            result = await self.run(sid, fn, *args)
        else:
            self._cache.pop(sid, None)
        version, born, wake = await self._call(lambda r: r.hmget(self._keys(sid)[0], "v", "b", "w"))
        await self._set_wake(sid, float(wake) if wake else None, (version, born) if version is not None else None)
        return result

    async def _set_wake(self, sid: str, wake: float | None, seen: tuple | None) -> None:
        """The session's entry in the senders' index set to `wake` (None: removed), what it
        holds at version and incarnation `seen` (None: no such session); kept if Redis still
        holds that version afterwards, else set again to what the newer one holds. Each writer
        ends by checking, so the last leaves the entry as the session is. A call that fails
        after a commit says so (503 store_uncertain)."""
        meta = self._keys(sid)[0]
        try:
            for _ in range(SYNC_ATTEMPTS):
                if wake is None:
                    await self._call(lambda r: r.zrem(self._wake_key, sid))
                else:
                    await self._call(lambda r: r.zadd(self._wake_key, {sid: wake}))
                version, born, found = await self._call(lambda r: r.hmget(meta, "v", "b", "w"))
                if (version, born) == (seen or (None, None)):
                    return
                # a commit, a reset or a new incarnation came between: what it holds
                wake, seen = (float(found) if found else None), ((version, born) if version is not None else None)
            await self._call(lambda r: r.zadd(self._wake_key, {sid: time.time()}, lt=True))  # look again soon
        except errors.StoreUnavailable:
            raise errors.StoreUncertain() from None
