"""ASGI layers of the control plane: who may call it, injected faults, and the request journal."""
from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import logging
import re

from sandbox import errors
from sandbox.control.sessions import HEADER, Sessions
from sandbox.spec import Contract

log = logging.getLogger("sandbox")
CONTROL_PREFIX = "/_sandbox/"
TOKEN_HEADER = "x-sandbox-admin-token"
MAX_BODY = 64 * 1024
PREFER_CODE = re.compile(r"(?:^|[;,\s])code=(\d{3})(?:$|[;,\s])")


def _header(scope, name: str) -> str | None:
    wanted = name.lower().encode()
    for key, value in scope.get("headers", ()):
        if key == wanted:
            return value.decode("latin-1")
    return None


def is_local(host: str | None) -> bool:
    """Loopback, or no network at all (an in-process test client names no IP)."""
    if not host:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost" or "." not in host and ":" not in host


class AdminGuard:
    """The control plane answers only on loopback unless an admin token is set; with a token,
    every control call must carry it (B12)."""

    def __init__(self, app, token: str | None):
        self.app = app
        self.token = token

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope.get("path", "").startswith(CONTROL_PREFIX):
            if self.token:
                given = _header(scope, TOKEN_HEADER) or ""
                if not hmac.compare_digest(given.encode(), self.token.encode()):
                    raise errors.ControlForbidden("The control plane needs the header X-Sandbox-Admin-Token.")
            elif not is_local((scope.get("client") or (None,))[0]):
                raise errors.ControlForbidden(
                    "The control plane answers only on loopback; start the sandbox with --admin-token to open it.")
        await self.app(scope, receive, send)


class FaultInjector:
    """After routing, before auth: `Prefer: code=NNN` and the session's fault rules."""

    def __init__(self, app, sessions: Sessions, contract: Contract):
        self.app = app
        self.sessions = sessions
        self.contract = contract

    async def __call__(self, scope, receive, send):
        operation = scope.get("extensions", {}).get("connexion_routing", {}).get("operation_id")
        if scope["type"] == "http" and operation in self.contract.statuses:
            session = self.sessions.get(_header(scope, HEADER))
            self._prefer(operation, _header(scope, "prefer"))
            task_id = (scope.get("path_params") or {}).get("task_id")
            rule = session.faults.fire(operation, task_id)
            if rule is not None:
                if rule.latency_ms:
                    await asyncio.sleep(rule.latency_ms / 1000)
                if rule.status is not None:
                    raise errors.InjectedFault(
                        rule.status, f"Injected by the sandbox: fault rule {rule.id} on {operation}.")
        await self.app(scope, receive, send)

    def _prefer(self, operation: str, prefer: str | None) -> None:
        found = PREFER_CODE.search(prefer or "")
        if not found:
            return
        status = int(found.group(1))
        declared = sorted(s for s in self.contract.statuses[operation] if s >= 400)
        if status not in declared:
            raise errors.InvalidPrefer(
                f"Prefer: code={status} is not an error status {operation} declares; use one of "
                f"{', '.join(map(str, declared))}.", [{"location": "header.Prefer", "message": "undeclared status"}])
        raise errors.InjectedFault(status, f"Injected by the sandbox: Prefer: code={status}.")


class JournalRecorder:
    """Outermost, so it sees every answer, errors included; it never fails a request."""

    def __init__(self, app, sessions: Sessions, contract: Contract):
        self.app = app
        self.sessions = sessions
        self.contract = contract

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope.get("path", "").startswith("/v2/") or (
                scope.get("method") == "OPTIONS" and _header(scope, "access-control-request-method")):
            return await self.app(scope, receive, send)
        request, response = bytearray(), {"status": 0, "body": bytearray(), "recorded": False}

        async def receive_():
            message = await receive()
            if len(request) < MAX_BODY:
                request.extend(message.get("body", b"")[:MAX_BODY - len(request)])
            return message

        def record():
            if not response["recorded"]:
                response["recorded"] = True
                try:
                    self._record(scope, bytes(request), response["status"], bytes(response["body"]))
                except Exception:  # the journal must never break the call it records
                    log.exception("journal entry dropped")

        async def send_(message):
            if message["type"] == "http.response.start":
                response["status"] = message["status"]
            elif message["type"] == "http.response.body":
                if len(response["body"]) < MAX_BODY:
                    response["body"].extend(message.get("body", b"")[:MAX_BODY - len(response["body"])])
                if not message.get("more_body", False):
                    record()  # before the last byte leaves: a client that reads the journal next finds it
            await send(message)

        try:
            await self.app(scope, receive_, send_)
        finally:
            record()

    def _record(self, scope, request: bytes, status: int, body: bytes) -> None:
        try:
            session = self.sessions.get(_header(scope, HEADER))
        except errors.SandboxError:
            return  # an invalid session name: there is no journal to write to
        operation, params = self.contract.operation(scope["method"], scope["path"])
        answer = _decode(body, "application/json")
        problems = answer.get("details", []) if isinstance(answer, dict) and status in (400, 413, 415) else []
        session.journal.record({
            "time": session.world.clock.now_iso(), "operation": operation, "method": scope["method"],
            "path": scope["path"], "task_id": params.get("task_id"), "status": status,
            "request": {"headers": {k: v for k in ("content-type", "prefer") if (v := _header(scope, k))},
                        "body": _decode(request, _header(scope, "content-type") or "")},
            "response": {"body": answer}, "problems": problems})


def _decode(raw: bytes, content_type: str):
    if not raw:
        return None
    if content_type.startswith("multipart/"):
        return f"<multipart body, {len(raw)} bytes recorded>"
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")
