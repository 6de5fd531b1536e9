"""The Redis store's units of work: each runs on what the process holds of its session and
commits with a compare-and-set on the session's version (COMMIT), or, deferred, with the
request's journal entry (COMMIT_APPEND); a conflict runs it again, or the whole request."""
from __future__ import annotations

import dataclasses
import time

from sandbox import errors
from sandbox.domain.timeline import TIMELINE
from sandbox.store import codec
from sandbox.store.base import check_bound, tell, wake_of
from sandbox.store.state import SessionState, Tx

MAX_ATTEMPTS = 64   # conflicting commits of one unit of work before it gives up (503 store_busy)


def _score(wake: float | None) -> str:
    return "" if wake is None else repr(wake)


@dataclasses.dataclass(frozen=True)
class Pending:
    """A unit's change not yet committed: COMMIT's arguments, and what follows a commit."""
    tx: Tx
    base: int
    born: bytes
    rv: int
    changed: bool
    wake: float | None
    argv: list


class Units:
    """A mixin of RedisStore: uses its cache (`_cache`, `_remember`, `open`), calls and keys."""

    async def run(self, sid: str, fn, *args, **kwargs):
        """fn(tx, ...) as one unit of work. It reads the newest state this process knows (at
        least the one the request opened, since the cache never goes back); a change commits
        only if nobody committed since, else it runs again on the newer state, so of
        concurrent units exactly one wins each race."""
        return await self._run(sid, MAX_ATTEMPTS, fn, args, kwargs)

    async def run_once(self, sid: str, fn, *args, **kwargs):
        """As run, but a change that finds the session moved on raises SessionMoved instead of
        running again: the request read what this process knew without asking Redis, so all
        of it runs again (sandbox/control/layers.py JournalRecorder)."""
        return await self._run(sid, 1, fn, args, kwargs)

    async def _entry(self, sid: str) -> tuple:
        """(state, records version, incarnation) as this process knows them, read from Redis when it
        knows none. Another request's failed change may drop the session from the cache while an
        open awaits (a cluster's open also marks the use meanwhile), so it is read until it stays."""
        for _ in range(MAX_ATTEMPTS):
            entry = self._cache.get(sid)
            if entry is not None:
                return entry
            # not a use: the request marks its use once, with its journal entry; a cluster's use mark
            # is a step of its own, and one that lands after an eviction leaves a stale index entry
            await self.open(sid, use=False)
        raise errors.StoreBusy()

    async def run_deferred(self, sid: str, fn, *args, **kwargs):
        """As run_once, but a change is not committed here: it comes back as a Pending, which the
        request's journal entry commits in the same script (journal_append's `pending`), or
        commit_pending alone. A write on a session this process holds is then one round trip."""
        if not self.defers:
            return await self.run_once(sid, fn, *args, **kwargs), None
        return await self._once(sid, fn, args, kwargs)

    async def _once(self, sid: str, fn, args, kwargs) -> tuple:
        """fn run once on what this process holds of the session: its result, and its change as a
        Pending (None if it changed nothing)."""
        state, rv, born = await self._entry(sid)
        base = state.version  # before the unit reads: another thread may move this state on in place
        tx = Tx(state, sid, self.options.id_seed)
        result = fn(tx, *args, **kwargs)
        return result, (self._pending(sid, tx, state, base, rv, born) if tx.dirty else None)

    async def commit_pending(self, sid: str, pending: Pending) -> None:
        """Commit a deferred change alone; SessionMoved if the session moved past what it read."""
        if await self._commit(sid, pending.argv, pending.wake):
            self._committed(sid, pending)
            return
        self._cache.pop(sid, None)
        raise errors.SessionMoved()

    def _pending(self, sid: str, tx: Tx, state: SessionState, base: int, rv: int, born: bytes) -> Pending:
        """A unit's change as COMMIT's arguments (scripts.py), checked against the session's bound.
        `base`: the version the unit read, taken before it ran."""
        check_bound(self.options, state, tx)
        changed = any(writes for kind, writes in tx.writes.items() if kind != TIMELINE) or bool(tx.by_upload)
        wake = wake_of(self.options, tx, time.time())
        noted = codec.timeline_fields(tx)
        argv = [base, born, codec.tx_meta(tx), self._ttl_of(sid), int(changed), sid, _score(wake),
                self._channel(sid), 2 * len(noted)]
        for fields in (noted, codec.record_fields(tx)):
            for name, value in fields.items():
                argv += [name, value]
        return Pending(tx, base, born, rv, changed, wake, argv)

    def _committed(self, sid: str, pending: Pending) -> None:
        """After COMMIT: the senders are told, and what this process holds moves on with it."""
        tell(self.options, pending.wake)
        known = self._cache.get(sid)
        if known is not None and known[2] == pending.born and known[0].version == pending.base:
            pending.tx.commit_into(known[0])  # the state it ran on, or the same version read again
            known[0].own.tables[TIMELINE].clear()  # in Redis only: read there when asked for
            self._remember(sid, known[0], pending.base + 1 if pending.changed else pending.rv, pending.born)
        else:
            self._cache.pop(sid, None)

    async def _run(self, sid: str, attempts: int, fn, args, kwargs):
        for _ in range(attempts):
            result, pending = await self._once(sid, fn, args, kwargs)
            if pending is None:
                return result
            if await self._commit(sid, pending.argv, pending.wake):
                self._committed(sid, pending)
                return result
            self._cache.pop(sid, None)  # somebody committed first: again, on what they left
            if attempts == 1:
                raise errors.SessionMoved()
        raise errors.StoreBusy()

    async def _commit(self, sid: str, argv: list, wake: float | None):
        """COMMIT: the compare-and-set of a unit of work, and the senders' index with it. Its
        reply: false if the session moved on, else what it replaced (scripts.py)."""
        meta, records, *_ = self._keys(sid)
        return await self._call(lambda r: self._script(
            "commit", r, [meta, records, self._in_step(self._wake_key, sid), self._timeline_key(sid)], argv),
            changes=True)
