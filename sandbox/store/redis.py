"""The Redis store: several workers and replicas act as one sandbox. Each session is a hash of
its records and a small meta value with a version; a unit of work commits with a
compare-and-set on that version (a Lua script), and retries on a conflict."""
from __future__ import annotations

import asyncio
import logging
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
from sandbox.store.base import DEFAULT, Options, fresh, wake_of
from sandbox.store.state import Own, SessionState, Tx

log = logging.getLogger("sandbox")
TIMEOUT = 1.0       # seconds a Redis call may take before the request answers 503
MAX_ATTEMPTS = 64   # conflicting commits of one unit of work before it gives up (503 store_busy)
TOUCH_EVERY = 1.0   # seconds between one process's marks of a session as used

# Over the count, drop the least recently used sessions (from the index of last use by sid),
# in the step that made the new one, so that many processes creating sessions at once do not
# all delete the same ones.
EVICTION = """
local function evict(index, kept, prefix, cutoff)
  if cutoff ~= '' then redis.call('ZREMRANGEBYSCORE', index, '-inf', cutoff) end
  local n = redis.call('ZCARD', index)
  if redis.call('ZSCORE', index, 'default') then n = n - 1 end
  local excess, gone = n - tonumber(kept), {}
  if excess <= 0 then return gone end
  for _, sid in ipairs(redis.call('ZRANGE', index, 0, excess)) do
    if sid ~= 'default' and #gone < excess then
      local base = prefix .. 's:' .. sid .. ':'
      redis.call('DEL', base .. 'm', base .. 'r', base .. 'j', base .. 'jn')
      redis.call('ZREM', index, sid)
      redis.call('ZREM', prefix .. 'wake', sid)
      table.insert(gone, sid)
    end
  end
  return gone
end
"""
# A session's meta hash: v (its version: commits so far), b (its incarnation: a new token each
# time the session is created, so a process never mistakes a recreated session's version for
# the one it remembers), rv (the version at which its records last changed) and d (the rest).
# KEYS: meta, records, the senders' wake-up index. ARGV: expected version, incarnation, new meta,
# ttl (0: none), 1 if the records change, the session's id, when a sender should look at it
# ('': not until it changes), then field, value pairs.
COMMIT = """
local m = redis.call('HMGET', KEYS[1], 'v', 'b')
if m[1] ~= ARGV[1] or m[2] ~= ARGV[2] then return 0 end
local v = tonumber(ARGV[1]) + 1
redis.call('HSET', KEYS[1], 'v', v, 'd', ARGV[3])
if ARGV[5] == '1' then redis.call('HSET', KEYS[1], 'rv', v) end
if ARGV[7] == '' then redis.call('ZREM', KEYS[3], ARGV[6]) else redis.call('ZADD', KEYS[3], ARGV[7], ARGV[6]) end
for i = 8, #ARGV, 1000 do
  redis.call('HSET', KEYS[2], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
if tonumber(ARGV[4]) > 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[4]); redis.call('EXPIRE', KEYS[2], ARGV[4])
end
return 1
"""
# KEYS: meta, the sessions index, records, journal, its counter. ARGV: meta of a new session, ttl, incarnation, then
# eviction's sessions kept, prefix and idle cutoff, then the session's id and the time. Unless another process made the session
# first, makes it and evicts over the count, in the same step. Returns its fields and the
# sessions evicted.
CREATE = EVICTION + """
local gone = {}
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[3], KEYS[4], KEYS[5])  -- what a late write left of an earlier incarnation
  redis.call('HSET', KEYS[1], 'v', 0, 'b', ARGV[3], 'rv', 0, 'd', ARGV[1])
  if tonumber(ARGV[2]) > 0 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
  redis.call('ZADD', KEYS[2], ARGV[8], ARGV[7])
  gone = evict(KEYS[2], ARGV[4], ARGV[5], ARGV[6])
end
return {redis.call('HMGET', KEYS[1], 'v', 'b', 'rv', 'd'), gone}
"""
# KEYS: meta, records, journal, wake-up index. ARGV: meta of the reset session, expected version
# and incarnation, the session's id and wake-up time (as COMMIT). The version goes on; nothing
# happens if either moved since they were read.
RESET = """
local m = redis.call('HMGET', KEYS[1], 'v', 'b')
if m[1] ~= ARGV[2] or m[2] ~= ARGV[3] then return 0 end
local v = tonumber(ARGV[2]) + 1
redis.call('HSET', KEYS[1], 'v', v, 'rv', v, 'd', ARGV[1])
redis.call('DEL', KEYS[2], KEYS[3])
if ARGV[5] == '' then redis.call('ZREM', KEYS[4], ARGV[4]) else redis.call('ZADD', KEYS[4], ARGV[5], ARGV[4]) end
return v
"""
# KEYS: journal, its counter. ARGV: entry, entries kept, ttl (0: none).
APPEND = """
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[2]), -1)
redis.call('INCR', KEYS[2])
if tonumber(ARGV[3]) > 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[3]); redis.call('EXPIRE', KEYS[2], ARGV[3])
end
"""


