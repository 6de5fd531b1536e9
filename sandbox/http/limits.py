"""Connection-level limits of the HTTP server: header size, header read time, body idle time."""
from __future__ import annotations

import asyncio
import functools
import logging
from dataclasses import dataclass

from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from sandbox.http import envelope
from sandbox import errors

log = logging.getLogger("uvicorn.error")
# After an error answer the connection stays half-open this long, reading and dropping what the
# client still sends: closing with unread bytes makes the kernel reset the connection, and a
# client still writing its request would then never read the answer.
LINGER_SECONDS = 2.0
# Answers that are streams, which the server ends at once when it shuts down (a dashboard's live channel).
STREAMS = ("/_sandbox/live",)


@dataclass(frozen=True)
class Limits:
    """What one server allows each connection; the defaults are `task-sandbox serve`'s."""

    max_header_bytes: int = 65536
    header_timeout: float = 10.0
    body_idle_timeout: float = 10.0

    def protocol(self) -> functools.partial:
        """The `http=` of a uvicorn.Config: picklable, so `Multiprocess` workers rebuild it."""
        return functools.partial(LimitedHttpToolsProtocol, limits=self)


class _Flow(FlowControl):
    """uvicorn's flow control, telling the protocol when reading resumes: time spent paused is
    the app's (it has not taken the body yet), never the client's."""

    def __init__(self, transport: asyncio.Transport, on_resume):
        super().__init__(transport)
        self._on_resume = on_resume

    def resume_reading(self) -> None:
        # Also called each time the app asks for more body: from then on the wait is the client's.
        self._on_resume()
        super().resume_reading()


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the limits of `Limits`; O(1) work per chunk read."""

    def __init__(self, *args, limits: Limits = Limits(), **kwargs):
        super().__init__(*args, **kwargs)
        self.limits = limits
        self._in_head = True  # between requests, or reading a request's header section
        self._head_left = limits.max_header_bytes  # bytes the current header section may still use
        self._head_begun: float | None = None  # when its first byte arrived
        self._completed = 0  # requests read whole, to tell a new header section from the same one
        self._body_seen = 0.0  # last sign of life of the body: a byte, or the app asking for more
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._linger_timer: asyncio.TimerHandle | None = None
        self._ignoring = False  # answered and closing, or handed over to a WebSocket protocol

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.flow = _Flow(transport, self._touch)
        # A connection that never sends a byte would otherwise hold its socket for ever: its first
        # request's headers are due within the timeout of its opening.
        self._head_begun = self.loop.time()
        self._arm()

    def shutdown(self) -> None:
        """A stream's connection (STREAMS) closes at once, as if its client had left: graceful
        shutdown waits for every answer in flight, and a stream's lasts minutes."""
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete and cycle.scope.get("path") in STREAMS:
            self.transport.close()
            return
        super().shutdown()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_timers()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._ignoring:
            return
        if not self._in_head:
            self._body_seen = self.loop.time()
            super().data_received(data)
            self._arm()
            return
        view = memoryview(data)
        while view and not self._ignoring:
            # Feed no more than the header section may still use: the parser buffers a header
            # it gets in pieces at quadratic cost, so it must never see more than the limit.
            # One that begins after another request ended in this same piece counts from the next
            # read on: at most one read of the socket (256 KiB) more.
            part = view[:self._head_left]
            completed = self._completed
            super().data_received(part)
            view = view[len(part):]
            if self.transport.is_closing():
                return
            if self._in_head and self._completed == completed:
                self._head_left -= len(part)
                if self._head_left <= 0:
                    self._refuse(errors.RequestHeaderFieldsTooLarge(
                        f"The request's header section is larger than {self.limits.max_header_bytes} bytes; "
                        "send fewer or smaller headers, or start the sandbox with a larger --max-header-bytes."))
                    return
            elif view and not self._in_head:
                self._body_seen = self.loop.time()
                super().data_received(view)
                break
        self._arm()

    # Parser callbacks, each doing its part of the bookkeeping before uvicorn's.
    def on_message_begin(self) -> None:
        self._head_begun = self.loop.time()
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._in_head, self._body_seen = False, self.loop.time()
        self._cancel_head_timer()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_head, self._head_left, self._head_begun = True, self.limits.max_header_bytes, None
        self._completed += 1
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        super().on_message_complete()

    def handle_websocket_upgrade(self) -> None:
        self._ignoring = True
        self._stop_timers()
        super().handle_websocket_upgrade()

    def _touch(self) -> None:
        self._body_seen = self.loop.time()

    def _arm(self) -> None:
        """Timers only for a request still arriving after a chunk: one that came whole costs none."""
        if self._ignoring or self.transport.is_closing():
            return
        if self._in_head:
            if self._head_begun is not None and self._head_timer is None:
                self._head_timer = self.loop.call_at(self._head_begun + self.limits.header_timeout,
                                                     self._head_expired)
        elif self._body_timer is None:
            self._body_timer = self.loop.call_at(self._body_seen + self.limits.body_idle_timeout,
                                                 self._body_idle)

    def _head_expired(self) -> None:
        self._head_timer = None
        if self._ignoring or self.transport.is_closing() or not self._in_head:
            return
        self._refuse(errors.RequestTimeout(
            f"The request's headers did not arrive within {_seconds(self.limits.header_timeout)}; send "
            "them at once, or start the sandbox with a larger --header-timeout."))

    def _body_idle(self) -> None:
        self._body_timer = None
        if self._ignoring or self.transport.is_closing() or self._in_head:
            return
        now, cycle = self.loop.time(), self.cycle
        if (self.flow.read_paused or cycle.waiting_for_100_continue
                or cycle.response_started and not cycle.response_complete):
            self._body_seen = now  # the app holds the connection: not the client's idle time
        due = self._body_seen + self.limits.body_idle_timeout
        if due > now:
            self._body_timer = self.loop.call_at(due, self._body_idle)
            return
        self._refuse(errors.RequestTimeout(
            f"No byte of the request body arrived for {_seconds(self.limits.body_idle_timeout)}; send it "
            "steadily, or start the sandbox with a larger --body-idle-timeout."))

    def _refuse(self, exc: errors.SandboxError) -> None:
        """Answer in the envelope when no response is under way, then close without reading on."""
        log.warning("%s - %s", "%s:%d" % self.client[:2] if self.client else "-", exc.message)
        self._ignoring = True
        self._stop_timers()
        cycle = self.cycle
        under_way = cycle is not None and cycle.response_started and not cycle.response_complete
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True  # the app's answer, if it ever comes, is dropped
            cycle.message_event.set()
        if not under_way:
            self.transport.write(_response(exc, self.server_state.default_headers))
        if under_way or not self.transport.can_write_eof():
            self.transport.close()
            return
        self.transport.write_eof()
        self.flow.resume_reading()
        self._linger_timer = self.loop.call_later(LINGER_SECONDS, self.transport.close)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _stop_timers(self) -> None:
        self._cancel_head_timer()
        for timer in (self._body_timer, self._linger_timer):
            if timer is not None:
                timer.cancel()
        self._body_timer = self._linger_timer = None


def _seconds(value: float) -> str:
    return f"{value:g} second" + ("" if value == 1 else "s")


def _response(exc: errors.SandboxError, default_headers: list[tuple[bytes, bytes]]) -> bytes:
    rendered = envelope.render(exc)
    headers = [*default_headers, *((k.lower().encode(), v.encode()) for k, v in rendered.headers.items()),
               (b"content-length", str(len(rendered.body)).encode()), (b"connection", b"close")]
    return b"".join([STATUS_LINE[exc.status], *(b"%s: %s\r\n" % h for h in headers), b"\r\n", rendered.body])
