"""The store contract: what the rest of the sandbox calls on a store, which every store implements.

A unit of work is a plain function `fn(tx, *args)` given to `run` (or `run_existing`,
`run_sync`). It never awaits: it runs whole on one state, reading and putting through its `Tx`,
and the store commits all of its puts or, if it raises, none of them. A store may run it again
on a newer state (the Redis store does, when another process committed first), so it must
not act outside its `Tx` either: whatever it needs from elsewhere (a time, a body, a token) is
read before and passed in. tests/store/test_conformance.py and test_protocol.py hold every
store to this contract.
"""
from __future__ import annotations

from typing import Any, AsyncContextManager, Callable, Protocol

from sandbox.store.base import Options
from sandbox.store.notices import Watcher
from sandbox.store.state import SessionState

Unit = Callable[..., Any]  # fn(tx, *args, **kwargs): see the module's docstring


class Store(Protocol):
    """Sessions by id (NAME, or NAME@TEAM: sandbox/store/base.py), each a state changed by
    units of work, with its journal; beside them, the built-in inboxes and a count of
    requests refused before any session."""

    kind: str         # "memory", "redis": what the app and the CLI tell apart
    options: Options  # as given; the app sets `on_wake` once its sender exists

    # -- sessions --
    async def open(self, sid: str, owner: str | None = None, create: bool = True, use: bool = True,
                   fresh: bool = True) -> SessionState | None:
        """The session's state, made (with `owner`) if it is not live and `create`; None if it is
        not and not `create`. `use`: counts as its use (its place among the least recently used,
        its idle time). `fresh` False: a state this process holds may do, without asking."""

    async def find(self, sid: str) -> SessionState | None:
        """The session's state if it is live; never makes one, nor counts as its use."""

    async def run(self, sid: str, fn: Unit, *args, **kwargs) -> Any:
        """fn(tx, *args, **kwargs) as one unit of work on the session (made if need be): its
        changes commit whole, the version going up by one, or (if it raises) not at all."""

    async def run_once(self, sid: str, fn: Unit, *args, **kwargs) -> Any:
        """As run, but one attempt on what this process holds: a change that finds the session
        moved on raises errors.SessionMoved (the request then runs again whole) where run would
        run fn again on the newer state."""

    async def run_deferred(self, sid: str, fn: Unit, *args, **kwargs) -> tuple[Any, Any]:
        """As run_once, returning (result, pending): a store that can defers the change, which
        then commits with the request's journal entry (journal_append's `pending`) or alone
        (commit_pending); pending None where it was committed here, or nothing changed."""

    async def commit_pending(self, sid: str, pending: Any) -> None:
        """Commit a deferred change alone; errors.SessionMoved if the session moved past what it read."""

    def basis(self, sid: str) -> tuple | None:
        """What a request that opened the session without asking the store read (its version and
        incarnation), for journal_append to check; None where nothing needs checking."""

    async def run_existing(self, sid: str, fn: Unit, *args) -> Any:
        """As `run` on a session that is live (a sender's work never makes one); None if not."""

    def latest(self, sid: str, known: SessionState) -> SessionState:
        """The newest state of the session this process holds, `known` if none, without asking."""

    async def reset(self, sid: str, scenario: str | None) -> SessionState:
        """Back to a scenario's seed (None: the default), keeping the clock and owner; empties
        its records and journal; the version goes on by one."""

    async def delete(self, sid: str) -> None:
        """Forget the session: its state and journal."""

    async def sessions(self, tenants: list[str | None]) -> list[str]:
        """The live sessions of these tenants, each one's default first, then by last use."""

    # -- senders of notifications (sandbox/notify/sender.py) --
    def sibling(self) -> Store:
        """The store a sender thread uses, on an event loop of its own."""

    def may_have_work(self) -> bool:
        """Whether a sender should look before any commit wakes it."""

    async def prepare(self) -> None:
        """Make what must exist before a sender looks (the default session)."""

    async def woken(self, now: float) -> list[str]:
        """The sessions a sender should look at by `now` (host's clock)."""

    async def next_wake(self) -> float | None:
        """When a sender should next look at any session (host's clock); None: no session waits."""

    # -- requests refused before any session: counted for the whole server --
    async def count_unauthenticated(self, field: str) -> None:
        """Count one more request under `field`."""

    async def unauthenticated(self) -> dict[str, int]:
        """Every field's count."""

    async def timeline(self, sid: str) -> list[dict]:
        """The session's timeline entries (sandbox/domain/timeline.py), in no order; [] for no such
        session. Kept apart from its records, so following another process's change reads none of it."""

    # -- change notices: what a live dashboard waits on (sandbox/store/notices.py) --
    def watch(self, sid: str) -> AsyncContextManager[Watcher]:
        """An async context manager giving a Watcher of the session: its `changed(timeout)` returns
        what changed since it last returned ("state": a commit, reset or delete; "journal": an
        entry told, or a clear), made by this process or, on Redis, any other. Telling costs no
        round trip: the scripts that change a session publish on its channel."""

    # -- journals: each session's, bounded by options.journal_size and journal_bytes --
    async def journal_append(self, sid: str, entry: dict, mark: str | None = None, keep: str | None = None,
                             basis: tuple | None = None, tell: bool = True, pending: Any = None) -> bool:
        """Append an entry (counted under `mark` in the tally, or under each of several fields
        `mark` separates by newlines; kept apart too under `keep`, one of
        sandbox/store/journal.py KEPT); False, appending nothing, if the session moved past
        `basis`, the state a request read (the memory store always appends). `tell` False: the
        session's watchers are not told (the dashboard's own reads, which would wake it again)."""

    async def journal_query(self, sid: str) -> list[dict]:
        """The entries kept, oldest first, each with its `seq`."""

    async def journal_tally(self, sid: str) -> dict | None:
        """What the client's report reads (as Journal.tally), or None if there is no such session."""

    async def journal_held(self, sid: str) -> dict[str, int]:
        """The bytes each of the journal's lists counts now (as Journal.held)."""

    async def journal_clear(self, sid: str) -> None:
        """Empty the journal, its tally and the entries it keeps apart."""

    async def journal_length(self, sid: str) -> int:
        """How many entries the journal keeps now."""

    # -- inboxes: what the built-in receiver got, by name, outside every session --
    async def inbox_append(self, name: str, entry: dict) -> None:
        """Keep an entry; the oldest of all inboxes go first past options.inbox_bytes."""

    async def inbox_bytes(self) -> int:
        """What the inboxes' bound counts now: at least what they hold."""

    async def inbox_read(self, name: str) -> list[dict]:
        """An inbox's entries, oldest first."""

    async def inbox_clear(self, name: str) -> None:
        """Empty an inbox."""

    # -- the store itself --
    async def ping(self) -> None:
        """Raise StoreUnavailable if the store does not answer."""

    async def release(self) -> None:
        """Let go of what the running event loop holds (it is ending)."""

    async def close(self) -> None:
        """Let go of everything held."""


class SyncStore(Store, Protocol):
    """A store in this process, also reachable without an event loop (tests, sandbox/store/direct.py)."""

    def open_sync(self, sid: str, owner: str | None = None) -> SessionState:
        """As `open`, from any thread."""

    def run_sync(self, sid: str, fn: Unit, *args, **kwargs) -> Any:
        """As `run`, from any thread."""