def unavailable(exc: Exception) -> errors.StoreUnavailable:
    log.warning("Redis store unavailable: %s", exc)
    return errors.StoreUnavailable()


class RedisStore:
    kind = "redis"

    def __init__(self, url: str, **options):
        self.url = url
        self.options = Options(**options)
        self.prefix = f"{self.options.namespace}:"
        self._clients: dict[int, aioredis.Redis] = {}
        # sid -> (state, records version, incarnation): what this process last read or wrote
        self._cache: OrderedDict[str, tuple[SessionState, int, bytes]] = OrderedDict()
        self._touched: dict[str, float] = {}  # sid -> when this process last marked it used

    # -- connection --
    def _client(self) -> aioredis.Redis:
        """One client per event loop: a test client runs each app on a loop of its own."""
        loop = id(asyncio.get_running_loop())
        client = self._clients.get(loop)
        if client is None:
            client = self._clients[loop] = aioredis.Redis.from_url(
                self.url, socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT,
                retry=Retry(NoBackoff(), 0), health_check_interval=0)  # never resend a script: see _call
            self._scripts = {name: client.register_script(text)
                             for name, text in (("commit", COMMIT), ("create", CREATE), ("reset", RESET),
                                                ("append", APPEND))}
        return client

    async def _call(self, coro_fn, changes: bool = False):
        """One Redis call, bounded in time. A read is tried again once on a dropped connection
        (a pooled connection dies with a restarted Redis); a change never is: its reply may
        be what was lost, and sending it again would apply it twice or misread the answer."""
        for attempt in (1, 2):
            try:
                async with asyncio.timeout(3 * TIMEOUT):  # connect, answer and a retried read: bounded
                    return await coro_fn(self._client())
            except (RedisError, OSError, asyncio.TimeoutError) as exc:
                if type(exc) is ResponseError:  # a bug of ours (a script's error), not an outage
                    raise
                if changes or attempt == 2 or not isinstance(exc, (ConnectionError, OSError)):
                    raise (errors.StoreUncertain() if changes else unavailable(exc)) from None

    def _keys(self, sid: str) -> tuple[str, str, str, str]:
        base = f"{self.prefix}s:{sid}:"
        return base + "m", base + "r", base + "j", base + "jn"

    @property
    def _ttl(self) -> int:
        idle = self.options.idle_seconds
        return max(1, math.ceil(idle)) if idle else 0

    def _ttl_of(self, sid: str) -> int:
        return 0 if sid == DEFAULT else self._ttl  # the default session is never dropped

    async def ping(self) -> None:
        await self._call(lambda r: r.ping())

    async def close(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()

    # -- sessions --
    async def open(self, sid: str, owner: str | None = None) -> SessionState:
        """The session's state, read from this process's cache when Redis holds the same
        version and incarnation (one round trip), from Redis otherwise; a new session is
        created unless another process creates it first. Opening counts as use: it keeps
        the session from expiring."""
        meta, records, journal, count = self._keys(sid)
        ttl = self._ttl_of(sid)
        now = time.time()
        # Marking a session used costs five commands: each process does it at most every
        # TOUCH_EVERY seconds per session, which is all an idle time in seconds needs.
        touch = now - self._touched.get(sid, 0.0) > TOUCH_EVERY
        if touch:
            self._touched[sid] = now
            if len(self._touched) > 4 * (self.options.max_sessions + 1):
                self._touched.clear()

        async def read(r):
            if not touch:
                return await r.hmget(meta, "v", "b")
            async with r.pipeline(transaction=False) as pipe:
                pipe.hmget(meta, "v", "b")
                pipe.zadd(self.prefix + "sessions", {sid: now})
                if ttl:
                    for key in (meta, records, journal, count):
                        pipe.expire(key, ttl)
                return (await pipe.execute())[0]

        version, born = await self._call(read)
        cached = self._cache.get(sid)
        if version is not None and cached is not None and (cached[0].version, cached[2]) == (int(version), born):
            self._cache.move_to_end(sid)
            return cached[0]
        if version is None:
            new = fresh(self.options, sid, owner=owner)
            found, gone = await self._call(lambda r: self._scripts["create"](
                keys=[meta, self.prefix + "sessions", records, journal, count], client=r,
                args=[codec.state_meta(new), ttl, uuid.uuid4().hex, *self._eviction(), sid, now]))
            self._forget(gone)
        else:
            found = await self._call(lambda r: r.hmget(meta, "v", "b", "rv", "d"))
            if found[0] is None:  # gone meanwhile (expired, deleted): start it again
                return await self.open(sid, owner)
        return await self._state(sid, *found)

    async def _state(self, sid: str, version: bytes, born: bytes, rv: bytes, data: bytes) -> SessionState:
        version, rv = int(version), int(rv)
        cached = self._cache.get(sid)
        if rv == 0:
            own = Own()  # this incarnation never changed a record
        elif cached is not None and (cached[1], cached[2]) == (rv, born):
            own = cached[0].own  # the records did not change: only the rest is read again
        else:
            own = codec.own_from(await self._call(lambda r: r.hgetall(self._keys(sid)[1])))
        state = codec.state_from(data, version, self.options.seeds, own)
        self._remember(sid, state, rv, born)
        return self._cache[sid][0] if sid in self._cache else state

    def _remember(self, sid: str, state: SessionState, rv: int, born: bytes) -> None:
        """Keep what this process knows of a session, never going back: a slow read of an
        older version must not replace a newer one another coroutine stored meanwhile."""
        known = self._cache.get(sid)
        if known is not None and known[2] == born and known[0].version > state.version:
            return
        self._cache[sid] = (state, rv, born)
        self._cache.move_to_end(sid)
        while len(self._cache) > self.options.max_sessions + 1:
            self._cache.popitem(last=False)

    def _eviction(self) -> list:
        """Over the count, the least recently used go first; the default never does. Idle
        sessions expired by their keys' TTL already: only the index needs tidying."""
        idle = self.options.idle_seconds
        return [self.options.max_sessions, self.prefix, time.time() - idle if idle else ""]

    def _forget(self, sids) -> None:
        for sid in sids:
            self._cache.pop(sid.decode(), None)
            self._touched.pop(sid.decode(), None)

    def latest(self, sid: str, known: SessionState) -> SessionState:
        cached = self._cache.get(sid)
        return cached[0] if cached is not None else known

    async def run(self, sid: str, fn, *args, **kwargs):
        """fn(tx, ...) as one unit of work. It reads the newest state this process knows (at
        least the one the request opened, since the cache never goes back); a change commits
        only if nobody committed since, else it runs again on the newer state, so of
        concurrent units exactly one wins each race."""
        meta, records, _, _ = self._keys(sid)
        if sid not in self._cache:
            await self.open(sid)
        for _ in range(MAX_ATTEMPTS):
            state, rv, born = self._cache[sid]
            base = state.version
            tx = Tx(state, sid, self.options.id_seed)
            result = fn(tx, *args, **kwargs)
            if not tx.dirty:
                return result
            changed = any(tx.writes.values()) or bool(tx.by_upload)
            argv = [base, born, codec.tx_meta(tx), self._ttl_of(sid), int(changed), sid, self._wake_arg(tx)]
            for name, value in codec.record_fields(tx).items():
                argv += [name, value]
            committed = await self._call(lambda r: self._scripts["commit"](
                keys=[meta, records, self._wake_key], args=argv, client=r), changes=True)
            if committed:
                known = self._cache.get(sid)
                if known is not None and known[2] == born and known[0].version == base:
                    tx.commit_into(known[0])  # the state it ran on, or the same version read again
                    self._remember(sid, known[0], base + 1 if changed else rv, born)
                else:
                    self._cache.pop(sid, None)
                return result
            self._cache.pop(sid, None)
            await self.open(sid)  # somebody committed first: again, on what they left
        raise errors.StoreBusy()

    async def reset(self, sid: str, scenario: str | None) -> SessionState:
        """Back to a seed, keeping the clock and owner as they are when it happens."""
        meta, records, journal, _ = self._keys(sid)
        for _ in range(MAX_ATTEMPTS):
            old = await self.open(sid)
            born = self._cache[sid][2]
            new = fresh(self.options, sid, scenario, clock=old.clock, owner=old.owner)
            wake = self._wake_arg(Tx(new, sid, self.options.id_seed))
            done = await self._call(lambda r: self._scripts["reset"](
                keys=[meta, records, journal, self._wake_key],
                args=[codec.state_meta(new), old.version, born, sid, wake], client=r), changes=True)
            self._cache.pop(sid, None)
            if done:
                return await self.open(sid)
        raise errors.StoreBusy()

    async def delete(self, sid: str) -> None:
        self._cache.pop(sid, None)
        self._touched.pop(sid, None)
        await self._call(lambda r: r.delete(*self._keys(sid)))
        await self._call(lambda r: r.zrem(self.prefix + "sessions", sid))
        await self._call(lambda r: r.zrem(self._wake_key, sid))

    # -- senders of notifications: which sessions to look at, shared by every process --
    @property
    def _wake_key(self) -> str:
        return self.prefix + "wake"

    def _wake_arg(self, tx: Tx) -> str:
        found = wake_of(self.options, tx, time.time())
        return "" if found is None else repr(found)

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

    # -- inboxes: what the built-in receiver got, by name, outside every session --
    def _inbox(self, name: str) -> str:
        return f"{self.prefix}inbox:{name}"

    async def inbox_append(self, name: str, entry: dict) -> None:
        async def append(r):
            async with r.pipeline(transaction=True) as pipe:
                pipe.rpush(self._inbox(name), codec.dumps(entry))
                pipe.ltrim(self._inbox(name), -self.options.journal_size, -1)
                if self._ttl:
                    pipe.expire(self._inbox(name), self._ttl)
                await pipe.execute()
        await self._call(append, changes=True)

    async def inbox_read(self, name: str) -> list[dict]:
        return [codec.loads(e) for e in await self._call(lambda r: r.lrange(self._inbox(name), 0, -1))]

    async def inbox_clear(self, name: str) -> None:
        await self._call(lambda r: r.delete(self._inbox(name)))

    async def sessions(self) -> list[dict]:
        sids = [s.decode() for s in await self._call(lambda r: r.zrange(self.prefix + "sessions", 0, -1))]
        sids = [DEFAULT, *(s for s in sids if s != DEFAULT)]  # never evicted, maybe tidied from the index
        exists = [await self._call(lambda r, s=s: r.exists(self._keys(s)[0])) for s in sids]
        live = [s for s, e in zip(sids, exists) if e]
        return [{"sid": s, "owner": None} for s in ([DEFAULT] if DEFAULT in live else []) + [s for s in live if s != DEFAULT]]

    # -- journals: a capped list per session; seq numbers count every entry ever appended --
    async def journal_append(self, sid: str, entry: dict) -> None:
        _, _, journal, count = self._keys(sid)
        await self._call(lambda r: self._scripts["append"](
            keys=[journal, count], args=[codec.dumps(entry), self.options.journal_size, self._ttl_of(sid)], client=r),
            changes=True)

    async def journal_query(self, sid: str) -> list[dict]:
        _, _, journal, count = self._keys(sid)

        async def query(r):
            async with r.pipeline(transaction=True) as pipe:
                pipe.lrange(journal, 0, -1)
                pipe.get(count)
                return await pipe.execute()
        raw, total = await self._call(query)
        first = int(total or 0) - len(raw) + 1
        return [{"seq": first + i, **codec.loads(e)} for i, e in enumerate(raw)]

    async def journal_clear(self, sid: str) -> None:
        await self._call(lambda r: r.delete(self._keys(sid)[2]))

    async def journal_length(self, sid: str) -> int:
        return await self._call(lambda r: r.llen(self._keys(sid)[2]))
