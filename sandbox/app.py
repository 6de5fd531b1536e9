"""The app factory: one Connexion FlaskApp over one fresh world per call."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

import json

from connexion import FlaskApp
from connexion.jsonifier import Jsonifier
from connexion.middleware import MiddlewarePosition
from connexion.resolver import Resolver

from sandbox import auth, envelope, fixtures, middleware, spec
from sandbox.domain.clock import Clock, IdSource
from sandbox.domain.world import Records, World
from sandbox.handlers import Handlers
from sandbox.validation import VALIDATORS

DEFAULT_MAX_BODY = 1024 * 1024  # far above any report body; keeps a runaway client from filling memory
CORS_HEADERS = ["Authorization", "Content-Type", "Prefer", "X-Sandbox-Session"]


def _snake(operation_id: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", operation_id).lower()


def create_app(fixtures_dir: Path | str | None = None, *, records: Records | None = None,
               clock: Clock | None = None, seed: int = 0,
               cors_origins: Sequence[str] = ("*",), max_body_bytes: int = DEFAULT_MAX_BODY,
               validate_responses: bool = True) -> FlaskApp:
    """Build an app with its own world seeded from `fixtures_dir` (default: the shipped
    fixtures) or from ready `records`. Raises FixtureError on a bad fixture (B13)."""
    document = spec.load_public()
    contract = spec.Contract(document)
    world = World(records or fixtures.load_records(fixtures_dir, document), clock or Clock(), IdSource(seed))
    handlers = Handlers(world)

    # stdlib json keeps the upstream field order; Flask's provider would sort keys.
    app = FlaskApp(__name__, jsonifier=Jsonifier(json, separators=(",", ":")))
    # Let handler exceptions reach Connexion's error handlers instead of Flask's 500 page.
    app.app.config["PROPAGATE_EXCEPTIONS"] = True
    app.add_api(
        document,
        resolver=Resolver(function_resolver=lambda op_id: getattr(handlers, _snake(op_id))),
        strict_validation=True,
        validate_responses=validate_responses,
        validator_map=VALIDATORS,
        security_map={"bearer": auth.bearer_handler(lambda request: world)},
    )
    app.add_middleware(auth.ScopeMiddleware, MiddlewarePosition.BEFORE_VALIDATION, contract=contract)
    app.add_middleware(middleware.PathGuardMiddleware, MiddlewarePosition.BEFORE_ROUTING)
    app.add_middleware(middleware.BodyLimitMiddleware, MiddlewarePosition.BEFORE_VALIDATION,
                       max_bytes=max_body_bytes)
    app.add_middleware(middleware.CorsMiddleware, MiddlewarePosition.BEFORE_EXCEPTION,
                       allow_origins=list(cors_origins), allow_methods=["GET", "POST", "OPTIONS"],
                       allow_headers=CORS_HEADERS, expose_headers=["WWW-Authenticate", "Allow"],
                       max_age=600)
    envelope.install(app, contract)
    app.world = world  # tests and the control plane drive the clock and state through this
    return app
