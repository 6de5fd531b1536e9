"""The Redis store: several workers and replicas act as one sandbox. Each session is a hash of
its records and a small meta value with a version; a unit of work commits with a
compare-and-set on that version (a Lua script), and retries on a conflict."""
from __future__ import annotations

import asyncio
import dataclasses
import math
import time
import uuid
from collections import OrderedDict

import redis.asyncio as aioredis
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError, RedisError, ResponseError
from redis.retry import Retry

from sandbox import errors
from sandbox.store import codec
from sandbox.store.outage import Outage
from sandbox.store.redis_journals import Journals
from sandbox.store.redis_notices import Watching
from sandbox.store.redis_units import MAX_ATTEMPTS, Units, _score
from sandbox.store.scripts import APPEND, COMMIT, COMMIT_APPEND, EVICT, INBOX, LOAD, RESET, TOUCH
from sandbox.store import wire
from sandbox.store.base import DEFAULT, Options, is_default, sid_of, split_sid, tell, wake_of
from sandbox.store.base import fresh as fresh_state
from sandbox.store.state import Own, SessionState, Tx

TIMEOUT = 1.0       # seconds a Redis call may take before the request answers 503
REFUSED_EVERY = 1.0  # seconds a process keeps its count of refused requests before adding it to Redis's

SCRIPTS = {"commit": COMMIT, "load": LOAD, "reset": RESET, "append": APPEND, "inbox": INBOX, "evict": EVICT,
           "touch": TOUCH, "commit_append": COMMIT_APPEND}


def check_namespace(namespace: str) -> None:
    """Every key of a session has its id as hash tag: a brace in the prefix would be the tag."""
    if "{" in namespace or "}" in namespace:
        raise ValueError(f"the namespace {namespace!r} holds a brace ({{ or }}): Redis would take it for the "
                         "keys' hash tag; choose one without")


