"""An ASGI layer serving the sandbox's static pages from the package: no build step, no network."""
from __future__ import annotations

import html
from pathlib import Path

from sandbox import errors
from sandbox.http.context import is_local
from sandbox.http.secrets import AdminToken

STATIC = Path(__file__).parent / "static"
TYPES = {".html": b"text/html; charset=utf-8", ".js": b"text/javascript; charset=utf-8",
         ".css": b"text/css; charset=utf-8", ".png": b"image/png", ".svg": b"image/svg+xml"}
# The dashboard's own page runs only its own script: data shown as HTML could run nothing.
STRICT = b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'"


def _read(name: str, **replace: str) -> bytes:
    text = (STATIC / name).read_text(encoding="utf-8")
    for key, value in replace.items():
        text = text.replace(key, value)
    return text.encode()


def _origin(scope) -> str:
    """scheme://host[:port] the request named, HTML-escaped: the Host header is the client's to write."""
    host = next((v.decode("latin-1") for k, v in scope.get("headers", ()) if k == b"host"), None)
    if host is None:
        server = scope.get("server") or ("127.0.0.1", 4010)
        host = f"{server[0]}:{server[1]}"
    return html.escape(f"{scope.get('scheme', 'http')}://{host}", quote=True)


class Pages:
    """GET / (what this is), /_sandbox/ (the dashboard: the control plane's guard applies, and
    with --admin-token its data needs the token, typed into the page), /_sandbox/assets/*, and
    the index of both Swagger UIs, whose "Try it out" sends X-Sandbox-Session."""

    def __init__(self, app, token: AdminToken | None = None, proxy: bool = False):
        """`proxy`: `task-sandbox proxy`'s page at /_sandbox/ (its exchanges and report), and nothing else."""
        self.app = app
        self.token = token
        if proxy:
            self.pages = {"/_sandbox/": (_read("proxy.html"), TYPES[".html"], STRICT)}
            assets = ("common.js", "proxy.js", "report.js", "app.css")
        else:
            self.pages = {
                "/": (_read("landing.html"), TYPES[".html"], None),
                "/_sandbox/": (_read("index.html"), TYPES[".html"], STRICT),
                "/ui/": (_read("swagger.html", SPEC_URL="/openapi.json"), TYPES[".html"], None),
                "/_sandbox/ui/": (_read("swagger.html", SPEC_URL="/_sandbox/openapi.json"), TYPES[".html"], None),
            }
            self.pages["/ui/index.html"] = self.pages["/ui/"]
            self.pages["/_sandbox/ui/index.html"] = self.pages["/_sandbox/ui/"]
            assets = ("common.js", "app.js", "journal.js", "notifications.js", "report.js", "live.js", "taskview.js",
                      "clock.js", "keyboard.js", "timeline.js", "app.css")
        for name in assets:
            self.pages[f"/_sandbox/assets/{name}"] = (_read(name), TYPES[Path(name).suffix], None)
        # browsers ask for /favicon.ico on every page whatever it links: answered, not a 404 each load
        self.pages["/favicon.ico"] = (_read("favicon.svg"), TYPES[".svg"], None)

    async def __call__(self, scope, receive, send):
        found = self.pages.get(scope.get("path", "")) if scope["type"] == "http" else None
        if found is None or scope["method"] not in ("GET", "HEAD"):
            return await self.app(scope, receive, send)
        if scope["path"] == "/_sandbox/" and not self.token and not is_local((scope.get("client") or (None,))[0]):
            raise errors.ControlForbidden(
                "The dashboard answers only on loopback; start the sandbox with --admin-token to open it.")
        body, kind, policy = found
        if scope["path"] == "/":  # the curl example names where this page is served, not a default port
            body = body.replace(b"{{ORIGIN}}", _origin(scope).encode())
        headers = [(b"content-type", kind), (b"content-length", b"%d" % len(body)),
                   (b"x-content-type-options", b"nosniff"), (b"cache-control", b"no-cache")]
        if policy:
            headers.append((b"content-security-policy", policy))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})
