"""The Redis store's change notices: this process's subscriptions to the channels its scripts publish on."""
from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable

from redis.exceptions import RedisClusterException, RedisError

from sandbox import errors
from sandbox.store.notices import KINDS, STATE, Notices

log = logging.getLogger("sandbox")
RETRY_SECONDS = 1.0
FAILURES = (RedisError, RedisClusterException, OSError)  # a cluster's slot map unread is no RedisError


def channel_of(prefix: str, sid: str) -> str:
    """A session's channel of notices: in its slot (its id is the hash tag), so its scripts may publish there."""
    return f"{prefix}c:{{{sid}}}"


class Subscriber:
    """Subscribes to a session's channel while this process has a watcher of it (SSUBSCRIBE: a
    channel lives on its slot's node, so on a cluster there is one connection per node, each read
    by a task of its own). A dropped connection is made again and subscribed again; since a
    notice may have been lost meanwhile, every watcher on it is told its session changed."""

    def __init__(self, prefix: str, connect_for: Callable[[str], Awaitable[tuple]]):
        """`connect_for(channel)` -> (the node's name, a new client for it)."""
        self.prefix = prefix
        self.connect_for = connect_for
        self.notices = Notices(subscribe=self._subscribe, unsubscribe=self._unsubscribe)
        self._nodes: dict[str, tuple] = {}      # name -> (pubsub, reader task)
        self._node_of: dict[str, str] = {}      # channel -> its node's name
        self._lock = asyncio.Lock()

    def channel(self, sid: str) -> str:
        return channel_of(self.prefix, sid)

    def sid_of(self, channel: str) -> str:
        return channel[len(self.prefix) + 3:-1]  # "<prefix>c:{" ... "}"

    async def _subscribe(self, sid: str) -> None:
        """Each watcher asks, so one that came while an earlier one's subscribe failed tries again."""
        try:
            await self._subscribe_to(self.channel(sid))
        except FAILURES:
            raise errors.StoreUnavailable() from None

    async def _subscribe_to(self, channel: str) -> None:
        async with self._lock:
            if channel in self._node_of:
                return
            name, client = await self.connect_for(channel)
            if name in self._nodes:
                await client.aclose()
                await self._nodes[name][0].ssubscribe(channel)
            else:
                pubsub = client.pubsub()
                await pubsub.ssubscribe(channel)  # first: until then it has no connection to read
                self._nodes[name] = (pubsub, asyncio.get_running_loop().create_task(self._read(name, pubsub)))
            self._node_of[channel] = name

    async def _unsubscribe(self, sid: str) -> None:
        channel = self.channel(sid)
        async with self._lock:
            name = self._node_of.pop(channel, None)
            if name is None or self.notices.watching(sid):  # watched again meanwhile
                if name is not None:
                    self._node_of[channel] = name
                return
            try:
                await self._nodes[name][0].sunsubscribe(channel)
            except FAILURES:  # the reader makes the connection again, without it
                pass

    async def _read(self, name: str, pubsub) -> None:
        broken = False  # its connection was lost: subscribed again, or tried again each RETRY_SECONDS
        while True:
            if broken and not await self._again(name, pubsub):
                await asyncio.sleep(RETRY_SECONDS)
                continue
            broken = False
            try:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=RETRY_SECONDS)
            except RuntimeError:  # no connection: no channel left on the node, or one lost
                broken = any(node == name for node in self._node_of.values())
                await asyncio.sleep(RETRY_SECONDS)
                continue
            except FAILURES as exc:
                log.debug("change notices from %s: %s", name, exc)
                broken = True
                await asyncio.sleep(RETRY_SECONDS)
                continue
            if message is None or message.get("type") != "smessage":
                continue
            self.notices.tell(self.sid_of(message["channel"].decode()), KINDS.get(message["data"], STATE))

    async def _again(self, name: str, pubsub) -> bool:
        """Subscribe again to the node's channels, and tell their watchers (a notice may have been
        lost); False if the node does not answer yet."""
        async with self._lock:  # no channel is subscribed on the connection being replaced meanwhile
            channels = [c for c, n in self._node_of.items() if n == name]
            try:
                await pubsub.aclose()  # its connection, and what it was subscribed to, start again
                if channels:
                    await pubsub.ssubscribe(*channels)
            except FAILURES:
                return False
        for channel in channels:
            self.notices.tell(self.sid_of(channel), STATE)
        return True

    async def close(self) -> None:
        for pubsub, task in self._nodes.values():
            task.cancel()
            try:
                await pubsub.aclose()
            except FAILURES:
                pass
        self._nodes.clear()
        self._node_of.clear()


class Watching:
    """The Redis store's side: each session's channel, and a Subscriber per event loop."""
    prefix: str
    _subscribers: dict

    def _channel(self, sid: str) -> str:
        return channel_of(self.prefix, sid)

    def watch(self, sid: str):
        """Waits on the session's changes, made by any process."""
        loop = id(asyncio.get_running_loop())
        found = self._subscribers.get(loop)
        if found is None:
            found = self._subscribers[loop] = Subscriber(self.prefix, self._connect_for)
        return found.notices.watch(sid)

    async def _connect_for(self, channel: str) -> tuple:
        """(node name, a new client) where a channel's subscriber connects: here the store's one server."""
        return "redis", self._connect()

    async def _unwatch(self) -> None:
        """Let go of the running event loop's subscriptions."""
        subscriber = self._subscribers.pop(id(asyncio.get_running_loop()), None)
        if subscriber is not None:
            await subscriber.close()
