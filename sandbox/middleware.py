"""ASGI guards in front of Connexion: body size (413) and paths Connexion cannot route."""
from __future__ import annotations

import re
from urllib.parse import unquote

from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response

from sandbox import envelope, errors

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class PathGuardMiddleware:
    """A control character in a path segment (an encoded newline, say) slips through
    Connexion's routing but not its operation context, which then fails with a 500.
    No id contains one, so such a path names nothing: 404, as for any unknown id."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            path = scope.get("path", "")
            if _CONTROL.search(path) or _CONTROL.search(unquote(scope.get("raw_path", b"").decode("latin-1"))):
                raise errors.NotFound("No resource at this path: it contains a control character.")
        await self.app(scope, receive, send)


class BodyLimitMiddleware:
    """413 for bodies over the limit, whether announced by Content-Length or streamed."""

    def __init__(self, app, max_bytes: int, per_operation: dict[str, int] | None = None):
        self.app = app
        self.max_bytes = max_bytes
        self.per_operation = per_operation or {}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
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
    """Starlette's CORS, with a refused preflight answered in the envelope (B2) like any error."""

    def preflight_response(self, request_headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code != 400:
            return response
        refused = errors.CorsPreflightRefused(
            f"CORS preflight refused ({response.body.decode()}); start the sandbox with "
            f"--cors-origin {request_headers.get('origin', '<origin>')} to allow this origin.")
        headers = {k: v for k, v in response.headers.items() if k not in ("content-type", "content-length")}
        return envelope.to_starlette(refused, headers)
