"""ASGI layers of the control plane: who may call it, injected faults, and the request journal."""
from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import re

from sandbox import errors
from sandbox.control import faults, report
from sandbox.control.journal import BODY_BYTES, cut, decode, fitting
from sandbox.control.sessions import SCOPE_KEY, Sessions
from sandbox.envelope import ERROR_CODE
from sandbox.spec import Contract

log = logging.getLogger("sandbox")
CONTROL_PREFIX = "/_sandbox/"
INBOX_PREFIX = CONTROL_PREFIX + "inbox/"
# x-sandbox-client: a tool naming itself (the dashboard does), so its own calls can be told apart
JOURNALLED_HEADERS = ("content-type", "prefer", "x-sandbox-client")
_JOURNALLED = {name.encode(): name for name in JOURNALLED_HEADERS}
DASHBOARD = "dashboard"
TOKEN_HEADER = "x-sandbox-admin-token"
MAX_BODY = 64 * 1024  # of an answer, read for its error's code and details
FORCE_TRACKER_FAILURE = "sandbox.force_tracker_failure"
PREFER_CODE = re.compile(r"(?:^|[;,\s])code=(\d{3})(?:$|[;,\s])")


def _header(scope, name: str) -> str | None:
    wanted = name.lower().encode()
    for key, value in scope.get("headers", ()):
        if key == wanted:
            return value.decode("latin-1")
    return None


IN_PROCESS = {None, "", "testclient"}  # Starlette's test client names no address


def is_local(host: str | None) -> bool:
    """Loopback, or no network at all (an in-process test client)."""
    if host in IN_PROCESS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class AdminGuard:
    """The control plane answers only on loopback unless an admin token is set; with a token,
    every control call must carry it (B12)."""

    def __init__(self, app, token: str | None):
        self.app = app
        self.token = token

    async def __call__(self, scope, receive, send):
        path = scope.get("path", "") if scope["type"] == "http" else ""
        # The built-in inbox receives like any webhook receiver: from senders that hold no token.
        if path.startswith(CONTROL_PREFIX) and not (scope["method"] == "POST" and path.startswith(INBOX_PREFIX)):
            if self.token:
                given = next((v for k, v in scope.get("headers", ()) if k == TOKEN_HEADER.encode()), b"")
                if not hmac.compare_digest(given, self.token.encode()):  # raw bytes: any token can match
                    raise errors.ControlForbidden("The control plane needs the header X-Sandbox-Admin-Token.")
            elif not is_local((scope.get("client") or (None,))[0]):
                raise errors.ControlForbidden(
                    "The control plane answers only on loopback; start the sandbox with --admin-token to open it.")
        await self.app(scope, receive, send)


class _SessionLayer:
    """An ASGI layer that needs the request's session and the public contract."""

    def __init__(self, app, sessions: Sessions, contract: Contract):
        self.app = app
        self.sessions = sessions
        self.contract = contract


class SessionOpener:
    """Inside the exception layer, so a bad session name or an unreachable store is the
    envelope: finds the request's session once (sandbox/control/sessions.py)."""

    def __init__(self, app, sessions: Sessions):
        self.app = app
        self.sessions = sessions

    async def __call__(self, scope, receive, send):
        path = scope.get("path", "") if scope["type"] == "http" else ""
        # An inbox belongs to no session: a post there must not make one (anyone may post).
        if path.startswith(("/v2/", CONTROL_PREFIX)) and not path.startswith(INBOX_PREFIX):
            await self.sessions.open(scope)
        await self.app(scope, receive, send)


class FaultInjector(_SessionLayer):
    """After routing, before auth: `Prefer: code=NNN` and the session's fault rules."""

    async def __call__(self, scope, receive, send):
        operation = scope.get("extensions", {}).get("connexion_routing", {}).get("operation_id")
        # The dashboard reads the session it shows: its reads must not spend the rules set for the app under test.
        if scope["type"] == "http" and operation in self.contract.statuses and \
                _header(scope, "x-sandbox-client") != DASHBOARD:
            session = self.sessions.for_scope(scope)
            self._prefer(scope, operation, _header(scope, "prefer"))
            task_id = (scope.get("path_params") or {}).get("task_id")
            # Firing counts and spends rules: a unit of work, taken only when there are rules.
            rule = await session.run(faults.fire, operation, task_id) if session.state.faults else None
            if rule is not None:
                if rule.latency_ms:
                    await asyncio.sleep(rule.latency_ms / 1000)
                if rule.status is not None:
                    raise errors.InjectedFault(
                        rule.status, f"Injected by the sandbox: fault rule {rule.id} on {operation}.")
        await self.app(scope, receive, send)

    def _prefer(self, scope, operation: str, prefer: str | None) -> None:
        found = PREFER_CODE.search(prefer or "")
        if not found:
            return
        status = int(found.group(1))
        allowed = sorted(self.contract.injectable(operation) | ({207} if operation == "reportTask" else set()))
        if status not in allowed:
            raise errors.InvalidPrefer(
                f"Prefer: code={status} is not a status the sandbox can force on {operation}; use one of "
                f"{', '.join(map(str, allowed))}.", [{"location": "header.Prefer", "message": "not forceable"}])
        if status == 207:  # a real report whose external tracker fails (B10), not a canned answer
            scope.setdefault("extensions", {})[FORCE_TRACKER_FAILURE] = True
            return
        raise errors.InjectedFault(status, f"Injected by the sandbox: Prefer: code={status}.")


