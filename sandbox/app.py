"""The app factory: one Connexion AsyncApp, the public API and the control plane, fresh state per call."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

from functools import partial

from connexion.datastructures import MediaTypeDict
from connexion.middleware.context import ContextMiddleware
from connexion.middleware.exceptions import ExceptionMiddleware
from connexion.middleware.lifespan import LifespanMiddleware
from connexion.middleware.routing import RoutingMiddleware
from connexion.middleware.server_error import ServerErrorMiddleware
from connexion.resolver import Resolver

from connexion.validators import FormDataValidator

from sandbox.http import edge, envelope
from sandbox import spec
from sandbox.http.context import ContextLayer
from sandbox.control import layers as control
from sandbox.control.api import ControlHandlers
from sandbox.control.scenarios import Scenarios
from sandbox.control.sessions import Sessions, server_keys
from sandbox.dashboard.pages import Pages
from sandbox.domain import outbox
from sandbox.notify.hosts import HostPolicy
from sandbox.notify.sender import Sender
from sandbox.domain.clock import Clock
from sandbox.domain.records import Records
from sandbox.store import open_store
from sandbox.store.base import INBOX_BYTES
from sandbox.control.journal import BODY_BYTES
from sandbox.store.journal import JOURNAL_BYTES
from sandbox.store.direct import Direct
from sandbox.handlers import Handlers
from sandbox.http.secrets import AdminToken
from sandbox.domain.uploads import MAX_FILE_BYTES, MAX_FILES
from sandbox.http.multipart import FormLimits, UploadValidator
from sandbox.http.stack import RequestValidation, SandboxApp, SwaggerUI
from sandbox.http.validation import BodyValidator, ParametersValidator

DEFAULT_MAX_BODY = 1024 * 1024  # far above any report body; keeps a runaway client from filling memory
# createUpload streams files without keeping them (sandbox/http/multipart.py): upstream's limits hold.
UPLOAD_MAX_BODY = MAX_FILES * MAX_FILE_BYTES + DEFAULT_MAX_BODY
INBOX_MAX_BODY = 64 * 1024  # an event is a few KiB; anyone may post to an inbox
VALIDATORS = {
    "parameter": ParametersValidator,
    # Connexion merges validator_map shallowly (a "body" entry replaces its default map whole): every media type is restated.
    "body": MediaTypeDict({
        "*/*json": BodyValidator,
        "application/x-www-form-urlencoded": FormDataValidator,
        "multipart/form-data": UploadValidator,
    }),
}
# Any header a browser app sends: tracing (Sentry, OpenTelemetry) and request ids are added
# by libraries on their own, and refusing them would keep the app from calling the sandbox.
CORS_HEADERS = ["*"]
CORS_METHODS = ["GET", "POST", "PUT", "DELETE", "OPTIONS"]


def _snake(operation_id: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", operation_id).lower()


def _resolver(handlers) -> Resolver:
    return Resolver(function_resolver=lambda op_id: getattr(handlers, _snake(op_id)))


def create_app(fixtures_dir: Path | str | None = None, *, records: Records | None = None,
               clock: Clock | None = None, seed: int = 0,
               cors_origins: Sequence[str] = ("*",), max_body_bytes: int = DEFAULT_MAX_BODY,
               validate_responses: bool = True, admin_token: str | None = None,
               max_sessions: int = 100, journal_size: int = 1000, idle_seconds: float | None = None,
               store: str | None = None, namespace: str | None = None,
               webhook_hosts: Sequence[str] = (), webhook_timeout: float = 5.0,
               control_cors_origins: Sequence[str] = (), allowed_hosts: Sequence[str] | None = None,
               admin_token_sha256: str | None = None, inbox_bytes: int = INBOX_BYTES,
               journal_bytes: int = JOURNAL_BYTES, journal_body_bytes: int = BODY_BYTES,
               form_limits: FormLimits = FormLimits(), session_records: int = 10_000) -> SandboxApp:
    """Build an app with its own sessions, seeded from `fixtures_dir` (default: the shipped
    fixtures, with their scenarios) or from ready `records`; `clock` is the default session's.
    `store` is None (this process's memory) or a redis:// URL, under `namespace`.
    Notifications go to loopback subscribers, and to `webhook_hosts` ("*": any), waiting at
    most `webhook_timeout` seconds for an answer; the built-in inboxes keep `inbox_bytes` in
    all, dropping the oldest entries first. Each session's journal, and the violations and
    refusals it keeps apart, each keep at most `journal_size` entries and `journal_bytes` bytes
    (as JSON), each body of an entry cut at `journal_body_bytes`. `form_limits` bound an
    upload's meta and form fields (sandbox/http/multipart.py). A session holds at most
    `session_records` records of its own (sandbox/store/base.py check_bound).
    The control plane answers CORS only to `control_cors_origins`; `allowed_hosts` (None: any)
    are the Host names served (sandbox/http/edge.py HostGuard). The admin token is given in clear
    (`admin_token`) or as its SHA-256 hex digest (`admin_token_sha256`, what workers get).
    Raises FixtureError on a bad fixture or scenario (B13), ValueError on a bad store URL."""
    document = spec.load_public()
    contract = spec.Contract(document)
    scenarios = Scenarios(fixtures_dir, document, default=records)
    options = dict(seeds=scenarios.seed, id_seed=seed, max_sessions=max_sessions, idle_seconds=idle_seconds,
                   journal_size=journal_size, default_clock=clock, wake_at=outbox.wake_at,
                   inbox_bytes=inbox_bytes, journal_bytes=journal_bytes, session_records=session_records,
                   tenants=len(server_keys(scenarios)[1]) + 1)
    state = open_store(store, **options, **({"namespace": namespace} if namespace else {}))
    hosts = HostPolicy(webhook_hosts)
    sender = Sender(state.sibling(), document, timeout=webhook_timeout, hosts=hosts)
    state.options.on_wake = sender.wake
    if state.may_have_work():  # the fixtures subscribe already, or (Redis) deliveries wait from before
        sender.wake()
    sessions = Sessions(state, scenarios)
    control_contract = spec.Contract(spec.load_control(), prefix="/_sandbox")
    token = AdminToken.of(admin_token, admin_token_sha256)
    # Every layer of a request, outermost first, in the order they run.
    layers = [
        ServerErrorMiddleware,
        *([partial(edge.HostGuard, allowed=allowed_hosts)] if allowed_hosts is not None else []),
        partial(edge.CorsByPath, control_origins=control_cors_origins, allow_origins=list(cors_origins),
                allow_methods=CORS_METHODS, allow_headers=CORS_HEADERS,
                expose_headers=["WWW-Authenticate", "Allow"], max_age=600),
        partial(control.JournalRecorder, sessions=sessions, contract=contract,
                body_bytes=journal_body_bytes),  # sees every answer
        ExceptionMiddleware,  # any error below becomes the envelope (sandbox/http/envelope.py)
        edge.ControlFormGuard,  # before a session is opened: a refused call leaves none behind
        partial(Pages, token=token),  # /, the dashboard, Swagger UI with a session of its own
        SwaggerUI,
        # Who is asking, for which operation, in which session: resolved once, from the contracts (so a
        # 405 of the router still reaches the caller's journal); nothing before it touches a session.
        partial(ContextLayer, sessions=sessions, contract=contract, control=control_contract,
                admin=token),
        partial(edge.RequestGuardMiddleware, contracts=[contract, control_contract]),
        RoutingMiddleware,
        partial(control.FaultInjector, sessions=sessions, contract=contract),
        partial(edge.BodyLimitMiddleware, max_bytes=max_body_bytes,
                per_operation={"createUpload": UPLOAD_MAX_BODY, "receiveInInbox": INBOX_MAX_BODY}),
        RequestValidation,
        LifespanMiddleware,
        ContextMiddleware,
    ]
    app = SandboxApp(__name__, middlewares=layers)
    validators = {**VALIDATORS, "body": MediaTypeDict({**VALIDATORS["body"],
                                                        "multipart/form-data": partial(UploadValidator, limits=form_limits)})}
    common = dict(strict_validation=True, validate_responses=validate_responses, validator_map=validators)
    # The control API first: the public API's base path "" would otherwise route /_sandbox too.
    app.add_api(spec.load_control(), base_path="/_sandbox",
                resolver=_resolver(ControlHandlers(sessions, contract, hosts)), **common)
    app.add_api(document, resolver=_resolver(Handlers(sessions)), **common)
    envelope.install(app, contract)
    app.sessions, app.store, app.sender = sessions, state, sender
    if state.kind == "memory":
        app.world = Direct(state, "default")  # tests drive the default session's state through this
    return app
