"""The one place where any error, from any layer, becomes the error envelope (B2)."""
from __future__ import annotations

import json
import logging

from connexion.exceptions import (
    BadRequestProblem, NonConformingResponse, ProblemException,
    UnsupportedMediaTypeProblem,
)
from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from starlette.exceptions import HTTPException
from starlette.responses import Response as StarletteResponse

from sandbox import errors
from sandbox.spec import Contract

log = logging.getLogger("sandbox")
# The scope extension where the code of the error a request was answered with is left for the
# journal (sandbox/control/layers.py): read from there, not from a body it may have cut short.
ERROR_CODE = "sandbox.error_code"


def body(exc: errors.SandboxError) -> dict:
    out = {"error": exc.message, "code": exc.code}
    if exc.details:
        out["details"] = exc.details
    return out


def to_starlette(exc: errors.SandboxError, headers: dict | None = None) -> StarletteResponse:
    """For layers outside Connexion's exception middleware (CORS)."""
    rendered = render(exc)
    return StarletteResponse(rendered.body, status_code=rendered.status_code,
                             headers={**rendered.headers, **(headers or {})}, media_type="application/json")


def render(exc: errors.SandboxError) -> ConnexionResponse:
    headers = {}
    if exc.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, errors.MethodNotAllowed):
        headers["Allow"] = ", ".join(exc.allow)
    return ConnexionResponse(status_code=exc.status, mimetype="application/json",
                             content_type="application/json", headers=headers,
                             body=json.dumps(body(exc), separators=(",", ":")).encode())


def translate(request: ConnexionRequest, exc: Exception, contract: Contract) -> errors.SandboxError:
    """Map Connexion's and Starlette's exceptions onto the sandbox's own hierarchy."""
    if isinstance(exc, errors.SandboxError):
        return exc
    if isinstance(exc, UnsupportedMediaTypeProblem):
        sent = request.headers.get("content-type", "no content type")
        operation = request.scope.get("extensions", {}).get("connexion_routing", {}).get("operation_id")
        wanted = " or ".join(contract.consumes.get(operation, ())) or "application/json"
        return errors.UnsupportedMediaType(f"The request body must be {wanted}, not {sent}.")
    if isinstance(exc, NonConformingResponse):
        log.error("response broke the contract: %s", exc.detail)
        return errors.SandboxError("The sandbox produced a response that breaks its own contract; please report it.")
    if isinstance(exc, BadRequestProblem) or (isinstance(exc, ProblemException) and exc.status == 400):
        return errors.BadRequest(f"Invalid request: {exc.detail}")
    if isinstance(exc, HTTPException) and exc.status_code == 405 or _is_problem(exc, 405):
        allow = contract.allowed_methods(request.url.path) or _allow_header(exc)
        return errors.MethodNotAllowed(
            f"{request.method} is not allowed on {request.url.path}; use {' or '.join(allow) or 'another path'}.",
            list(allow))
    if isinstance(exc, HTTPException) and exc.status_code == 404 or _is_problem(exc, 404):
        return errors.RouteNotFound(f"No operation at {request.url.path}.")
    if isinstance(exc, (HTTPException, ProblemException)):
        status = getattr(exc, "status_code", None) or getattr(exc, "status", 500)
        if status == 413:
            return errors.PayloadTooLarge("The request body is too large.")
        if status < 500:
            return errors.RequestRefused(status, str(getattr(exc, "detail", "") or "The request was refused."))
    log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return errors.SandboxError()


def _allow_header(exc: Exception) -> tuple[str, ...]:
    """Outside the contract (Swagger UI, /openapi.json), trust what Starlette's router knew."""
    allow = (getattr(exc, "headers", None) or {}).get("Allow", "")
    return tuple(m.strip() for m in allow.split(",") if m.strip())


def _is_problem(exc: Exception, status: int) -> bool:
    return isinstance(exc, ProblemException) and exc.status == status


def install(app, contract: Contract) -> None:
    """Connexion raises errors in its own ASGI middleware, out of an inner app's reach, so handlers go on the connexion app."""
    async def handle(request: ConnexionRequest, exc: Exception) -> ConnexionResponse:  # a sync one runs on a thread
        error = translate(request, exc, contract)
        request.scope.setdefault("extensions", {})[ERROR_CODE] = error.code
        return render(error)

    for kind in (errors.SandboxError, ProblemException, HTTPException, Exception):
        app.add_error_handler(kind, handle)
