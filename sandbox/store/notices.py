"""Change notices of sessions inside one process: told from any thread, awaited on any event loop."""
from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import AsyncIterator, Awaitable, Callable

STATE, JOURNAL = "state", "journal"  # what changed: a commit (records, clock, faults...), or the journal
KINDS = {b"s": STATE, b"j": JOURNAL}  # as the Redis store's scripts publish them (sandbox/store/scripts.py)


class Watcher:
    """One watcher of one session, on the event loop it was made on; `changed` returns what
    changed since it last returned."""

    def __init__(self, sid: str):
        self.sid = sid
        self.loop = asyncio.get_running_loop()
        self._kinds: set[str] = set()
        self._event = asyncio.Event()

    def tell(self, kind: str) -> None:
        """From any thread: the store's sender runs on a loop of its own."""
        try:
            self.loop.call_soon_threadsafe(self._told, kind)
        except RuntimeError:  # its loop has closed: nobody waits any more
            pass

    def _told(self, kind: str) -> None:
        self._kinds.add(kind)
        self._event.set()

    async def changed(self, timeout: float) -> set[str]:
        """What changed (STATE, JOURNAL), waiting up to `timeout` seconds for something to; empty if nothing did."""
        if not self._kinds:
            try:
                async with asyncio.timeout(max(0.0, timeout)):
                    await self._event.wait()
            except TimeoutError:
                return set()
        kinds, self._kinds = self._kinds, set()
        self._event.clear()
        return kinds


class Notices:
    """Who waits on which session in this process. `subscribe` is awaited as each watcher comes
    (it must do nothing if done already: a watcher that came while an earlier one's failed tries
    again), `unsubscribe` when a session loses its last (the Redis store's subscriptions)."""

    def __init__(self, subscribe: Callable[[str], Awaitable[None]] | None = None,
                 unsubscribe: Callable[[str], Awaitable[None]] | None = None):
        self._lock = threading.Lock()
        self._watchers: dict[str, set[Watcher]] = {}
        self._subscribe, self._unsubscribe = subscribe, unsubscribe

    def tell(self, sid: str, kind: str) -> None:
        with self._lock:
            watchers = tuple(self._watchers.get(sid, ()))
        for watcher in watchers:
            watcher.tell(kind)

    def watching(self, sid: str) -> int:
        with self._lock:
            return len(self._watchers.get(sid, ()))

    @contextlib.asynccontextmanager
    async def watch(self, sid: str) -> AsyncIterator[Watcher]:
        watcher = Watcher(sid)
        with self._lock:
            self._watchers.setdefault(sid, set()).add(watcher)
        try:
            if self._subscribe is not None:
                await self._subscribe(sid)
            yield watcher
        finally:
            with self._lock:
                found = self._watchers.get(sid, set())
                found.discard(watcher)
                last = not found
                if last:
                    self._watchers.pop(sid, None)
            if last and self._unsubscribe is not None:
                await self._unsubscribe(sid)
