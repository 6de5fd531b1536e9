"""Sessions (B12): each (tenant, name) gets its own state over a seed, clock, journal and faults,
kept by the store. A tenant is a team on a hosted sandbox, and nobody (None) on a laptop."""
from __future__ import annotations

import re

from sandbox import errors
from sandbox.control import timeline as noted
from sandbox.domain import timeline
from sandbox.store.base import DEFAULT, sid_of, split_sid
from sandbox.store.protocol import Store
from sandbox.store.state import SessionState

HEADER = "X-Sandbox-Session"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")


def _because(cause: dict, fn):
    def unit(tx, *args, **kwargs):
        tx.cause = cause
        return fn(tx, *args, **kwargs)
    return unit


class Session:
    """One request's handle on a session: its tenant and name, the state it was opened at, and
    units of work through the store, after each of which `state` is the committed one.

    `basis` is set when the request opened the session without a round trip (what the process
    held): until it commits a change, its units run once and its journal entry checks that the
    session did not move past `basis`; either failing, the request runs again on a fresh state
    (sandbox/control/layers.py JournalRecorder). The first change is `pending` where the store
    defers it (store.run_deferred): the journal entry commits it in the same step, or the next
    unit first."""

    def __init__(self, store: Store, tenant: str | None, name: str, state: SessionState, basis: tuple | None = None):
        self.store, self.tenant, self.name, self.state = store, tenant, name, state
        self.sid = sid_of(tenant, name)
        self.basis = basis
        self.wrote = False
        self.pending = None  # a change made, to be committed with the journal entry
        self.cause, self.action = timeline.SANDBOX, None

    def made_by(self, kind: str, operation: str | None) -> None:
        """The request its units run for: their changes' cause on the timeline, and a control
        action's own note, made once, with its first unit's commit (sandbox/control/timeline.py)."""
        self.cause = timeline.cause_of(kind, operation)
        self.action = operation if kind == "control" and operation in noted.ACTIONS else None

    async def run(self, fn, *args, **kwargs):
        """fn(tx, ...) as one unit of work on this session."""
        cause, action = self.cause, self.action
        if action is not None:
            fn = noted.noting(action, fn)
        if cause is not timeline.SANDBOX:
            fn = _because(cause, fn)
        result = await self._run(fn, *args, **kwargs)
        self.action = None
        return result

    async def _run(self, fn, *args, **kwargs):
        await self.commit()  # a unit reads what the one before it changed
        if self.basis is None or self.wrote:
            result = await self.store.run(self.sid, fn, *args, **kwargs)
        else:
            done = []

            def unit(tx, *args, **kwargs):
                found = fn(tx, *args, **kwargs)
                done.append(tx.dirty)
                return found
            result, self.pending = await self.store.run_deferred(self.sid, unit, *args, **kwargs)
            self.wrote = done[-1]
        self.state = self.store.latest(self.sid, self.state)
        return result

    async def commit(self) -> None:
        """Commit the pending change alone (errors.SessionMoved if the session moved past it)."""
        pending, self.pending = self.pending, None
        if pending is not None:
            await self.store.commit_pending(self.sid, pending)
            self.state = self.store.latest(self.sid, self.state)

    async def note(self, operation: str, details: dict) -> None:
        """Note a control action the store made outside any unit of work."""
        await self.run(noted.done, operation, details)

    @property
    def checks(self) -> tuple | None:
        """What the journal entry checks: the basis, unless a commit checked it already."""
        return None if self.wrote else self.basis

    def key(self, secret: str):
        return self.state.get("keys", secret)


def server_keys(scenarios) -> tuple[dict, set]:
    """Keys are the server's: every scenario's, the default fixtures' winning a clash; a request's
    team comes from here before any session is opened. Returns (secret -> key, the teams)."""
    keys: dict = {}
    for listed in reversed(scenarios.names()):
        keys.update(scenarios.seed(listed["name"]).tables["keys"])
    return keys, {key.team_id for key in keys.values()}


class Sessions:
    def __init__(self, store: Store, scenarios):
        self.store = store
        self.scenarios = scenarios
        self.keys, self.teams = server_keys(scenarios)

    @property
    def max_sessions(self) -> int:
        return self.store.options.max_sessions

    @staticmethod
    def check_name(name: str) -> None:
        if not NAME.match(name):
            raise errors.InvalidSession(
                f"{HEADER} must be 1-64 letters, digits, '.', '_', ':' or '-', starting with a letter or digit.")

    async def open(self, tenant: str | None, name: str, fresh: bool = True) -> Session:
        """The session, made if it is new (the caller is authenticated: see sandbox/http/context.py).
        Without `fresh`, what this process holds of it, checked when the request is journalled."""
        sid = sid_of(tenant, name)
        state = await self.store.open(sid, owner=tenant, fresh=fresh)
        return Session(self.store, tenant, name, state, None if fresh else self.store.basis(sid))

    async def find(self, tenant: str | None, name: str) -> Session | None:
        """The session if it exists; never makes one."""
        state = await self.store.find(sid_of(tenant, name))
        return None if state is None else Session(self.store, tenant, name, state)

    async def reset(self, session: Session, scenario: str | None = None) -> Session:
        """Back to the fixtures (or a scenario): records, pending transitions, ids, journal and
        faults. The clock keeps its time: it never moves back (B9)."""
        self.scenarios.seed(scenario)  # an unknown scenario changes nothing
        session.state = await self.store.reset(session.sid, scenario)
        return session

    async def delete(self, session: Session) -> None:
        """Forget a named session; the default one stays (reset it instead)."""
        if session.name == DEFAULT:
            raise errors.InvalidSession("The default session cannot be deleted; reset it with POST /_sandbox/reset.")
        await self.store.delete(session.sid)

    async def sids(self, tenants: list[str | None]) -> list[str]:
        """The live sessions' ids of these tenants, each tenant's default first."""
        return await self.store.sessions(tenants)

    @staticmethod
    def shown(sid: str, everyone: bool) -> str:
        """A session's name as a caller sees it: the admin sees the team too (NAME@TEAM)."""
        return sid if everyone else split_sid(sid)[1]
