"""The in-process store: sessions' state in this process's memory, one lock around each unit of work."""
from __future__ import annotations

import heapq
import threading
import time
from collections import OrderedDict, deque

from sandbox.domain.timeline import TIMELINE
from sandbox.store.journal import Journal
from sandbox.store.notices import JOURNAL, STATE, Notices
from sandbox.store import codec
from sandbox.store.base import DEFAULT, Options, check_bound, fresh, is_default, sid_of, split_sid, tell, wake_of
from sandbox.store.state import SessionState, Tx


class MemoryStore:  # a SyncStore (sandbox/store/protocol.py)
    """Units of work run whole under one lock: handlers run on the event loop, but tests and
    the control plane's callers reach the state from other threads too, and two concurrent
    actions on one task must produce exactly one success (B5)."""

    kind = "memory"

    def __init__(self, **options):
        self.options = Options(**options)
        # Every session by last use, oldest first (idle expiry takes from the front), and each
        # tenant's by last use (its cap evicts from its front): no request scans all sessions.
        self._states: OrderedDict[str, SessionState] = OrderedDict()
        self._tenants: dict[str, OrderedDict[str, None]] = {}
        self._journals: dict[str, Journal] = {}
        self._used: dict[str, float] = {}
        self._wake: dict[str, float] = {}  # sid -> when a sender should look at it (host's clock)
        # The same as a heap of (when, sid), so a sender's look costs O(log n) per session due, not a scan
        # of all; an entry whose time is no longer the session's is dropped when it comes up.
        self._wake_heap: list[tuple[float, str]] = []
        self._inboxes: OrderedDict[str, deque] = OrderedDict()
        # Every inbox entry in the order it came: (seq, bytes counted, name); the oldest goes first.
        self._inbox_order: deque[tuple[int, int, str]] = deque()
        self._inbox_bytes = 0
        self._inbox_seq = 0
        self._unauthenticated: dict[str, int] = {}
        self._lock = threading.RLock()
        self.notices = Notices()  # the sender's thread commits too: it tells across threads
        self._open(DEFAULT)  # its seed's schedule starts with the app, as the clock it was given

    # -- sessions --
    def _open(self, sid: str, owner: str | None = None, create: bool = True, use: bool = True) -> SessionState | None:
        now = self.options.monotonic()
        state = self._states.get(sid)
        if state is not None and self._idle(sid, now):
            self._forget(sid)
            state = None
        if state is None:
            if not create:
                return None
            state = self._states[sid] = fresh(self.options, sid, owner=owner)
            self._tenants.setdefault(split_sid(sid)[0] or "", OrderedDict())[sid] = None
            self._journals[sid] = Journal(self.options.journal_size, self.options.journal_bytes)
            self._used[sid] = now
            self._evict(sid, now)
            if state.seed.tables["subscriptions"]:  # its fixtures subscribe already: maybe something to send
                self._set_wake(sid, Tx(state, sid, self.options.id_seed))
        if use:
            self._states.move_to_end(sid)
            self._tenants[split_sid(sid)[0] or ""].move_to_end(sid)
            self._used[sid] = now
        return state

    def _idle(self, sid: str, now: float) -> bool:
        idle = self.options.idle_seconds
        return idle is not None and not is_default(sid) and now - self._used[sid] > idle

    def _evict(self, new: str, now: float) -> None:
        """Idle sessions from the oldest on, then the new session's tenant's least recently used
        over its cap: O(1) for each session dropped, however many are live."""
        idle = []
        for sid in self._states:  # oldest first; defaults (one per tenant) are passed over
            if is_default(sid):
                continue
            if not self._idle(sid, now):
                break
            idle.append(sid)
        for sid in idle:
            self._forget(sid)
        name = split_sid(new)[0]
        tenant = self._tenants[name or ""]
        while len(tenant) - (sid_of(name, DEFAULT) in tenant) > self.options.max_sessions:
            oldest = next((s for s in tenant if not is_default(s) and s != new), None)
            if oldest is None:  # the session being made is never its own victim
                break
            self._forget(oldest)

    def _forget(self, sid: str) -> None:
        self._wake.pop(sid, None)
        if self._states.pop(sid, None) is not None:
            self._tenants[split_sid(sid)[0] or ""].pop(sid, None)
        self._journals.pop(sid, None)
        self._used.pop(sid, None)

    async def open(self, sid: str, owner: str | None = None, create: bool = True, use: bool = True,
                   fresh: bool = True) -> SessionState | None:
        """The session's state (sandbox/store/protocol.py); always this process's, so `fresh` changes nothing."""
        with self._lock:
            return self._open(sid, owner, create, use)

    def basis(self, sid: str) -> None:
        """Nothing for journal_append to check: no other process changes these sessions."""
        return None

    async def find(self, sid: str) -> SessionState | None:
        """The session's state if it is live; never makes one, nor counts as its use."""
        return await self.open(sid, create=False, use=False)

    def open_sync(self, sid: str, owner: str | None = None) -> SessionState:
        with self._lock:
            return self._open(sid, owner)

    async def run(self, sid: str, fn, *args, **kwargs):
        return self.run_sync(sid, fn, *args, **kwargs)

    run_once = run  # what a request read is never stale here

    async def run_deferred(self, sid: str, fn, *args, **kwargs):
        return await self.run(sid, fn, *args, **kwargs), None  # committed at once: nothing waits for the entry

    async def commit_pending(self, sid: str, pending) -> None:
        """Never called with anything: run_deferred leaves nothing pending here."""

    def run_sync(self, sid: str, fn, *args, **kwargs):
        """fn(tx, ...) as one unit of work: its changes land whole, or (if it raises) not at all."""
        with self._lock:
            state = self._open(sid)
            tx = Tx(state, sid, self.options.id_seed)
            result = fn(tx, *args, **kwargs)
            if tx.dirty:
                check_bound(self.options, state, tx)
                tx.commit_into(state)
                self._set_wake(sid, tx)
                self.notices.tell(sid, STATE)
            return result

    def _set_wake(self, sid: str, tx: Tx) -> None:
        found = wake_of(self.options, tx, time.time())
        if found is None:
            self._wake.pop(sid, None)
        elif self._wake.get(sid) != found:
            self._wake[sid] = found
            heapq.heappush(self._wake_heap, (found, sid))
            if len(self._wake_heap) > 2 * len(self._wake) + 64:  # mostly outdated entries: start again
                self._wake_heap = [(at, s) for s, at in self._wake.items()]
                heapq.heapify(self._wake_heap)
        tell(self.options, found)

    def sibling(self) -> "MemoryStore":
        """The store a sender thread uses: this one (its units run under the lock)."""
        return self

    def may_have_work(self) -> bool:
        return bool(self._wake)

    async def run_existing(self, sid: str, fn, *args):
        """fn(tx, ...) on a session that exists (a sender's work never makes one); None if it does not."""
        with self._lock:
            if self._open(sid, create=False) is None:
                self._wake.pop(sid, None)
                return None
            return self.run_sync(sid, fn, *args)

    async def woken(self, now: float) -> list[str]:
        """The sessions due by `now`: taken off the heap's top and put back (the sender's work on
        each sets its next time)."""
        with self._lock:
            due: dict[str, float] = {}
            heap = self._wake_heap
            while heap and heap[0][0] <= now:
                at, sid = heapq.heappop(heap)
                if self._wake.get(sid) == at:
                    due[sid] = at
            for sid, at in due.items():
                heapq.heappush(heap, (at, sid))
            return list(due)

    async def next_wake(self) -> float | None:
        with self._lock:
            heap = self._wake_heap
            while heap and self._wake.get(heap[0][1]) != heap[0][0]:
                heapq.heappop(heap)
            return heap[0][0] if heap else None

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
            self.notices.tell(sid, STATE)
            return new

    async def delete(self, sid: str) -> None:
        with self._lock:
            self._forget(sid)
        self.notices.tell(sid, STATE)

    async def timeline(self, sid: str) -> list[dict]:
        with self._lock:
            state = self._states.get(sid)
            return [] if state is None else list(state.own.tables[TIMELINE].values())

    def watch(self, sid: str):
        """Waits on the session's changes (sandbox/store/notices.py)."""
        return self.notices.watch(sid)

    async def sessions(self, tenants: list[str | None]) -> list[str]:
        """The live sessions of these tenants, each one's default first, then by last use."""
        with self._lock:
            found = []
            for tenant in tenants:
                sids = list(self._tenants.get(tenant or "", ()))
                found += sorted(sids, key=lambda sid: not is_default(sid))
            return found

    # -- requests refused before any session: counted for the whole server --
    async def count_unauthenticated(self, field: str) -> None:
        with self._lock:
            self._unauthenticated[field] = self._unauthenticated.get(field, 0) + 1

    async def unauthenticated(self) -> dict[str, int]:
        with self._lock:
            return dict(self._unauthenticated)

    # -- journals --
    async def journal_append(self, sid: str, entry: dict, mark: str | None = None, keep: str | None = None,
                             basis: tuple | None = None, tell: bool = True, pending=None) -> bool:
        """Appends to a live session's journal and returns True: `basis` (the Redis store's check) is
        ignored, and nothing is ever `pending` here (run_deferred)."""
        journal = self._journals.get(sid)
        if journal is not None:
            journal.record(entry, mark, keep)
            if tell:
                self.notices.tell(sid, JOURNAL)
        return True

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
            self.notices.tell(sid, JOURNAL)

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
