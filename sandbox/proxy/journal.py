"""The proxy's journal: each exchange with both verdicts, counted for the client's report by side."""
from __future__ import annotations

import logging
from datetime import datetime, timezone

from sandbox import errors
from sandbox.control import report
from sandbox.control.journal import cut, decode, keep
from sandbox.control.layers import _JOURNALLED, DASHBOARD, MAX_BODY, JournalRecorder, is_preflight
from sandbox.http.context import context_of
from sandbox.http.envelope import ERROR_CODE
from sandbox.proxy.forward import EXCHANGE

log = logging.getLogger("sandbox")


def _now() -> str:
    """A proxy's journal is in real time: there is no virtual clock between a client and the platform."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _code(body: bytes) -> str | None:
    """An upstream error's code, if it is one the contract's envelope names: the tally stays a closed set
    whatever an upstream answers."""
    answer = decode(body.decode("utf-8", "replace"))
    code = answer.get("code") if isinstance(answer, dict) else None
    return code if isinstance(code, str) and code in errors.BLAME_BY_CODE else None


class ExchangeJournal(JournalRecorder):
    """Outermost, like the sandbox's journal: every /v2/ exchange is journalled in the session its
    X-Sandbox-Session names, never its Authorization header nor an upload's bytes."""

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope.get("path", "").startswith("/v2/") or is_preflight(scope):
            return await super().__call__(scope, receive, send)
        request, answer = bytearray(), bytearray()
        sizes, state = {"request": 0, "response": 0}, {"status": 0, "recorded": False}

        async def receive_():
            message = await receive()
            chunk = message.get("body", b"")
            sizes["request"] += len(chunk)
            keep(request, chunk, self.body_bytes)
            return message

        async def record():
            if not state["recorded"]:
                state["recorded"] = True
                try:
                    await self._exchange(scope, bytes(request), state["status"], bytes(answer), sizes)
                except Exception:  # the journal must never break the call it records
                    log.exception("journal entry dropped")

        async def send_(message):
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
            elif message["type"] == "http.response.body":
                chunk = message.get("body", b"")
                sizes["response"] += len(chunk)
                keep(answer, chunk, MAX_BODY)
                if not message.get("more_body", False):
                    await record()  # before the last byte leaves: a client that reads the report next finds it
            await send(message)

        try:
            await self.app(scope, receive_, send_)
        finally:
            await record()

    async def _exchange(self, scope, request: bytes, status: int, body: bytes, sizes: dict) -> None:
        ctx = context_of(scope)
        session = ctx.session if ctx is not None else None
        if session is None:  # refused before its session was named (a bad X-Sandbox-Session)
            return
        exchange = scope.get("extensions", {}).get(EXCHANGE)
        operation, params = self.contract.operation(scope["method"], scope["path"])
        client = exchange.client if exchange is not None else None
        upstream = exchange.upstream if exchange is not None else None
        if exchange is not None and exchange.decoded is not None:
            body, sizes = exchange.decoded, {**sizes, "response": len(exchange.decoded)}  # what a compressed answer says
        own = scope.get("extensions", {}).get(ERROR_CODE)  # an answer the proxy made itself
        if client is not None:
            code = client.code
        elif own or status >= 400 and status in self.contract.statuses.get(operation, ()):
            # an upstream's error blames the client only as the contract declares it: an undeclared
            # status is the upstream's break, whatever code its body names
            code = own or _code(body)
        else:
            code = None
        headers: dict[str, str] = {}
        for key, value in scope.get("headers", ()):
            if key in _JOURNALLED and _JOURNALLED[key] not in headers:
                headers[_JOURNALLED[key]] = value.decode("latin-1")
        mine = headers.get("x-sandbox-client") != DASHBOARD
        marks = [report.mark(operation, status, code)]
        marks += [report.mark(operation, status, report.UPSTREAM + kind)
                  for kind in dict.fromkeys(p["kind"] for p in upstream or ())]
        client_kind = report.blame(client.code) if client is not None else None
        keep = "violations" if upstream or client_kind in report.CLIENT_KINDS else report.kept_as(code)
        problems = (client.details or [{"location": "request", "message": client.message}]) if client else []
        multipart = exchange is not None and exchange.multipart or headers.get("content-type", "").startswith("multipart/")
        await session.store.journal_append(session.sid, {
            "time": _now(), "operation": operation, "method": scope["method"], "path": scope["path"],
            "task_id": params.get("task_id"), "status": status, "code": code,
            "request": {"headers": {k: v for k, v in headers.items() if v},
                        "body": (f"<upload body, {sizes['request']} bytes>" if multipart and sizes["request"]
                                 else cut(request, sizes["request"], self.body_bytes))},
            "response": {"body": cut(body, sizes["response"], self.body_bytes)}, "problems": problems,
            "verdicts": {"client": None if client is None else {
                "status": client.status, "code": client.code, "error": client.message, "details": client.details or []},
                "upstream": upstream,
                **({"unchecked": exchange.unchecked} if exchange is not None and exchange.unchecked else {})}},
            mark="\n".join(marks) if mine else None, keep=keep if mine and keep else None, tell=mine)

