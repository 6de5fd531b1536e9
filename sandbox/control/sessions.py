"""Sessions (B12): each name gets its own state over a seed, clock, journal and faults, kept by
the store; on a shared sandbox a name belongs to the team whose key first used it."""
from __future__ import annotations

import re

from sandbox import errors
from sandbox.store.base import DEFAULT
from sandbox.store.state import SessionState

HEADER = "X-Sandbox-Session"
HEADER_KEY = HEADER.lower().encode()
SCOPE_KEY = "sandbox.session"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
TEAM_SEPARATOR = "@"  # never in a name: a team's own session under a name another team holds


class Session:
    """One request's handle on a session: its name, the state it was opened at, and units of
    work through the store, after each of which `state` is the committed one."""

    def __init__(self, store, name: str, sid: str, state: SessionState):
        self.store, self.name, self.sid, self.state = store, name, sid, state

    async def run(self, fn, *args, **kwargs):
        """fn(tx, ...) as one unit of work on this session."""
        result = await self.store.run(self.sid, fn, *args, **kwargs)
        self.state = self.store.latest(self.sid, self.state)
        return result

    def key(self, secret: str):
        return self.state.get("keys", secret)


def _bearer(scope) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == b"authorization":
            scheme, _, token = value.decode("latin-1").strip().partition(" ")
            return token.strip() if scheme.lower() == "bearer" and token.strip() else None
    return None


def _claim(tx, team_id: str) -> None:
    if tx.owner is None:
        tx.claim(team_id)


class Sessions:
    def __init__(self, store, scenarios):
        self.store = store
        self.scenarios = scenarios

    @property
    def max_sessions(self) -> int:
        return self.store.options.max_sessions

    async def open(self, scope) -> Session:
        """The request's session, found once and kept in its ASGI scope, so every layer of one
        request (faults, auth, handler, journal) works on the same one. A request with a key of
        another team than the one owning the name gets that team's own session of that name."""
        extensions = scope.setdefault("extensions", {})
        session = extensions.get(SCOPE_KEY)
        if session is not None:
            return session
        name = next((v.decode("latin-1") for k, v in scope.get("headers", ()) if k == HEADER_KEY), DEFAULT)
        if not NAME.match(name):
            raise errors.InvalidSession(
                f"{HEADER} must be 1-64 letters, digits, '.', '_', ':' or '-', starting with a letter or digit.")
        secret = _bearer(scope)
        # A new session belongs to the team of the key that makes it, if the fixtures know it.
        known = self.scenarios.seed(None).tables["keys"].get(secret) if secret else None
        state = await self.store.open(name, owner=known.team_id if known else None)
        key = state.get("keys", secret) if secret else None
        sid = name
        if key is not None and key.team_id != state.owner:
            if state.owner is None:
                await self.store.run(name, _claim, key.team_id)
                state = await self.store.open(name)
            if state.owner != key.team_id:
                sid = f"{name}{TEAM_SEPARATOR}{key.team_id}"
                state = await self.store.open(sid, owner=key.team_id)
        session = extensions[SCOPE_KEY] = Session(self.store, name, sid, state)
        return session

    @staticmethod
    def for_scope(scope) -> Session:
        """The session `open` found for this request."""
        return scope["extensions"][SCOPE_KEY]

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

    async def names(self) -> list[str]:
        return [s["sid"] for s in await self.store.sessions()]
