"""The proxy's app factory: the sandbox's edge, context, journal and report in front of the upstream API."""
from __future__ import annotations

import contextlib
from email.utils import formatdate
from functools import partial
from pathlib import Path
from typing import Sequence

from connexion.middleware.context import ContextMiddleware
from connexion.middleware.exceptions import ExceptionMiddleware
from connexion.middleware.lifespan import LifespanMiddleware
from connexion.middleware.routing import RoutingMiddleware
from connexion.middleware.server_error import ServerErrorMiddleware

from sandbox import errors, spec
from sandbox.app import DEFAULT_MAX_BODY, UPLOAD_MAX_BODY, VALIDATORS, _resolver
from sandbox.control.api import ControlHandlers
from sandbox.control.journal import BODY_BYTES
from sandbox.control.sessions import Sessions
from sandbox.dashboard.pages import Pages
from sandbox.domain.records import Records
from sandbox.http import edge, envelope
from sandbox.http.context import ContextLayer, RequestContext
from sandbox.http.secrets import AdminToken
from sandbox.http.stack import RequestValidation, SandboxApp
from sandbox.proxy.forward import Forward
from sandbox.proxy.journal import ExchangeJournal
from sandbox.proxy.upstream import Upstream
from sandbox.proxy.verdict import AnswerCheck, ClientCheck
from sandbox.store import open_store
from sandbox.store.journal import JOURNAL_BYTES
from sandbox.store.state import Seed

# What a proxy's control plane answers: its sessions' journals and reports (a reset empties a journal). Clocks, faults, fixtures
# and notifications are the sandbox's, which a proxy does not have.
CONTROL = {"getSession", "deleteSession", "listSessions", "resetSession", "getJournal", "clearJournal", "getReport"}


class _Nothing:
    """A proxy's sessions hold a journal and nothing else: no records, no keys."""

    def seed(self, name=None) -> Seed:
        if name not in (None, "default"):
            raise errors.UnknownScenario(f"No scenario {name!r}: a proxy's sessions have none.")
        return _EMPTY

    def names(self) -> list[dict]:
        return [{"name": "default", "description": "A proxy's session: its journal only."}]


_EMPTY = Seed("default", Records())


class OwnDate:
    """uvicorn's Date and Server headers are off in a proxy (SERVER_OPTIONS): an upstream's answer
    keeps its own, and only the proxy's own answers (its errors, its control plane) get a Date."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_(message):
            if message["type"] == "http.response.start" and not any(
                    k.lower() == b"date" for k, _ in message.get("headers", ())):
                message = {**message, "headers": [*message.get("headers", ()),
                                                  (b"date", formatdate(usegmt=True).encode())]}
            await send(message)

        await self.app(scope, receive, send_)


# uvicorn's options for a proxy (the command line's and sandbox/http/server.py's): no headers of its own
SERVER_OPTIONS = {"server_header": False, "date_header": False}


class ProxyContext(ContextLayer):
    """The sandbox's context, but keys are the upstream's to judge: a /v2/ request is journalled in
    the session its X-Sandbox-Session names, whatever its key."""

    async def _api(self, scope, ctx: RequestContext) -> None:
        self._name(scope, ctx)
        ctx.session = await self.sessions.open(None, ctx.name)

    async def _control(self, scope, ctx: RequestContext) -> None:
        if ctx.operation is not None and ctx.operation not in CONTROL:
            raise errors.RouteNotFound(
                f"{scope['path']} is the sandbox's: a proxy keeps journals and reports only "
                f"({', '.join(sorted(CONTROL))}).")
        await super()._control(scope, ctx)


def create_proxy_app(upstream: str | Upstream, *, strict: bool = False, upstream_timeout: float = 30.0,
                     admin_token: str | None = None, admin_token_sha256: str | None = None,
                     allowed_hosts: Sequence[str] | None = None, max_sessions: int = 100,
                     journal_size: int = 1000, journal_bytes: int = JOURNAL_BYTES,
                     journal_body_bytes: int = BODY_BYTES, max_body_bytes: int = DEFAULT_MAX_BODY,
                     record: Path | str | None = None) -> SandboxApp:
    """A proxy to `upstream` (a base URL, or a ready Upstream): /v2/ is forwarded, judged and
    journalled; /_sandbox/ answers the journals and the report (CONTROL). `strict` answers a request
    that breaks the contract as the sandbox would, instead of forwarding it. `record`: a folder the
    upstream's answers are written to as fixtures (sandbox/proxy/recorder.py)."""
    document = spec.load_public()
    contract = spec.Contract(document)
    control_contract = spec.Contract(spec.load_control(), prefix="/_sandbox")
    state = open_store(None, seeds=_Nothing().seed, max_sessions=max_sessions, journal_size=journal_size,
                       journal_bytes=journal_bytes, tenants=1)
    sessions = Sessions(state, _Nothing())
    token = AdminToken.of(admin_token, admin_token_sha256)
    client = ClientCheck(contract)
    target = upstream if isinstance(upstream, Upstream) else Upstream(upstream, timeout=upstream_timeout)
    recorder = None
    if record is not None:
        from sandbox.proxy.recorder import Recorder

        recorder = Recorder(Path(record))
    layers = [
        ServerErrorMiddleware,
        OwnDate,
        *([partial(edge.HostGuard, allowed=allowed_hosts)] if allowed_hosts is not None else []),
        partial(ExchangeJournal, sessions=sessions, contract=contract, body_bytes=journal_body_bytes),
        ExceptionMiddleware,
        edge.ControlFormGuard,
        partial(Pages, token=token, proxy=True),  # /_sandbox/: the exchanges and the report
        partial(ProxyContext, sessions=sessions, contract=contract, control=control_contract, admin=token),
        partial(Forward, upstream=target, client=client, answers=AnswerCheck(client.resolved, contract),
                strict=strict, max_body_bytes=max_body_bytes, upload_bytes=UPLOAD_MAX_BODY, recorder=recorder),
        partial(edge.RequestGuardMiddleware, contracts=[control_contract]),
        RoutingMiddleware,
        partial(edge.BodyLimitMiddleware, max_bytes=max_body_bytes),
        RequestValidation,
        LifespanMiddleware,
        ContextMiddleware,
    ]
    @contextlib.asynccontextmanager
    async def lifespan(_app):
        yield
        await target.aclose()  # its connections, before the event loop they belong to ends

    app = SandboxApp(__name__, middlewares=layers, lifespan=lifespan)
    app.add_api(spec.load_control(), base_path="/_sandbox", resolver=_resolver(ControlHandlers(sessions, contract)),
                strict_validation=True, validate_responses=True, validator_map=VALIDATORS)
    envelope.install(app, contract)
    app.sessions, app.store, app.upstream, app.recorder = sessions, state, target, recorder
    app.server_options = SERVER_OPTIONS
    return app
