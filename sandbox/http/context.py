"""The request context: what a request is (kind, operation, key, team, session), worked out once after routing."""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sandbox import errors

if TYPE_CHECKING:
    from sandbox.control.sessions import Session, Sessions
    from sandbox.spec import Contract

SCOPE_KEY = "sandbox.http.context"
SESSION_HEADER = b"x-sandbox-session"
TOKEN_HEADER = b"x-sandbox-admin-token"
CONTROL_PREFIX = "/_sandbox/"
# RFC 6750 section 2.1: the scheme (case-insensitive, RFC 9110 11.1), one or more spaces, a b64token.
BEARER = re.compile(r"[Bb][Ee][Aa][Rr][Ee][Rr] +([A-Za-z0-9\-._~+/]+=*)")
NO_SCHEME = ("No API key was sent: send 'Authorization: Bearer <key>'; "
             "no other authorization scheme is accepted.")
MALFORMED = ("The Authorization header is malformed: send 'Bearer', one or more spaces, then the key "
             "(letters, digits and - . _ ~ + / only).")
# Control operations that act on no one session: they must not make one.
SESSIONLESS = {"listSessions", "listScenarios", "getReport", "receiveInInbox", "readInbox", "clearInbox"}
IN_PROCESS = {None, "", "testclient"}  # Starlette's test client names no address
# A request of the API reads its session as this process holds it, without asking the store, and
# its journal entry checks that the session did not move meanwhile; if it did, the request runs
# again (sandbox/control/layers.py JournalRecorder). That needs its body kept: up to this size.
REPLAY_BYTES = 64 * 1024
FRESH = "sandbox.fresh"  # scope extension: this run opens the session as the store holds it now


def is_local(host: str | None) -> bool:
    """Loopback, or no network at all (an in-process test client)."""
    if host in IN_PROCESS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bearer(header: str | None) -> str:
    """The key of an Authorization header; every other header is refused here, and only here."""
    if not header:
        raise errors.MissingApiKey()
    found = BEARER.fullmatch(header)
    if found:
        return found.group(1)
    scheme, rest = header[:6], header[6:]
    if scheme.lower() != "bearer" or rest[:1].isalnum() or not rest.strip():  # another scheme, or no key
        raise errors.MissingApiKey(NO_SCHEME)
    raise errors.Unauthorized(MALFORMED)  # a Bearer key parted or made otherwise than RFC 6750 says


def _replayable(scope) -> bool:
    """Whether the request may run again: not already a second run, and a body the journal
    layer keeps whole (a Content-Length within REPLAY_BYTES; none means no body)."""
    if scope.get("extensions", {}).get(FRESH):
        return False
    for key, value in scope.get("headers", ()):
        if key == b"transfer-encoding" or key == b"content-length" and (
                not value.isdigit() or int(value) > REPLAY_BYTES):
            return False
    return True


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


@dataclass
class RequestContext:
    """Every layer after the resolver, and every handler, reads this and nothing else about who
    is asking. `tenant` is whose sessions the request reaches: a team on a hosted sandbox (one
    started with an admin token), None on a laptop, where one developer's keys share them all."""

    kind: str                       # api, control, inbox or other
    operation: str | None = None
    key: object | None = None       # the API key record: its team, scopes and projects
    admin: bool = False             # controls every session it can name: the laptop's developer, the token's holder
    hosted: bool = False            # started with an admin token: sessions are per team
    tenant: str | None = None
    name: str = "default"           # the session's name within the tenant
    named: bool = False             # the request named it (X-Sandbox-Session)
    session: Session | None = None  # opened only once the request is authenticated
    problems: list = field(default_factory=list)

    @property
    def authenticated(self) -> bool:
        return self.session is not None or self.admin or self.key is not None or self.kind == "inbox"

    @property
    def everyone(self) -> bool:
        """The admin of a hosted sandbox: sees every team's sessions, named NAME@TEAM."""
        return self.admin and self.hosted

    def tenants(self, teams) -> list:
        """Whose sessions this caller may list and report on."""
        if not self.hosted:
            return [None]
        return sorted(teams) if self.admin else [self.tenant]


def context_of(scope) -> RequestContext | None:
    return scope.get("extensions", {}).get(SCOPE_KEY)


