"""One connection to Redis that the requests of an event loop share for the store's scripts:
commands issued together go out in one write, and the replies come back in order."""
from __future__ import annotations

import asyncio
from collections import deque

import hiredis
from redis._parsers.base import BaseParser
from redis.asyncio.connection import SSLConnection, parse_url
from redis.exceptions import ConnectionError, NoScriptError

# Why not redis-py's pool here: it lends each call a connection of its own, so 32 requests at once
# make 32 writes, 32 reads and 32 wake-ups of the event loop, and its command path (the pool's
# lock, its metrics, an encoder per argument) costs the worker about 110 µs of CPU a call. Over
# one shared connection the same calls cost about 22 µs each (bench/README.md, table 6).
# Redis runs one command at a time anyway, so sharing the connection holds no call back.
# hiredis is Redis's own C parser of its protocol, and packs the commands too.


def supports(url: str) -> bool:
    """TCP and Unix sockets; TLS (rediss://) keeps redis-py's connections."""
    return url.startswith(("redis://", "unix://")) and parse_url(url).get("connection_class") is not SSLConnection


def pack(*parts) -> bytes:
    """A command in Redis's protocol (str, bytes, int or float parts), packed by hiredis in C: a
    commit's 50-odd arguments took 17 µs packed in Python here, 6.5 µs so."""
    return hiredis.pack_command(parts)


class _Protocol(asyncio.Protocol):
    """The connection: calls wait in the order they were sent; a lost connection fails them all."""

    def __init__(self):
        self.reader = hiredis.Reader()
        self.waiting: deque[asyncio.Future] = deque()
        self.queued: list[bytes] = []
        self.transport: asyncio.Transport | None = None
        self.lost: Exception | None = None
        self.sent = self.answered = 0

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        try:
            while (reply := self.reader.gets()) is not False:
                self.answered += 1
                future = self.waiting.popleft()
                if not future.done():  # its caller may have stopped waiting (a timeout)
                    future.set_result(reply)
        except hiredis.ProtocolError as exc:
            self.close(ConnectionError(f"Redis sent what is not its protocol: {exc}"))

    def connection_lost(self, exc) -> None:
        self.close(ConnectionError(f"Redis connection lost ({exc or 'closed'})"))

    def close(self, error: Exception) -> None:
        if self.lost is None:
            self.lost = error
            if self.transport is not None:
                self.transport.close()
        while self.waiting:
            future = self.waiting.popleft()
            if not future.done():
                future.set_exception(error)

    def call(self, packed: bytes) -> tuple[asyncio.Future, int]:
        """Send a command; its future, and its place in the order. Alone, it leaves at once;
        with calls in flight, it goes with those issued in the same turn of the loop."""
        if self.lost is not None:
            raise self.lost
        future = asyncio.get_running_loop().create_future()
        if not self.waiting:
            self.transport.write(packed)
        else:
            if not self.queued:
                asyncio.get_running_loop().call_soon(self._flush)
            self.queued.append(packed)
        self.waiting.append(future)
        self.sent += 1
        return future, self.sent

    def _flush(self) -> None:
        if self.queued and self.lost is None:
            self.transport.write(b"".join(self.queued))
        self.queued.clear()


class Wire:
    """A shared connection, made on first use and again after it is lost. Calls raise redis-py's
    errors (ConnectionError, ResponseError), so the store handles them as it does the pool's."""

    def __init__(self, url: str, name: str, timeout: float, scripts: tuple = ()):
        """`scripts`: loaded as the connection is made (a restarted Redis has none), so their
        first calls are not sent twice."""
        self.options = parse_url(url)
        self.name, self.timeout, self.scripts = name, timeout, scripts
        self._conn: _Protocol | None = None
        self._connecting: asyncio.Task | None = None

    async def _connection(self) -> _Protocol:
        if self._conn is not None and self._conn.lost is None:
            return self._conn
        # one attempt at a time, shared by the calls that wait for it; a finished one (its
        # connection lost since, or its callers all gone before it ended) is never reused
        if self._connecting is None or self._connecting.done():
            self._connecting = asyncio.ensure_future(self._connect())
        return await asyncio.shield(self._connecting)

    async def _connect(self) -> _Protocol:
        loop, options = asyncio.get_running_loop(), self.options
        conn = None
        try:
            async with asyncio.timeout(self.timeout):
                if "path" in options:
                    _, conn = await loop.create_unix_connection(_Protocol, options["path"])
                else:
                    _, conn = await loop.create_connection(_Protocol, options.get("host", "localhost"),
                                                           options.get("port", 6379))
                hello = []
                if options.get("password") is not None:
                    hello.append(pack("AUTH", *filter(None, (options.get("username"), options["password"]))))
                if options.get("db"):
                    hello.append(pack("SELECT", options["db"]))
                hello.append(pack("CLIENT", "SETNAME", self.name))
                hello += [pack("SCRIPT", "LOAD", text) for text in self.scripts]
                answers = [conn.call(command)[0] for command in hello]
                for answer in await asyncio.gather(*answers):
                    if isinstance(answer, hiredis.ReplyError):
                        conn.close(ConnectionError(f"Redis refused the connection: {answer}"))
                        raise conn.lost
        except BaseException as exc:
            if conn is not None:  # connected, but the greeting failed or timed out: no socket left open
                conn.close(ConnectionError("the connection's greeting failed"))
            if isinstance(exc, (OSError, asyncio.TimeoutError)):
                raise ConnectionError(f"cannot connect to Redis: {exc or 'timed out'}") from None
            raise
        self._conn = conn
        return conn

    async def call(self, *parts):
        """One command and its reply; an error reply raised as redis-py raises it."""
        conn = await self._connection()
        future, place = conn.call(pack(*parts))
        try:
            reply = await future
        except asyncio.CancelledError:
            # The caller gave up (its time ran out): if Redis has not answered within another
            # timeout, the connection is stuck, and the calls queued behind this one with it.
            asyncio.get_running_loop().call_later(self.timeout, self._check, conn, place)
            raise
        if isinstance(reply, hiredis.ReplyError):
            # redis-py's own classes (OutOfMemoryError, ReadOnlyError, NoScriptError...), as its pool
            # raises them: the store tells an outage from a bug of its own by them (RedisStore._call)
            raise BaseParser.parse_error(str(reply))
        return reply

    @staticmethod
    def _check(conn: _Protocol, place: int) -> None:
        if conn.answered < place:
            conn.close(ConnectionError("Redis did not answer in time"))

    async def script(self, script, keys: list, args: list):
        """EVALSHA, loading the script first if Redis does not know it (a restarted Redis):
        a NOSCRIPT reply means it did not run, so sending it again applies it once."""
        try:
            return await self.call("EVALSHA", script.sha, len(keys), *keys, *args)
        except NoScriptError:
            await self.call("SCRIPT", "LOAD", script.script)
            return await self.call("EVALSHA", script.sha, len(keys), *keys, *args)

    async def close(self) -> None:
        if self._connecting is not None:
            self._connecting.cancel()
        if self._conn is not None:
            self._conn.close(ConnectionError("the store is closed"))
            self._conn = None
