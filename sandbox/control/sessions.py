"""Sessions (B12): each (tenant, name) gets its own state over a seed, clock, journal and faults,
kept by the store. A tenant is a team on a hosted sandbox, and nobody (None) on a laptop."""
from __future__ import annotations

import re

from sandbox import errors
from sandbox.store.base import DEFAULT, sid_of, split_sid
from sandbox.store.protocol import Store
from sandbox.store.state import SessionState

HEADER = "X-Sandbox-Session"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")


class Session:
    """One request's handle on a session: its tenant and name, the state it was opened at, and
    units of work through the store, after each of which `state` is the committed one."""

    def __init__(self, store: Store, tenant: str | None, name: str, state: SessionState):
        self.store, self.tenant, self.name, self.state = store, tenant, name, state
        self.sid = sid_of(tenant, name)

    async def run(self, fn, *args, **kwargs):
        """fn(tx, ...) as one unit of work on this session."""
        result = await self.store.run(self.sid, fn, *args, **kwargs)
        self.state = self.store.latest(self.sid, self.state)
        return result

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

    async def open(self, tenant: str | None, name: str) -> Session:
        """The session, made if it is new (the caller is authenticated: see sandbox/http/context.py)."""
        return Session(self.store, tenant, name, await self.store.open(sid_of(tenant, name), owner=tenant))

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
