"""What the Redis store keeps beside each session's state: its journal, with the client report's
tally and the entries it keeps apart, and the built-in inboxes (the counterparts of sandbox/store/journal.py)."""
from __future__ import annotations

import time

from sandbox.store.journal import KEPT
from sandbox.store import codec
from sandbox.store.base import split_sid

INBOX_TTL = 86400   # seconds an inbox nobody posts to is kept, when sessions never idle out


class Journals:
    """A mixin of RedisStore: uses its calls (`_call`), keys (`_keys`), scripts and options."""

    # -- inboxes: what the built-in receiver got, by name, outside every session --
    # Every inbox key has the hash tag {inbox}, so that on a cluster INBOX stays in one slot.
    def _inbox(self, name: str) -> str:
        return f"{self.prefix}{{inbox}}:{name}"

    @property
    def _inbox_order(self) -> str:
        return f"{self.prefix}{{inbox}}-order"

    async def inbox_append(self, name: str, entry: dict) -> None:
        """One script (sandbox/store/scripts.py INBOX): the oldest entries of all inboxes go
        first while together they count more than options.inbox_bytes."""
        order = self._inbox_order
        await self._call(lambda r: self._script(
            "inbox", r, [self._inbox(name), order, order + ":bytes", order + ":seq"],
            [codec.dumps(entry), name, self.options.journal_size, self.options.inbox_bytes,
             self._ttl or INBOX_TTL, self._inbox("")]),  # no one else ever deletes them
            changes=True)

    async def inbox_bytes(self) -> int:
        """What the inboxes' bound counts now: at least what they hold."""
        return int(await self._call(lambda r: r.get(self._inbox_order + ":bytes")) or 0)

    async def inbox_read(self, name: str) -> list[dict]:
        found = await self._call(lambda r: r.lrange(self._inbox(name), 0, -1))
        return [codec.loads(e.partition(b" ")[2]) for e in found]  # "<seq> <entry>"

    async def inbox_clear(self, name: str) -> None:
        await self._call(lambda r: r.delete(self._inbox(name)))

    # -- journals: a capped list per session; seq numbers count every entry ever appended --
    async def journal_append(self, sid: str, entry: dict, mark: str | None = None, keep: str | None = None,
                             basis: tuple | None = None, tell: bool = True, pending=None) -> bool:
        """One script (sandbox/store/scripts.py APPEND), which also marks the session used and,
        if `tell`, tells the session's watchers.
        `basis`: the version and incarnation the request read (store.basis); False, with nothing
        appended, when the session moved past them (or is gone).
        `pending`: the request's change, deferred (run_deferred): committed in the same script
        (COMMIT_APPEND), which checks what the change read; False, with neither done, if it moved."""
        meta, records, *journal = self._keys(sid)
        expected = [basis[0], basis[1]] if basis is not None and pending is None else ["", ""]
        keys = [meta, records, self._in_step(self._index(split_sid(sid)[0]), sid), *journal, self._timeline_key(sid)]
        args = [codec.dumps(entry), self.options.journal_size, self._ttl_of(sid), mark or "",
                KEPT.index(keep) + 1 if keep else 0, self.options.journal_bytes, *KEPT, sid, time.time(),
                *expected, self._channel(sid) if tell else ""]
        if pending is None:
            done = await self._call(lambda r: self._script("append", r, keys, args), changes=True)
        else:
            commit_keys = [meta, records, self._in_step(self._wake_key, sid), self._timeline_key(sid)]
            done = await self._call(lambda r: self._script(
                "commit_append", r, [*commit_keys, *keys], [len(pending.argv), *pending.argv, *args]), changes=True)
            if done:
                self._committed(sid, pending)
        if not done:
            self._cache.pop(sid, None)  # the request runs again on what Redis holds now
        return bool(done)

    async def journal_tally(self, sid: str) -> dict | None:
        """What the client's report reads (as Journal.tally), or None if there is no such session."""
        meta, _, journal, _, tally, *kept, _ = self._keys(sid)

        async def read(r):
            async with r.pipeline(transaction=True) as pipe:
                pipe.exists(meta)
                pipe.llen(journal)
                pipe.hgetall(tally)
                for key in kept:
                    pipe.lrange(key, 0, -1)
                return await pipe.execute()
        exists, length, counts, *lists = await self._call(read)
        if not exists:
            return None
        found = {"kept": length, "tally": {k.decode(): int(v) for k, v in counts.items()}}
        for kind, raw in zip(KEPT, lists):
            found[kind] = []
            for item in raw:  # "<seq> <entry>": the seq is only known inside the script
                seq, _, entry = item.partition(b" ")
                found[kind].append({"seq": int(seq), **codec.loads(entry)})
        return found

    async def journal_query(self, sid: str) -> list[dict]:
        _, _, journal, count, *_ = self._keys(sid)

        async def query(r):
            async with r.pipeline(transaction=True) as pipe:
                pipe.lrange(journal, 0, -1)
                pipe.get(count)
                return await pipe.execute()
        raw, total = await self._call(query)
        first = int(total or 0) - len(raw) + 1
        return [{"seq": first + i, **codec.loads(e)} for i, e in enumerate(raw)]

    async def journal_held(self, sid: str) -> dict[str, int]:
        """The bytes each list counts now (as Journal.held)."""
        held = await self._call(lambda r: r.hgetall(self._keys(sid)[-1]))
        return {"journal": 0, **{kind: 0 for kind in KEPT}, **{k.decode(): int(v) for k, v in held.items()}}

    async def journal_clear(self, sid: str) -> None:
        _, _, journal, _, *report = self._keys(sid)
        await self._call(lambda r: r.delete(journal, *report))
        await self._call(lambda r: r.spublish(self._channel(sid), b"j"))

    async def journal_length(self, sid: str) -> int:
        return await self._call(lambda r: r.llen(self._keys(sid)[2]))
