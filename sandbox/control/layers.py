"""ASGI layers of the control plane: injected faults, and the request journal with the server-wide tally."""
from __future__ import annotations

import asyncio
import logging
import re

from sandbox import errors
from sandbox.control import faults, report
from sandbox.control.journal import BODY_BYTES, cut, decode, fitting, headers_of, keep
from sandbox.http.context import FRESH, REPLAY_BYTES, context_of
from sandbox.control.sessions import Sessions
from sandbox.http.envelope import ERROR_CODE, to_starlette
from sandbox.spec import Contract

log = logging.getLogger("sandbox")
# What a proxy journals of a request's headers (the sandbox journals them all, credentials masked):
# x-sandbox-client is a tool naming itself (the dashboard does), so its own calls can be told apart.
JOURNALLED_HEADERS = ("content-type", "prefer", "x-sandbox-client")
_JOURNALLED = {name.encode(): name for name in JOURNALLED_HEADERS}
DASHBOARD = "dashboard"
MAX_BODY = 64 * 1024  # of an answer, read for its error's code and details
FORCE_TRACKER_FAILURE = "sandbox.force_tracker_failure"
PREFER_CODE = re.compile(r"(?:^|[;,\s])code=(\d{3})(?:$|[;,\s])")


def _header(scope, name: str) -> str | None:
    wanted = name.lower().encode()
    for key, value in scope.get("headers", ()):
        if key == wanted:
            return value.decode("latin-1")
    return None


class _SessionLayer:
    """An ASGI layer that reads the request's context (sandbox/http/context.py) and the public contract."""

    def __init__(self, app, sessions: Sessions, contract: Contract):
        self.app = app
        self.sessions = sessions
        self.contract = contract


class FaultInjector(_SessionLayer):
    """After the request is authenticated: `Prefer: code=NNN` and the session's fault rules. A
    request without a valid key spends no rule: it reaches no session."""

    async def __call__(self, scope, receive, send):
        ctx = context_of(scope) if scope["type"] == "http" else None
        operation = ctx.operation if ctx is not None and ctx.kind == "api" else None
        # The dashboard reads the session it shows: its reads must not spend the rules set for the app under test.
        if operation in self.contract.statuses and ctx.session is not None and \
                _header(scope, "x-sandbox-client") != DASHBOARD:
            session = ctx.session
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


def is_preflight(scope) -> bool:
    """A CORS preflight is the browser's, not the client's; an OPTIONS without an Origin is no
    preflight (the CORS layer passes it on, and it is a wrong method)."""
    return scope.get("method") == "OPTIONS" and bool(
        _header(scope, "access-control-request-method") and _header(scope, "origin"))


