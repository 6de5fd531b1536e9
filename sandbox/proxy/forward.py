"""The proxy's back end: each /v2/ request judged, forwarded to the upstream as it came, its answer
streamed back as it was sent and judged too."""
from __future__ import annotations

import asyncio
import json
import logging
import typing as t
from dataclasses import dataclass, field

from sandbox import errors
from sandbox.proxy.upstream import Upstream
from sandbox.proxy.verdict import CHECKED_BYTES, MULTIPART, AnswerCheck, ClientCheck, decoded

log = logging.getLogger("sandbox")
EXCHANGE = "sandbox.proxy.exchange"  # scope extension: the Exchange, for the journal layer
OFF_LOOP_BYTES = 64 * 1024


@dataclass
class Exchange:
    """What the journal needs of one exchange besides the bytes it saw itself."""

    operation: str | None = None
    params: dict = field(default_factory=dict)  # the path's parameters, as the contract names them
    client: errors.SandboxError | None = None   # the error the sandbox would have answered
    upstream: list[dict] | None = None          # the answer's breaks; None: it never reached the upstream
    multipart: bool = False
    aborted: bool = False  # the request's stream was cut off here, before the upstream got it whole
    answer: bytearray = field(default_factory=bytearray)
    decoded: bytes | None = None    # the answer's body as its media type reads it, when it was checked
    unchecked: str | None = None    # why only the answer's status and headers were checked


class _Abort(Exception):
    """The stream is cut off (a form that broke the contract under --strict, a body past the bound,
    a client gone): the upstream gets no whole request."""


