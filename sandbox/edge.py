"""ASGI guards around Connexion: body size (413), requests it routes badly, CORS in the envelope."""
from __future__ import annotations

import re
from urllib.parse import unquote

from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response

from sandbox import envelope, errors
from sandbox.spec import Contract

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class RequestGuardMiddleware:
    """Requests Connexion would route badly, answered as the contract says instead:
    - a control character in a path (an encoded newline) slips through Connexion's routing but
      not its operation context, which then fails with a 500;
    - an empty segment or a trailing slash under /v2 makes werkzeug redirect (307/308) or route
      where Connexion did not; no id is empty, so such a path names nothing: 404;
    - HEAD is routed to GET, whose empty answer then fails response validation; the contract
      declares no HEAD, so it is a 405 like any other undeclared method;
    - media types are case-insensitive (RFC 9110), but Connexion picks its body validator
      case-sensitively and, finding none for `Application/JSON`, skips validation."""

    def __init__(self, app, contracts: list[Contract]):
        self.app = app
        self.contracts = contracts

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            path = scope.get("path", "")
            raw = unquote(scope.get("raw_path", b"").decode("latin-1"))
            if _CONTROL.search(path) or _CONTROL.search(raw):
                raise errors.RouteNotFound("No resource at this path: it contains a control character.")
            # A // is merged by the router but not by the guards before it (the admin guard
            # matches /_sandbox/): nothing has an empty segment, so it names nothing.
            if "//" in raw or "//" in path or (path.endswith("/") and path.startswith(("/v2/", "/_sandbox/"))):
                raise errors.RouteNotFound(f"No operation at {path}: remove the empty path segment or trailing slash.")
            _normalise_content_type(scope)
            if scope.get("method") == "HEAD":
                allowed = next(filter(None, (c.allowed_methods(path) for c in self.contracts)), None)
                if allowed:
                    raise errors.MethodNotAllowed(
                        f"HEAD is not allowed on {path}; use {' or '.join(allowed)}.", list(allowed))
        await self.app(scope, receive, send)


def _normalise_content_type(scope) -> None:
    headers = scope.get("headers") or []
    for i, (name, value) in enumerate(headers):
        if name == b"content-type":
            media, sep, params = value.partition(b";")
            normal = media.strip().lower() + (b"; " + params.strip() if sep else b"")
            if normal != value:
                headers = list(headers)
                headers[i] = (name, normal)
                scope["headers"] = headers
            return


class BodyLimitMiddleware:
    """413 for bodies over the limit, whether announced by Content-Length or streamed."""

    def __init__(self, app, max_bytes: int, per_operation: dict[str, int] | None = None):
        self.app = app
        self.max_bytes = max_bytes
        self.per_operation = per_operation or {}

    async def __call__(self, scope, receive, send):
        # GET and HEAD bodies are never read, so they cannot fill memory: no 413 for them
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD"):
            return await self.app(scope, receive, send)
        operation = scope.get("extensions", {}).get("connexion_routing", {}).get("operation_id")
        limit = self.per_operation.get(operation, self.max_bytes)
        refusal = errors.PayloadTooLarge(f"The request body exceeds {limit} bytes.")
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                raise refusal
        seen = 0

        async def limited():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise refusal
            return message

        await self.app(scope, limited, send)


class CorsMiddleware(CORSMiddleware):
    """Starlette's CORS, with a refused preflight answered in the envelope (B2) like any error,
    naming what was refused and how to allow it."""

    def preflight_response(self, request_headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code != 400:
            return response
        origin = request_headers.get("origin")
        method = request_headers.get("access-control-request-method", "")
        reasons = []
        if not self.is_allowed_origin(origin=origin):
            reasons.append(f"origin {origin} is not allowed; start the sandbox with --cors-origin {origin} "
                           "(repeatable) to allow it")
        if method not in self.allow_methods:
            reasons.append(f"method {method} is not one the API uses ({', '.join(self.allow_methods)})")
        refused = errors.CorsPreflightRefused(
            f"CORS preflight refused: {'; '.join(reasons) or response.body.decode()}.")
        headers = {k: v for k, v in response.headers.items() if k not in ("content-type", "content-length")}
        return envelope.to_starlette(refused, headers)
