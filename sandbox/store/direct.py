"""Synchronous access to one session of an in-process store, for tests and scripts beside the app."""
from __future__ import annotations

from dataclasses import replace

from sandbox.domain import world
from sandbox.store.protocol import SyncStore
from sandbox.store.state import KINDS, SessionState


class _Kind:
    """One kind of a session's records, read-only."""

    def __init__(self, state: SessionState, kind: str):
        self.state, self.kind = state, kind

    def get(self, key, default=None):
        found = self.state.get(self.kind, key)
        return default if found is None else found

    def __getitem__(self, key):
        found = self.state.get(self.kind, key)
        if found is None:
            raise KeyError(key)
        return found

    def __contains__(self, key) -> bool:
        return self.state.get(self.kind, key) is not None

    def __len__(self) -> int:
        return self.state.count(self.kind)

    def values(self):
        return self.state.values(self.kind)


class Direct:
    """`direct.get_task(key, ...)` runs world.get_task as one unit of work on the session;
    `direct.change(fn)` runs any fn(tx); `records` and `clock` read its committed state."""

    def __init__(self, store: SyncStore, sid: str):
        self.store, self.sid = store, sid

    @property
    def state(self) -> SessionState:
        return self.store.open_sync(self.sid)

    @property
    def clock(self):
        return self.state.clock

    @property
    def records(self):
        state = self.state
        return type("Records", (), {kind: _Kind(state, kind) for kind in KINDS})()

    def change(self, fn, *args, **kwargs):
        return self.store.run_sync(self.sid, fn, *args, **kwargs)

    def update(self, kind: str, key: str, **changes):
        """Put a record with `changes` (as a fixture could have it), in one unit of work."""
        def put(tx):
            tx.put(kind, key, replace(tx.get(kind, key), **changes))
        return self.change(put)

    def __getattr__(self, name: str):
        fn = getattr(world, name)
        return lambda *args, **kwargs: self.store.run_sync(self.sid, fn, *args, **kwargs)