class Forward:
    """Innermost for /v2/: other paths (the control plane) go on to `app`. A request that breaks
    the contract is forwarded all the same, unless `strict`, when it is answered as the sandbox
    would answer it: an upload's form too, checked whole first when it fits in `max_body_bytes`,
    else as it streams and cut off when it breaks the contract. The proxy's own bounds hold either
    way: a JSON body over `max_body_bytes`, an upload over `upload_bytes`. `recorder`
    (sandbox/proxy/recorder.py) gets every whole JSON answer."""

    def __init__(self, app, upstream: Upstream, client: ClientCheck, answers: AnswerCheck, strict: bool = False,
                 max_body_bytes: int = 1024 * 1024, upload_bytes: int = 4 * 1024 ** 3, recorder=None):
        self.app, self.upstream, self.client, self.answers = app, upstream, client, answers
        self.strict, self.max_body_bytes, self.upload_bytes, self.recorder = strict, max_body_bytes, upload_bytes, recorder

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope.get("path", "").startswith("/v2/"):
            return await self.app(scope, receive, send)
        exchange = scope.setdefault("extensions", {})[EXCHANGE] = Exchange()
        exchange.operation, exchange.params = self.client.contract.operation(scope["method"], scope["path"])
        content_type = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"content-type"), None)
        form = None
        if exchange.operation is not None:
            try:
                form = self.client.form(exchange.operation, content_type)
            except errors.SandboxError as exc:  # a multipart body that cannot be parsed at all
                exchange.client = exc
        # An upload is streamed whatever its media type says: its bytes are never held, nor journalled.
        exchange.multipart = form is not None or (content_type or "").lower().startswith("multipart/") or (
            MULTIPART in self.client.contract.consumes.get(exchange.operation, ()))
        if form is None and not exchange.multipart:
            body = await self._whole(receive, exchange)
            stream = body if body or _has_body(scope) else None
        elif self.strict and form is not None and _length(scope) <= self.max_body_bytes:
            # Strict, a form that fits under the JSON bound is checked whole before a byte of it leaves.
            stream = await self._whole(receive, exchange)
            try:
                form.write(stream)
                form.finish()
            except errors.SandboxError as exc:
                exchange.client = exc
            body = b""
        else:
            body, stream = b"", self._streamed(receive, form, exchange)
        exchange.client = exchange.client or await self.client.request(scope, body)
        if exchange.client is not None and self.strict:
            raise exchange.client
        try:
            answer = await self.upstream.send(scope["method"], scope.get("raw_path") and scope["raw_path"].decode(
                "latin-1") or scope["path"], scope.get("query_string", b""), scope["headers"], stream)
        except (_Abort, errors.UpstreamTimeout, errors.UpstreamUnreachable):
            if exchange.aborted:  # the client's doing, however the HTTP client reports the cut
                raise exchange.client from None
            raise
        await self._back(scope, send, answer, exchange)

    async def _whole(self, receive, exchange: Exchange) -> bytes:
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":  # a body cut short is never forwarded as if whole
                exchange.client, exchange.aborted = _gone(), True
                raise exchange.client
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise errors.PayloadTooLarge(f"The proxy forwards JSON bodies of at most {self.max_body_bytes} bytes.")
            chunks.append(chunk)
            more = message.get("more_body", False)
        return b"".join(chunks)

    async def _streamed(self, receive, form, exchange: Exchange) -> t.AsyncIterator[bytes]:
        """The body as it arrives, each chunk checked by the form before it goes on."""
        size, more = 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":  # nobody is left to answer: the upstream gets no whole request
                exchange.client = exchange.client or _gone()
                exchange.aborted = True
                raise _Abort()
            chunk = message.get("body", b"")
            more = message.get("more_body", False)
            size += len(chunk)
            if size > self.upload_bytes:
                exchange.client = errors.PayloadTooLarge(f"The proxy forwards uploads of at most {self.upload_bytes} bytes.")
                exchange.aborted = True
                raise _Abort()
            if form is not None and exchange.client is None:
                try:
                    form.write(chunk)
                    if not more:
                        form.finish()
                except errors.SandboxError as exc:
                    exchange.client = exc
                    if self.strict:
                        exchange.aborted = True
                        raise _Abort() from None
            if chunk:
                yield chunk

    async def _back(self, scope, send, answer, exchange: Exchange) -> None:
        if not 100 <= answer.status <= 599:  # no status line HTTP can carry: the client gets the proxy's own
            await answer.close()
            raise errors.UpstreamBadAnswer(f"The upstream answered status {answer.status}, which HTTP does not have.")
        headers = answer.headers
        if answer.status in (204, 304) or answer.status < 200:  # no body follows, whatever Content-Length says
            headers = [(k, v) for k, v in headers if k != b"content-length"]
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        whole = True
        try:
            async for chunk in answer.chunks:
                if len(exchange.answer) + len(chunk) <= CHECKED_BYTES:
                    exchange.answer.extend(chunk)
                else:
                    whole = False
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except Exception as exc:  # the upstream stopped mid-answer: the client's connection is cut too, never
            # ended as if the answer were whole (the journal layer records the exchange on the way out)
            log.warning("upstream answer to %s %s cut off: %r", scope["method"], scope["path"], exc)
            exchange.upstream = [{"kind": "response_body", "location": "body",
                                  "message": f"the answer stopped after {len(exchange.answer)} bytes ({type(exc).__name__})"}]
            return
        finally:
            await answer.close()
        await self._judge(exchange, answer, whole)
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _judge(self, exchange: Exchange, answer, whole: bool) -> None:
        encoding = next((v.decode("latin-1").strip().lower() for k, v in answer.headers if k == b"content-encoding"), None)
        exchange.decoded = decoded(bytes(exchange.answer), encoding) if whole else None
        if not whole:
            exchange.unchecked = f"longer than {CHECKED_BYTES} bytes: its status and headers were checked"
        elif exchange.decoded is None:
            exchange.unchecked = f"Content-Encoding {encoding}, which the proxy does not read: its status and headers were checked"
        if exchange.operation is None:
            exchange.upstream = []
            return
        check = (self.answers.problems, exchange.operation, answer.status, answer.headers, exchange.decoded)
        # a long answer that breaks its schema takes the explaining validator a while: off the event loop
        exchange.upstream = (await asyncio.to_thread(*check) if len(exchange.answer) > OFF_LOOP_BYTES
                             else check[0](*check[1:]))
        if self.recorder is not None and exchange.decoded and 200 <= answer.status < 300:
            self._record(exchange, answer.status)

    def _record(self, exchange: Exchange, status: int) -> None:
        try:
            payload = json.loads(exchange.decoded)
        except (ValueError, RecursionError):
            return
        self.recorder.observe(exchange.operation, status, payload, params=exchange.params)


def _gone() -> errors.SandboxError:
    return errors.BadRequest("The client went away before its body was whole; the upstream got none of it whole.")


def _length(scope) -> int:
    """The body's Content-Length; a chunked body counts as too long to hold."""
    value = next((v for k, v in scope["headers"] if k == b"content-length"), b"")
    return int(value) if value.isdigit() else 1 << 62


def _has_body(scope) -> bool:
    return any(k in (b"content-length", b"transfer-encoding") for k, _ in scope["headers"])
