"""ASGI guards around Connexion: body size (413), requests it routes badly, CORS in the envelope,
and what keeps a web page from using the sandbox (Host check, control-plane CORS, form posts)."""
from __future__ import annotations

import ipaddress
import re
from typing import Sequence
from urllib.parse import unquote

from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response

from sandbox.http import envelope
from sandbox import errors
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
    naming what was refused and how to allow it (`option`, the serve flag that allows an origin)."""

    def __init__(self, app, option: str = "--cors-origin", **cors):
        super().__init__(app, **cors)
        self.option = option

    def preflight_response(self, request_headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code != 400:
            return response
        origin = request_headers.get("origin")
        method = request_headers.get("access-control-request-method", "")
        reasons = []
        if not self.is_allowed_origin(origin=origin):
            reasons.append(f"origin {origin} is not allowed; start the sandbox with {self.option} {origin} "
                           "(repeatable) to allow it")
        if method not in self.allow_methods:
            reasons.append(f"method {method} is not one the API uses ({', '.join(self.allow_methods)})")
        refused = errors.CorsPreflightRefused(
            f"CORS preflight refused: {'; '.join(reasons) or response.body.decode()}.")
        headers = {k: v for k, v in response.headers.items() if k not in ("content-type", "content-length")}
        return envelope.to_starlette(refused, headers)


CONTROL = "/_sandbox/"
INBOX = CONTROL + "inbox/"


def _control(path: str) -> bool:
    return path.startswith(CONTROL) or path == CONTROL.rstrip("/")


def _headers(scope) -> dict[bytes, bytes]:
    found: dict[bytes, bytes] = {}
    for name, value in scope.get("headers", ()):
        found.setdefault(name, value)
    return found


class CorsByPath:
    """The public API's CORS on every path but the control plane's, which answers a page of
    another origin no CORS at all unless origins are named for it: what a page may read there
    (the journal) or do (reset, delete sessions) is the developer's, not the page's."""

    def __init__(self, app, control_origins: Sequence[str] = (), **cors):
        self.app = app
        self.public = CorsMiddleware(app, **cors)
        self.control = CorsMiddleware(app, option="--control-cors-origin", **{
            **cors, "allow_origins": list(control_origins),
            "allow_methods": sorted({*cors.get("allow_methods", ()), "PATCH"})}) if control_origins else None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not _control(scope.get("path", "")):
            return await self.public(scope, receive, send)
        if self.control is not None:
            return await self.control(scope, receive, send)
        headers = _headers(scope)
        if scope.get("method") == "OPTIONS" and b"origin" in headers and b"access-control-request-method" in headers:
            origin = headers[b"origin"].decode("latin-1")
            refused = errors.CorsPreflightRefused(
                f"CORS preflight refused: the control plane answers no other origin; start the sandbox "
                f"with --control-cors-origin {origin} (repeatable) to allow {origin}.")
            return await envelope.to_starlette(refused)(scope, receive, send)
        await self.app(scope, receive, send)


# On a loopback bind: the names and addresses of this machine, with any port.
LOOPBACK_HOSTS = ("localhost", "*.localhost", "127.0.0.0/8", "::1")


class HostGuard:
    """Refuses a request whose Host header names another server: a page on a name that its
    DNS turns to 127.0.0.1 (DNS rebinding) is then same-origin with the sandbox but still says
    its own name. `allowed`: names, "*.suffix" wildcards, IP addresses or networks."""

    def __init__(self, app, allowed: Sequence[str]):
        self.app = app
        self.names, self.suffixes, self.networks = set(), [], []
        for entry in allowed:
            entry = entry.strip().lower().rstrip(".")
            try:
                self.networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                if entry.startswith("*."):
                    self.suffixes.append(entry[1:])
                else:
                    self.names.add(entry)

    def allows(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return host in self.names or any(host.endswith(s) for s in self.suffixes)
        return any(address in network for network in self.networks) or host in self.names

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        given = _headers(scope).get(b"host", b"").decode("latin-1")
        if not self.allows(_hostname(given)):
            server = scope.get("server") or ("127.0.0.1", None)
            port = f":{server[1]}" if server[1] else ""
            refused = errors.HostNotAllowed(
                f"This sandbox does not answer to the Host {given or '(none)'}, to keep pages of other "
                f"sites out (DNS rebinding); reach it as http://localhost{port} or http://127.0.0.1{port}, "
                f"or start it with --allowed-host NAME to answer to another name.")
            if scope["type"] == "websocket":
                return await send({"type": "websocket.close", "code": 1008})
            return await envelope.to_starlette(refused)(scope, receive, send)
        await self.app(scope, receive, send)


def _hostname(host: str) -> str:
    """The name or address of a Host header, without its port, brackets or trailing dot."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    name, colon, port = host.rpartition(":")
    if colon and (port.isdigit() or not port):
        host = name
    return host.rstrip(".")


class ControlFormGuard:
    """A state-changing control call must say it is no web page's form: a JSON body, or a
    header a form cannot send (X-Sandbox-Client, Authorization, X-Sandbox-Admin-Token). A cross-
    site form or no-cors fetch can post text/plain, form data or nothing at all, with none of
    them. The inbox receiver is exempt: webhook senders post there as they please."""

    MARKS = (b"x-sandbox-client", b"authorization", b"x-sandbox-admin-token")

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        path, method = scope.get("path", ""), scope.get("method")
        if scope["type"] == "http" and method in ("POST", "PUT", "PATCH", "DELETE") and _control(path) \
                and not (method == "POST" and path.startswith(INBOX)):
            headers = _headers(scope)
            media = headers.get(b"content-type", b"").partition(b";")[0].strip().lower()
            if media != b"application/json" and not any(headers.get(mark) for mark in self.MARKS):
                raise errors.ControlCallUnmarked(
                    f"{method} {path} changes the sandbox, so it needs Content-Type: application/json "
                    "(send a JSON body, {} if there is nothing to say) or a header naming your tool, "
                    "X-Sandbox-Client: <name>; a web page's form cannot send either.")
        await self.app(scope, receive, send)