class ContextLayer:
    """Resolves the request's context once, and refuses the request when it is not authenticated,
    before any session is made, touched, evicted or counted. The operation comes from the
    contracts' own paths, as Connexion's router will route it."""

    def __init__(self, app, sessions: Sessions, contract: Contract, control: Contract, admin=None):
        self.app = app
        self.sessions = sessions
        self.contract = contract
        self.control = control
        self.admin = admin  # sandbox.http.secrets.AdminToken, or None on a laptop

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            path = scope.get("path", "")
            ctx = None
            if path.startswith("/v2/"):
                await self._api(scope, ctx := self._new(scope, "api", self.contract))
            elif path.startswith(CONTROL_PREFIX):
                await self._control(scope, ctx := self._new(scope, "control", self.control))
            if ctx is not None and ctx.session is not None:
                ctx.session.made_by(ctx.kind, ctx.operation)  # the cause of what its units change
        await self.app(scope, receive, send)

    def _new(self, scope, kind: str, contract: Contract) -> RequestContext:
        ctx = RequestContext(kind, contract.operation(scope["method"], scope["path"])[0], hosted=self.admin is not None)
        scope.setdefault("extensions", {})[SCOPE_KEY] = ctx
        return ctx

    def _name(self, scope, ctx: RequestContext, qualified: bool = False) -> None:
        """The session the request names; `qualified`: the admin's, NAME@TEAM, any team's."""
        name = _header(scope, SESSION_HEADER)
        if qualified:
            if name is None or "@" not in name:
                raise errors.InvalidSession(
                    "With the admin token, name a team's session as X-Sandbox-Session: NAME@TEAM "
                    "(GET /_sandbox/sessions lists them).")
            name, _, team = name.partition("@")
            if team not in self.sessions.teams:
                raise errors.InvalidSession(f"No team {team!r}; known: {', '.join(sorted(self.sessions.teams))}.")
            ctx.tenant = team
        if name is not None:
            self.sessions.check_name(name)
            ctx.name, ctx.named = name, True

    async def _api(self, scope, ctx: RequestContext) -> None:
        operation = ctx.operation
        secured = operation in self.contract.secured
        header = _header(scope, b"authorization")
        if not secured:  # no such operation: the 404 or 405 goes to the caller's session, if it has one
            if header is None:
                return
            try:
                self._name(scope, ctx)
                await self._authenticate(scope, ctx, header)
            except errors.SandboxError:
                ctx.session = None
            return
        self._name(scope, ctx)
        key = await self._authenticate(scope, ctx, header)
        scope["extensions"].setdefault("connexion_context", {}).update(
            user=key.key, token_info={"sub": key.key, "scope": sorted(key.scopes), "api_key": key})
        missing = sorted(self.contract.scopes[operation] - key.scopes)
        if missing:
            raise errors.InsufficientScope(
                f"This operation needs the scope {', '.join(missing)}, which the API key does not have.")

    async def _authenticate(self, scope, ctx: RequestContext, header: str | None):
        """The key, and the session it reaches; a key loaded into a session over HTTP is found in
        that session only, which must exist already (a laptop's: hosted sandboxes load no keys)."""
        secret = bearer(header)
        known = self.sessions.keys.get(secret)
        hosted = self.admin is not None
        if known is not None:  # the server's key: its session is reached, made if new
            ctx.tenant = known.team_id if hosted else None
            ctx.session = await self.sessions.open(ctx.tenant, ctx.name, fresh=not _replayable(scope))
        elif not hosted:  # a key loaded into a laptop's session: looked at there, touching nothing first
            found = await self.sessions.find(None, ctx.name)
            if found is None or found.key(secret) is None:
                raise errors.Unauthorized()
            ctx.session = await self.sessions.open(None, ctx.name)
        if ctx.session is None:
            raise errors.Unauthorized()
        key = ctx.session.key(secret)
        if key is None:  # the session's scenario has no such key
            raise errors.Unauthorized()
        ctx.key = key
        return key

    async def _control(self, scope, ctx: RequestContext) -> None:
        if ctx.operation == "receiveInInbox":  # webhook senders hold no credentials
            ctx.kind = "inbox"
            return
        if self.admin is None:
            if not is_local((scope.get("client") or (None,))[0]):
                raise errors.ControlForbidden(
                    "The control plane answers only on loopback; start the sandbox with --admin-token to open it.")
            ctx.admin = True  # the laptop's developer controls every session
            self._name(scope, ctx)
        else:
            given = next((v for k, v in scope.get("headers", ()) if k == TOKEN_HEADER), None)
            ctx.admin = given is not None and self.admin.matches(given)
            header = _header(scope, b"authorization")
            if header is not None:  # a team's key: that team's sessions, whoever else the caller is
                try:
                    ctx.key = self.sessions.keys.get(bearer(header))
                except errors.SandboxError:
                    ctx.key = None
            if ctx.key is not None:
                ctx.tenant = ctx.key.team_id
                self._name(scope, ctx)
            elif not ctx.admin:
                raise errors.ControlForbidden(
                    "The control plane needs the header X-Sandbox-Admin-Token, or a team's API key as "
                    "Authorization: Bearer <key> for that team's own sessions.")
            elif ctx.operation is not None and (ctx.operation not in SESSIONLESS
                                                 or _header(scope, SESSION_HEADER) is not None):
                self._name(scope, ctx, qualified=True)
        if ctx.operation is not None and ctx.operation not in SESSIONLESS:
            ctx.session = await self.sessions.open(ctx.tenant, ctx.name)
