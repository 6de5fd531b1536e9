"""The in-process store: sessions' state in this process's memory, one lock around each unit of work."""
from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque

from sandbox.control.journal import Journal
from sandbox.store import codec
from sandbox.store.base import DEFAULT, Options, fresh, tell, wake_of
from sandbox.store.state import SessionState, Tx


class MemoryStore:
    """Units of work run whole under one lock: handlers run on the event loop, but tests and
    the control plane's callers reach the state from other threads too, and two concurrent
    actions on one task must produce exactly one success (B5)."""

    kind = "memory"

    def __init__(self, **options):
        self.options = Options(**options)
        self._states: OrderedDict[str, SessionState] = OrderedDict()
        self._journals: dict[str, Journal] = {}
        self._used: dict[str, float] = {}
        self._wake: dict[str, float] = {}
        self._inboxes: OrderedDict[str, deque] = OrderedDict()  # sid -> when a sender should look at it (host's clock)
        # Every inbox entry in the order it came: (seq, bytes counted, name); the oldest goes first.
        self._inbox_order: deque[tuple[int, int, str]] = deque()
        self._inbox_bytes = 0
        self._inbox_seq = 0
        self._lock = threading.RLock()
        self._open(DEFAULT)  # its seed's schedule starts with the app, as the clock it was given

    # -- sessions --
    def _open(self, sid: str, owner: str | None = None) -> SessionState:
        now = time.monotonic()
        idle = self.options.idle_seconds
        state = self._states.get(sid)
        if state is not None and sid != DEFAULT and idle is not None and now - self._used[sid] > idle:
            self._forget(sid)
            state = None
        if state is None:
            state = self._states[sid] = fresh(self.options, sid, owner=owner)
            self._journals[sid] = Journal(self.options.journal_size, self.options.journal_bytes)
            self._evict(now)
            if state.seed.tables["subscriptions"]:  # its fixtures subscribe already: maybe something to send
                self._set_wake(sid, Tx(state, sid, self.options.id_seed))
        if sid != DEFAULT:
            self._states.move_to_end(sid)
        self._used[sid] = now
        return state

    def _evict(self, now: float) -> None:
        idle = self.options.idle_seconds
        if idle is not None:
            for sid in [s for s, used in self._used.items() if s != DEFAULT and now - used > idle]:
                self._forget(sid)
        while len(self._states) - (DEFAULT in self._states) > self.options.max_sessions:
            self._forget(next(s for s in self._states if s != DEFAULT))

    def _forget(self, sid: str) -> None:
        self._wake.pop(sid, None)
        self._states.pop(sid, None)
        self._journals.pop(sid, None)
        self._used.pop(sid, None)

    async def open(self, sid: str, owner: str | None = None) -> SessionState:
        return self.open_sync(sid, owner)

    def open_sync(self, sid: str, owner: str | None = None) -> SessionState:
        with self._lock:
            return self._open(sid, owner)

    async def run(self, sid: str, fn, *args, **kwargs):
        return self.run_sync(sid, fn, *args, **kwargs)

    def run_sync(self, sid: str, fn, *args, **kwargs):
        """fn(tx, ...) as one unit of work: its changes land whole, or (if it raises) not at all."""
        with self._lock:
            state = self._open(sid)
            tx = Tx(state, sid, self.options.id_seed)
            result = fn(tx, *args, **kwargs)
            if tx.dirty:
                tx.commit_into(state)
                self._set_wake(sid, tx)
            return result

    def _set_wake(self, sid: str, tx: Tx) -> None:
        found = wake_of(self.options, tx, time.time())
        if found is None:
            self._wake.pop(sid, None)
        else:
            self._wake[sid] = found
        tell(self.options, found)

    def sibling(self) -> "MemoryStore":
        """The store a sender thread uses: this one (its units run under the lock)."""
        return self

    def may_have_work(self) -> bool:
        return bool(self._wake)

    async def run_existing(self, sid: str, fn, *args):
        """fn(tx, ...) on a session that exists (a sender's work never makes one); None if it does not."""
        with self._lock:
            state = self._states.get(sid)
            idle = self.options.idle_seconds
            if state is None or (sid != DEFAULT and idle is not None and time.monotonic() - self._used[sid] > idle):
                self._forget(sid)
                return None
            return self.run_sync(sid, fn, *args)

    async def woken(self, now: float) -> list[str]:
        with self._lock:
            return [sid for sid, at in self._wake.items() if at <= now]

    async def next_wake(self) -> float | None:
        with self._lock:
            return min(self._wake.values(), default=None)

    def latest(self, sid: str, known: SessionState) -> SessionState:
        return self._states.get(sid, known)

    async def reset(self, sid: str, scenario: str | None) -> SessionState:
        with self._lock:
            old = self._open(sid)
            new = fresh(self.options, sid, scenario, clock=old.clock, owner=old.owner)
            new.version = old.version + 1
            self._states[sid] = new
            self._journals[sid].clear()
            self._set_wake(sid, Tx(new, sid, self.options.id_seed))
            return new

    async def delete(self, sid: str) -> None:
        with self._lock:
            self._forget(sid)

    async def sessions(self) -> list[dict]:
        with self._lock:
            return [{"sid": sid, "owner": s.owner} for sid, s in self._states.items()]

    # -- journals --
    async def journal_append(self, sid: str, entry: dict, mark: str | None = None, keep: str | None = None) -> None:
        journal = self._journals.get(sid)
        if journal is not None:
            journal.record(entry, mark, keep)

    async def journal_query(self, sid: str) -> list[dict]:
        journal = self._journals.get(sid)
        return journal.query() if journal is not None else []

    async def journal_tally(self, sid: str) -> dict | None:
        """What the client's report reads (Journal.tally), or None if there is no such session."""
        journal = self._journals.get(sid)
        return journal.tally() if journal is not None else None

    async def journal_held(self, sid: str) -> dict[str, int]:
        journal = self._journals.get(sid)
        return journal.held() if journal is not None else {}

    async def journal_clear(self, sid: str) -> None:
        journal = self._journals.get(sid)
        if journal is not None:
            journal.clear()

    async def journal_length(self, sid: str) -> int:
        return len(self._journals.get(sid) or ())

    # -- inboxes: what the built-in receiver got, by name, outside every session --
    async def inbox_append(self, name: str, entry: dict) -> None:
        """Entries are kept as JSON bytes: parsed, 64 KiB of JSON can take megabytes. The
        oldest entries go first, whatever their name, while all of them hold more than
        options.inbox_bytes (entries and the order's records, as the Redis store counts)."""
        data = codec.dumps(entry)
        size = len(data) + len(name.encode())
        with self._lock:
            self._inbox_seq += 1
            box = self._inboxes.pop(name, None) or deque()
            box.append((self._inbox_seq, data))
            self._inboxes[name] = box  # most recently used last
            self._inbox_order.append((self._inbox_seq, size, name))
            self._inbox_bytes += size
            if len(box) > self.options.journal_size:
                box.popleft()  # its record in the order is skipped when it comes up
            while len(self._inboxes) > self.options.max_sessions + 1:
                self._inboxes.popitem(last=False)
            while self._inbox_bytes > self.options.inbox_bytes:
                seq, size, name = self._inbox_order.popleft()
                self._inbox_bytes -= size
                box = self._inboxes.get(name)
                if box and box[0][0] == seq:  # else gone already: cleared, trimmed or its name evicted
                    box.popleft()
                    if not box:
                        del self._inboxes[name]

    async def inbox_bytes(self) -> int:
        """What the inboxes' bound counts now: at least what they hold."""
        with self._lock:
            return self._inbox_bytes

    async def inbox_read(self, name: str) -> list[dict]:
        with self._lock:
            return [codec.loads(data) for _, data in self._inboxes.get(name, ())]

    async def inbox_clear(self, name: str) -> None:
        with self._lock:
            self._inboxes.pop(name, None)

    async def ping(self) -> None:
        """The memory store is always there."""

    async def prepare(self) -> None:
        """The default session is made with the store."""

    async def release(self) -> None:
        """Nothing is held per event loop."""

    async def close(self) -> None:
        """Nothing to release."""