class JournalRecorder(_SessionLayer):
    """Outermost, so it sees every answer, errors included; it never fails a request. Each
    body is journalled up to `body_bytes`, with a marker of how many bytes were cut."""

    def __init__(self, app, sessions: Sessions, contract: Contract, body_bytes: int = BODY_BYTES):
        super().__init__(app, sessions, contract)
        self.body_bytes = body_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or is_preflight(scope):
            return await self.app(scope, receive, send)
        if not scope.get("path", "").startswith("/v2/"):
            return await self._control(scope, receive, send)
        # A request that read its session as this process held it (context.py) runs again on a
        # fresh state when the session moved meanwhile: from a copy of the scope as it came, with
        # its body replayed, and its answer held back until its journal entry said it stands.
        original, extensions = dict(scope), dict(scope.get("extensions") or {})
        replay: list | None = []
        if await self._attempt(scope, receive, send, replay, last=False):
            return
        again = {**original, "extensions": {**extensions, FRESH: True}}
        await self._attempt(again, receive, send, replay, last=True)

    async def _attempt(self, scope, receive, send, replay: list | None, last: bool) -> bool:
        """One run of the request; False (nothing sent) when it must run again."""
        request, response = bytearray(), {"status": 0, "body": bytearray(), "recorded": False, "stands": True}
        sizes = {"request": 0, "response": 0}  # every byte, also those not kept
        held: list | None = None  # the answer's messages, while it may yet be run again
        replayed = 0

        async def receive_():
            nonlocal replayed, replay
            if replay is not None and replayed < len(replay):
                message = replay[replayed]
            else:
                message = await receive()
                if replay is not None:
                    replay.append(message)
                    if sum(len(m.get("body", b"")) for m in replay) > REPLAY_BYTES:
                        replay = None  # too big to keep: this request is never run again (see context.py)
            replayed += 1
            chunk = message.get("body", b"")
            sizes["request"] += len(chunk)
            keep(request, chunk, self.body_bytes)
            return message

        async def record():
            if not response["recorded"]:
                response["recorded"] = True
                try:
                    response["stands"] = await self._record(
                        scope, bytes(request), response["status"], bytes(response["body"]), sizes, last)
                except errors.StoreUnavailable as exc:
                    response["unchecked"] = exc  # a held answer is then not known to be current (or applied)
                except Exception:  # the journal must never break the call it records
                    log.exception("journal entry dropped")
                    await self._commit_alone(scope, response)

        async def send_(message):
            nonlocal held
            if message["type"] == "http.response.start":
                response["status"] = message["status"]
                ctx = context_of(scope)
                if not last and ctx is not None and ctx.session is not None and ctx.session.basis is not None:
                    held = []
            elif message["type"] == "http.response.body":
                sizes["response"] += len(message.get("body", b""))
                keep(response["body"], message.get("body", b""), MAX_BODY)
                if not message.get("more_body", False):
                    await record()  # before the last byte leaves: a client that reads the journal next finds it
            if held is None:
                await send(message)
            else:
                held.append(message)

        try:
            await self.app(scope, receive_, send_)
        finally:
            await record()
        if held is not None and not response["stands"] and replay is not None:
            return False
        if held is not None and response.get("unchecked"):
            answer = to_starlette(response["unchecked"])
            scope.setdefault("extensions", {})[ERROR_CODE] = response["unchecked"].code
            await answer(scope, receive, send)
            return True
        for message in held or ():
            await send(message)
        return True

    @staticmethod
    async def _commit_alone(scope, response: dict) -> None:
        """A change deferred to the journal entry (sessions.py) commits even when the entry fails."""
        ctx = context_of(scope)
        session = ctx.session if ctx is not None else None
        if session is None or session.pending is None:
            return
        try:
            await session.commit()
        except errors.SessionMoved:
            response["stands"] = False
        except errors.StoreUnavailable as exc:
            response["unchecked"] = exc

    async def _control(self, scope, receive, send):
        """The control plane is not journalled; its refusals of callers without credentials are counted."""
        status = 0

        async def send_(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_)
        finally:
            ctx = context_of(scope)
            if status >= 400 and scope.get("path", "").startswith("/_sandbox/") and (
                    ctx is None or not ctx.authenticated):
                await self._unauthenticated(scope, ctx, status)

    async def _unauthenticated(self, scope, ctx, status: int) -> None:
        """Refused before any session: counted for the whole server, never in a team's report.
        The field is (operation, status, code), each from a closed set, so the tally stays small."""
        code = scope.get("extensions", {}).get(ERROR_CODE) or "-"
        try:
            await self.sessions.store.count_unauthenticated(
                f"{ctx.operation if ctx is not None and ctx.operation else '-'} {status} {code}")
        except Exception:  # like the journal, the tally never breaks the call it counts
            log.exception("unauthenticated request not counted")

    async def _record(self, scope, request: bytes, status: int, body: bytes, sizes: dict, last: bool) -> bool:
        """Journals the exchange; False (nothing journalled) when the answer rests on a state of
        the session that moved on meanwhile, so the request must run again."""
        ctx = context_of(scope)
        session = ctx.session if ctx is not None else None
        if session is None:
            if status >= 400:
                await self._unauthenticated(scope, ctx, status)
            return True
        code = scope.get("extensions", {}).get(ERROR_CODE) if status >= 400 else None
        if code == errors.SessionMoved.code and not last:  # a change found it moved: it committed nothing
            return False
        routed = scope.get("extensions", {}).get("connexion_routing", {}).get("operation_id")
        # Connexion's router leaves both in this scope unless a layer between copied it.
        operation, params = ((routed, scope["path_params"]) if routed in self.contract.statuses
                             and scope.get("path_params") else self.contract.operation(scope["method"], scope["path"]))
        # The error's code says who is to blame, for the client's report; the body may be cut short.
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
        headers = headers_of(scope.get("headers", ()))
        # The dashboard's own calls are journalled (it hides them) but are not the client's.
        client = headers.get("x-sandbox-client") != DASHBOARD
        content_type = headers.get("content-type", "")
        # Bodies are kept as (truncated) text and decoded when read: 64 KiB of JSON can
        # decode into megabytes of Python objects, and the journal must stay bounded.
        entry = {
            "time": session.state.clock.now_iso(), "operation": operation, "method": scope["method"],
            "path": scope["path"], "task_id": params.get("task_id"), "status": status, "code": code,
            "request": {"headers": {k: v for k, v in headers.items() if v},
                        "body": (f"<multipart body, {sizes['request']} bytes>"
                                 if content_type.startswith("multipart/") and request
                                 else cut(request, sizes["request"], self.body_bytes))},
            "response": {"body": cut(body, sizes["response"], self.body_bytes)}, "problems": problems}
        mark, keep = report.mark(operation, status, code) if client else None, report.kept_as(code) if client and code else None
        pending = session.pending  # the entry commits the request's change, or neither is done
        try:
            return await session.store.journal_append(
                session.sid, entry, mark=mark, keep=keep, basis=None if last else session.checks,
                tell=client, pending=pending)  # the dashboard's own reads tell no one: its page would read again, and again
        except errors.StoreUnavailable:
            raise
        except Exception:
            if pending is None:
                raise
            # the change may be applied or not (a script that failed part way keeps what it wrote):
            # the answer must not say it was
            log.exception("a change and its journal entry failed")
            raise errors.StoreUncertain() from None
        finally:
            session.pending = None
