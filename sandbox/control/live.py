"""GET /_sandbox/live: a session's changes as server-sent events, so a dashboard shows them without a click."""
from __future__ import annotations

import asyncio
import contextlib
import json
from typing import AsyncIterator

from sandbox import errors
from sandbox.store.state import Tx

# Each open stream holds a connection and a watcher, so both are bounded per server process: a
# team (or the laptop, tenant None) cannot take what another team's dashboards need.
MAX_STREAMS = 100
MAX_STREAMS_PER_TENANT = 10
HEARTBEAT_SECONDS = 15.0  # a comment line: proxies keep the connection, and a gone client is found
LIFETIME_SECONDS = 300.0  # then the stream ends, and the page opens another: no stream is held forever
COALESCE_SECONDS = 0.1    # changes this close together go out as one event (a burst of commits: one read)
RETRY_MS = 1000           # how soon a page should open the next stream after one ends
HEADERS = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-store"),
           (b"x-accel-buffering", b"no")]  # no proxy (nginx) holds the events back
CLOCK = "clock"           # a transition fell due on a running clock: nothing committed, the next read applies it


class Streams:
    """The streams open in this process, by tenant."""

    def __init__(self, total: int | None = None, per_tenant: int | None = None):
        self.total = MAX_STREAMS if total is None else total
        self.per_tenant = MAX_STREAMS_PER_TENANT if per_tenant is None else per_tenant
        self.open: dict[str | None, int] = {}

    def take(self, tenant: str | None) -> None:
        if sum(self.open.values()) >= self.total or self.open.get(tenant, 0) >= self.per_tenant:
            mine = self.open.get(tenant, 0) >= self.per_tenant
            raise errors.TooManyStreams(
                f"{self.per_tenant if mine else self.total} live channels are open "
                f"{'for this team' if mine and tenant else 'on this server process'}, the most it keeps; "
                "close a dashboard tab, or retry when one ends.",
                [{"location": "connection", "message": f"at most {self.per_tenant} per team, {self.total} in all"}])
        self.open[tenant] = self.open.get(tenant, 0) + 1

    def give(self, tenant: str | None) -> None:
        self.open[tenant] -= 1
        if not self.open[tenant]:
            del self.open[tenant]


def _event(name: str, data: dict) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def _next_due(state, sid: str) -> float | None:
    """Seconds of real time until the session's next transition falls due; None on a frozen clock or with none."""
    if state is None or state.clock.frozen:
        return None
    due = Tx(state, sid, 0).next_due()
    return None if due is None else max(0.0, due - state.clock.now())


async def _changes(session, loop_time) -> AsyncIterator[bytes]:
    store, sid = session.store, session.sid
    state = session.state
    yield f"retry: {RETRY_MS}\n".encode() + _event("hello", {"version": state.version})
    end = loop_time() + LIFETIME_SECONDS  # read now: a test shortens it
    try:
        async with store.watch(sid) as watcher:
            while (left := end - loop_time()) > 0:
                due = _next_due(state, sid)
                wait = min(left, HEARTBEAT_SECONDS, HEARTBEAT_SECONDS if due is None else due + 0.05)
                kinds = await watcher.changed(wait)
                if kinds:
                    await asyncio.sleep(COALESCE_SECONDS)
                    kinds |= await watcher.changed(0)
                    state = await store.find(sid)  # on Redis another process may have changed it: its clock too
                elif due is not None and due + 0.05 <= wait:
                    kinds = {CLOCK}
                    state = None  # until a read applies what fell due, nothing else is due: that read says
                if kinds:
                    yield _event("change", {"kinds": sorted(kinds)})
                else:
                    yield b": still here\n\n"
    except errors.StoreUnavailable:  # the stream ends; the page opens another once the store is back
        return


class Live:
    """The answer of GET /_sandbox/live: one of `streams` until it ends, however it ends. It listens
    for the client leaving while it waits (a stream that only found out on its next write would
    hold its place up to a heartbeat)."""

    def __init__(self, session, streams: Streams):
        self.session, self.streams = session, streams
        streams.take(session.tenant)

    async def __call__(self, scope, receive, send) -> None:
        async def left() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass

        async def speak() -> None:
            await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
            # closed here, whenever it stops: its watcher (and subscription) go with the stream, not with the GC
            async with contextlib.aclosing(_changes(self.session, asyncio.get_running_loop().time)) as changes:
                async for chunk in changes:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        try:
            tasks = {asyncio.ensure_future(left()), asyncio.ensure_future(speak())}
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for task in done:
                if not task.cancelled() and isinstance(task.exception(), Exception) and \
                        not isinstance(task.exception(), OSError):  # a client gone mid-write is no error
                    raise task.exception()
        finally:
            self.streams.give(self.session.tenant)