class RedisStore(Units, Journals, Watching):
    kind = "redis"
    client_name = "task-sandbox"  # CLIENT LIST tells the API's connections from the senders'
    wired = True  # scripts over one shared connection per event loop (wire.py), where it serves the URL
    defers = True  # a request's change commits with its journal entry (run_deferred)

    def __init__(self, url: str, **options):
        self.url = url
        self.options = Options(**options)
        check_namespace(self.options.namespace)
        self.prefix = f"{self.options.namespace}:"
        self._clients: dict[int, aioredis.Redis] = {}
        self._wires: dict[int, wire.Wire] = {}
        # sid -> (state, records version, incarnation): what this process last read or wrote
        self._cache: OrderedDict[str, tuple[SessionState, int, bytes]] = OrderedDict()
        self.outage = Outage()
        self._refused: dict[str, int] = {}  # requests refused before any session, not yet in Redis
        self._refused_flush: asyncio.TimerHandle | None = None
        self._subscribers: dict = {}  # per event loop, as the clients (Watching)

    # -- connection --
    def _client(self) -> aioredis.Redis:
        """One client per event loop: a test client runs each app on a loop of its own."""
        loop = id(asyncio.get_running_loop())
        client = self._clients.get(loop)
        if client is None:
            client = self._clients[loop] = self._connect()
            self._scripts = {name: client.register_script(text) for name, text in SCRIPTS.items()}
            if self.wired and wire.supports(self.url):
                self._wires[loop] = wire.Wire(self.url, self.client_name, TIMEOUT, tuple(SCRIPTS.values()))
        return client

    def _script(self, name: str, client, keys: list, args: list):
        """A script of scripts.py, over the event loop's shared connection where there is one."""
        shared = self._wires.get(id(asyncio.get_running_loop()))
        if shared is None:
            return self._scripts[name](keys=keys, args=args, client=client)
        return shared.script(self._scripts[name], keys, args)

    def _connect(self) -> aioredis.Redis:
        return aioredis.Redis.from_url(
            self.url, socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT, client_name=self.client_name,
            retry=Retry(NoBackoff(), 0), health_check_interval=0)  # never resend a script: see _call

    async def _call(self, coro_fn, changes: bool = False):
        """One Redis call, bounded in time. A read is tried again once on a dropped connection
        (a pooled connection dies with a restarted Redis); a change never is: its reply may
        be what was lost, and sending it again would apply it twice or misread the answer."""
        for attempt in (1, 2):
            try:
                async with asyncio.timeout(3 * TIMEOUT):  # connect, answer and a retried read: bounded
                    found = await coro_fn(self._client())
                self.outage.answered()
                return found
            except (RedisError, OSError, asyncio.TimeoutError) as exc:
                if type(exc) is ResponseError:  # a bug of ours (a script's error), not an outage
                    raise
                if changes or attempt == 2 or not isinstance(exc, (ConnectionError, OSError)):
                    self.outage.failed(exc)
                    raise (errors.StoreUncertain() if changes else errors.StoreUnavailable()) from None

    def _keys(self, sid: str) -> tuple[str, ...]:
        """meta, records, then the journal's: its entries, their count ever, its tally, the
        violations and refusals it keeps apart (sandbox/store/journal.py), and the bytes each
        of those three lists holds. All with the session's id as hash tag, so that on a cluster
        they share one slot (neither a session's name nor a team holds a brace:
        sandbox/control/sessions.py, sandbox/fixture_schema.yaml)."""
        base = f"{self.prefix}s:{{{sid}}}:"
        return base + "m", base + "r", base + "j", base + "jn", base + "jt", base + "jv", base + "jr", base + "jb"

    def _timeline_key(self, sid: str) -> str:
        """The session's timeline (sandbox/domain/timeline.py): a hash of its ring's slots, beside the
        records and never read with them, so a process that follows another's change reads no history."""
        return f"{self.prefix}s:{{{sid}}}:t"

    @property
    def _ttl(self) -> int:
        idle = self.options.idle_seconds
        return max(1, math.ceil(idle)) if idle else 0

    @property
    def _live(self) -> int:
        """How many sessions may be live: each tenant's cap and its default (the cache's size)."""
        return self.options.tenants * (self.options.max_sessions + 1)

    def _ttl_of(self, sid: str) -> int:
        return 0 if is_default(sid) else self._ttl  # a tenant's default session is never dropped

    def _index(self, tenant: str | None) -> str:
        """A tenant's sessions by last use: its cap evicts from there (the laptop's tag is "@")."""
        return f"{self.prefix}sessions:{{@{tenant or ''}}}"

    def _in_step(self, key: str, sid: str) -> str:
        """An index a session's script updates in the same step (scripts.py): here, itself."""
        return key

    async def ping(self) -> None:
        await self._call(lambda r: r.ping())

    async def release(self) -> None:
        """Close the client of the running event loop, which is ending (a sender thread's)."""
        client = self._clients.pop(id(asyncio.get_running_loop()), None)
        if client is not None:
            await client.aclose()
        shared = self._wires.pop(id(asyncio.get_running_loop()), None)
        if shared is not None:
            await shared.close()
        await self._unwatch()

    async def close(self) -> None:
        if self._refused_flush is not None:
            self._refused_flush.cancel()
            try:
                await self._add_refused()
            except RedisError:  # a closing loop: the tally loses under a second of refusals
                pass
        await self._unwatch()
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()
        for shared in self._wires.values():
            await shared.close()
        self._wires.clear()

    # -- sessions --
    async def find(self, sid: str) -> SessionState | None:
        """The session's state if it is live; never makes one, nor counts as its use."""
        return await self.open(sid, create=False, use=False)

    async def open(self, sid: str, owner: str | None = None, create: bool = True,
                   use: bool = True, fresh: bool = True) -> SessionState | None:
        """The session's state: with `fresh`, as Redis holds it now, in one round trip that
        also marks it used and makes it if it is new (unless another process makes it first);
        without, what this process last knew of it, with no round trip at all, for a request
        whose journal entry checks afterwards that nothing moved (journal_append's `basis`)."""
        cached = self._cache.get(sid)
        if not fresh and cached is not None:
            self._cache.move_to_end(sid)
            return cached[0]
        meta, records, *journal = self._keys(sid)
        tenant = split_sid(sid)[0]
        now = time.time()
        known = (cached[0].version, cached[1], cached[2]) if cached is not None else ("", "", "")
        new = fresh_state(self.options, sid, owner=owner) if create else None
        make = [codec.state_meta(new), uuid.uuid4().hex, *self._eviction(tenant)] if new is not None else [""]
        found = await self._call(lambda r: self._script(
            "load", r, [meta, self._in_step(self._index(tenant), sid), records, *journal, self._timeline_key(sid)],
            [int(use), self._ttl_of(sid), sid, now, *known, *make]))
        if found[0] == 0:
            return None
        if found[0] == 1:  # kept again: another request's failed commit may have dropped it meanwhile
            self._remember(sid, *cached)
            return self._cache[sid][0]
        version, born, rv, data = found[1]
        if found[0] == 3:
            await self._made(sid, found[2], now)
            wake = wake_of(self.options, Tx(new, sid, self.options.id_seed), now) \
                if new.seed.tables["subscriptions"] else None
            if wake is not None:  # its fixtures subscribe already: a hint, so a race only looks once more
                # (LT: never later than what a commit meanwhile asked for)
                await self._call(lambda r: r.zadd(self._wake_key, {sid: wake}, lt=True))
                tell(self.options, wake)
            records_found = None
        else:
            records_found = found[2]
        rv = int(rv)
        if rv == 0:
            own = Own()  # this incarnation never changed a record
        elif records_found is None:
            own = cached[0].own  # the records did not change: only the rest is read again
        else:
            it = iter(records_found)
            own = codec.own_from(dict(zip(it, it)))
        state = codec.state_from(data, int(version), self.options.seeds, own)
        self._remember(sid, state, rv, born)
        return self._cache[sid][0] if sid in self._cache else state

    def basis(self, sid: str) -> tuple[int, bytes] | None:
        """The version and incarnation of what this process holds of a session: a request that
        opened it without a round trip gives them to journal_append, which checks them."""
        cached = self._cache.get(sid)
        return None if cached is None else (cached[0].version, cached[2])

    def _remember(self, sid: str, state: SessionState, rv: int, born: bytes) -> None:
        """Keep what this process knows of a session, never going back: a slow read of an
        older version must not replace a newer one another coroutine stored meanwhile."""
        known = self._cache.get(sid)
        if known is not None and known[2] == born and known[0].version > state.version:
            return
        self._cache[sid] = (state, rv, born)
        self._cache.move_to_end(sid)
        while len(self._cache) > self._live:
            self._cache.popitem(last=False)

    def _eviction(self, tenant: str | None) -> list:
        """Over the tenant's count, its least recently used go first; its default never does.
        Idle sessions expired by their keys' TTL already: only the index needs tidying."""
        idle = self.options.idle_seconds
        return [self.options.max_sessions, self.prefix, time.time() - idle if idle else "", sid_of(tenant, DEFAULT)]

    async def _made(self, sid: str, evicted: list, now: float) -> None:
        """After LOAD made a session: it evicted over the tenant's count in the same step."""
        self._forget(evicted)

    def _forget(self, sids) -> None:
        for sid in sids:
            self._cache.pop(sid.decode(), None)

    def latest(self, sid: str, known: SessionState) -> SessionState:
        cached = self._cache.get(sid)
        return cached[0] if cached is not None else known

    async def reset(self, sid: str, scenario: str | None) -> SessionState:
        """Back to a seed, keeping the clock and owner as they are when it happens."""
        meta, records, journal, _, *report = self._keys(sid)
        for _ in range(MAX_ATTEMPTS):
            old = await self.open(sid)
            born = self._cache[sid][2]
            new = fresh_state(self.options, sid, scenario, clock=old.clock, owner=old.owner)
            wake = wake_of(self.options, Tx(new, sid, self.options.id_seed), time.time())
            keys = [meta, self._in_step(self._wake_key, sid), records, journal, *report, self._timeline_key(sid)]
            done = await self._reset(sid, keys, [codec.state_meta(new), old.version, born, sid, _score(wake),
                                                 self._channel(sid)], wake)
            self._cache.pop(sid, None)
            if done:
                tell(self.options, wake)
                return await self.open(sid)
        raise errors.StoreBusy()

    async def _reset(self, sid: str, keys: list, argv: list, wake: float | None) -> bool:
        """RESET's compare-and-set, and the senders' index with it."""
        return bool(await self._call(lambda r: self._script("reset", r, keys, argv), changes=True))

    async def delete(self, sid: str) -> None:
        self._cache.pop(sid, None)
        await self._call(lambda r: r.delete(*self._keys(sid), self._timeline_key(sid)))
        await self._call(lambda r: r.zrem(self._index(split_sid(sid)[0]), sid))
        await self._call(lambda r: r.zrem(self._wake_key, sid))
        await self._call(lambda r: r.spublish(self._channel(sid), b"s"))

    async def timeline(self, sid: str) -> list[dict]:
        found = await self._call(lambda r: r.hvals(self._timeline_key(sid)))
        return [codec.loads(raw) for raw in found]

    # -- senders of notifications: which sessions to look at, shared by every process --
    @property
    def _wake_key(self) -> str:
        return self.prefix + "wake"

    def sibling(self) -> "RedisStore":
        """A store of its own for a sender thread: the same Redis, its own clients and cache,
        since this one's cache is changed in place by the API's event loop. An outage both meet
        is told once (sandbox/store/outage.py)."""
        other = type(self)(self.url, **{f.name: getattr(self.options, f.name) for f in dataclasses.fields(Options)})
        other.outage = self.outage
        other.client_name = "task-sandbox-sender"
        return other

    def may_have_work(self) -> bool:
        return True  # another process, or this one before a restart, may have left deliveries: look

    async def prepare(self) -> None:
        """Make the default session if no process has yet: its fixtures may subscribe already."""
        await self.open(DEFAULT)

    async def woken(self, now: float) -> list[str]:
        return [s.decode() for s in await self._call(lambda r: r.zrangebyscore(self._wake_key, "-inf", now))]

    async def next_wake(self) -> float | None:
        found = await self._call(lambda r: r.zrange(self._wake_key, 0, 0, withscores=True))
        return found[0][1] if found else None

    async def run_existing(self, sid: str, fn, *args):
        """fn(tx, ...) on a session that exists (a sender's work never makes one); None if it does not."""
        if not await self._call(lambda r: r.exists(self._keys(sid)[0])):
            await self._call(lambda r: r.zrem(self._wake_key, sid))
            return None
        return await self.run(sid, fn, *args)

    async def sessions(self, tenants: list[str | None]) -> list[str]:
        """The live sessions of these tenants, each one's default first, then by last use."""
        found = []
        for tenant in tenants:
            default = sid_of(tenant, DEFAULT)
            sids = [s.decode() for s in await self._call(lambda r, t=tenant: r.zrange(self._index(t), 0, -1))]
            sids = [default, *(s for s in sids if s != default)]  # never evicted, maybe tidied from the index

            async def exist(r, sids=sids):
                async with r.pipeline(transaction=False) as pipe:
                    for sid in sids:
                        pipe.exists(self._keys(sid)[0])
                    return await pipe.execute()
            # the laptop's default session is there from the start, made on first use (see prepare)
            found += [s for s, e in zip(sids, await self._call(exist)) if e or s == DEFAULT]
        return found

    # -- requests refused before any session: counted for the whole server --
    async def count_unauthenticated(self, field: str) -> None:
        """Counted in this process and added to Redis's tally within REFUSED_EVERY seconds, in one
        call: a flood of requests without credentials costs Redis nothing per request."""
        self._refused[field] = self._refused.get(field, 0) + 1
        if self._refused_flush is None:
            self._refused_flush = asyncio.get_running_loop().call_later(
                REFUSED_EVERY, lambda: asyncio.ensure_future(self._add_refused()))

    async def _add_refused(self) -> None:
        counts, self._refused, self._refused_flush = self._refused, {}, None
        if not counts:
            return

        async def add(r):
            async with r.pipeline(transaction=False) as pipe:
                for field, n in counts.items():
                    pipe.hincrby(self.prefix + "unauthenticated", field, n)
                return await pipe.execute()
        try:
            await self._call(add, changes=True)
        except errors.StoreUnavailable:
            pass  # maybe added, maybe not: a tally of refusals is not worth counting twice

    async def unauthenticated(self) -> dict[str, int]:
        if self._refused_flush is not None:
            self._refused_flush.cancel()
        await self._add_refused()  # this process's, at once; another's within REFUSED_EVERY seconds
        found = await self._call(lambda r: r.hgetall(self.prefix + "unauthenticated"))
        return {k.decode(): int(v) for k, v in found.items()}