class JournalRecorder(_SessionLayer):
    """Outermost, so it sees every answer, errors included; it never fails a request. Each
    body is journalled up to `body_bytes`, with a marker of how many bytes were cut."""

    def __init__(self, app, sessions: Sessions, contract: Contract, body_bytes: int = BODY_BYTES):
        super().__init__(app, sessions, contract)
        self.body_bytes = body_bytes

    async def __call__(self, scope, receive, send):
        # A CORS preflight is the browser's, not the client's; an OPTIONS without an Origin is no
        # preflight (the CORS layer passes it on, and it is a wrong method).
        if scope["type"] != "http" or not scope.get("path", "").startswith("/v2/") or (
                scope.get("method") == "OPTIONS" and _header(scope, "access-control-request-method")
                and _header(scope, "origin")):
            return await self.app(scope, receive, send)
        request, response = bytearray(), {"status": 0, "body": bytearray(), "recorded": False}
        sizes = {"request": 0, "response": 0}  # every byte, also those not kept

        async def receive_():
            message = await receive()
            chunk = message.get("body", b"")
            sizes["request"] += len(chunk)
            if len(request) < self.body_bytes:
                request.extend(chunk[:self.body_bytes - len(request)])
            return message

        async def record():
            if not response["recorded"]:
                response["recorded"] = True
                try:
                    await self._record(scope, bytes(request), response["status"], bytes(response["body"]), sizes)
                except Exception:  # the journal must never break the call it records
                    log.exception("journal entry dropped")

        async def send_(message):
            if message["type"] == "http.response.start":
                response["status"] = message["status"]
            elif message["type"] == "http.response.body":
                sizes["response"] += len(message.get("body", b""))
                if len(response["body"]) < MAX_BODY:
                    response["body"].extend(message.get("body", b"")[:MAX_BODY - len(response["body"])])
                if not message.get("more_body", False):
                    await record()  # before the last byte leaves: a client that reads the journal next finds it
            await send(message)

        try:
            await self.app(scope, receive_, send_)
        finally:
            await record()

    async def _record(self, scope, request: bytes, status: int, body: bytes, sizes: dict) -> None:
        session = scope.get("extensions", {}).get(SCOPE_KEY)
        if session is None:
            return  # an invalid session name or no store: there is no journal to write to
        routed = scope.get("extensions", {}).get("connexion_routing", {}).get("operation_id")
        # Connexion's router leaves both in this scope unless a layer between copied it.
        operation, params = ((routed, scope["path_params"]) if routed in self.contract.statuses
                             and scope.get("path_params") else self.contract.operation(scope["method"], scope["path"]))
        # The error's code says who is to blame, for the client's report; the body may be cut short.
        code = scope.get("extensions", {}).get(ERROR_CODE) if status >= 400 else None
        if code is None and status >= 400:  # an answer no error made: its envelope says
            answer = decode(body.decode("utf-8", "replace"))
            code = answer.get("code") if isinstance(answer, dict) and isinstance(answer.get("code"), str) else None
        if code == errors.RouteNotFound.code:
            operation = None  # the path looked like one (an encoded control character in an id), but is none
        problems = []
        if status in (400, 413, 415):
            answer = decode(body.decode("utf-8", "replace"))
            problems = answer.get("details", []) if isinstance(answer, dict) else []
            problems = fitting(problems, self.body_bytes) if isinstance(problems, list) else []
        headers: dict[str, str] = {}  # one pass over the request's headers, the first of each name
        for key, value in scope.get("headers", ()):
            if key in _JOURNALLED and _JOURNALLED[key] not in headers:
                headers[_JOURNALLED[key]] = value.decode("latin-1")
        # The dashboard's own calls are journalled (it hides them) but are not the client's.
        client = headers.get("x-sandbox-client") != DASHBOARD
        content_type = headers.get("content-type", "")
        # Bodies are kept as (truncated) text and decoded when read: 64 KiB of JSON can
        # decode into megabytes of Python objects, and the journal must stay bounded.
        await session.store.journal_append(session.sid, {
            "time": session.state.clock.now_iso(), "operation": operation, "method": scope["method"],
            "path": scope["path"], "task_id": params.get("task_id"), "status": status, "code": code,
            "request": {"headers": {k: v for k, v in headers.items() if v},
                        "body": (f"<multipart body, {sizes['request']} bytes>"
                                 if content_type.startswith("multipart/") and request
                                 else cut(request, sizes["request"], self.body_bytes))},
            "response": {"body": cut(body, sizes["response"], self.body_bytes)}, "problems": problems},
            mark=report.mark(operation, status, code) if client else None,
            keep=report.kept_as(code) if client and code else None)
