"""Change notices (sandbox/store/notices.py, redis_notices.py): a watcher of a session is told of
each change of it, made by its own process or another, and of nothing else; on every store."""
from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from sandbox.store.notices import JOURNAL, STATE

TASK = "task_abcdef123456"
QUIET = 0.3  # how long a test waits to be sure nothing is told (a notice takes a millisecond or two)


def rename(tx, name: str) -> None:
    tx.put("tasks", TASK, replace(tx.task(TASK), name=name))


def entry(n: int = 0) -> dict:
    return {"time": "t", "operation": "getTask", "status": 200, "n": n}


# what is done, to the watched session "a" unless it says, and what its watcher is told
CHANGES = [
    pytest.param(lambda s: s.run("a", rename, "x"), {STATE}, id="a commit"),
    pytest.param(lambda s: s.run("a", lambda tx: tx.task(TASK)), set(), id="a unit that changes nothing"),
    pytest.param(lambda s: s.journal_append("a", entry()), {JOURNAL}, id="a journal entry"),
    pytest.param(lambda s: s.journal_append("a", entry(), tell=False), set(), id="an entry told to no one"),
    pytest.param(lambda s: s.journal_clear("a"), {JOURNAL}, id="the journal cleared"),
    pytest.param(lambda s: s.reset("a", None), {STATE}, id="a reset"),
    pytest.param(lambda s: s.delete("a"), {STATE}, id="a delete"),
    pytest.param(lambda s: s.run("b", rename, "x"), set(), id="another session's commit"),
    pytest.param(lambda s: s.run("a@team_2", rename, "x"), set(), id="another team's session of the name"),
    pytest.param(lambda s: s.journal_append("b", entry()), set(), id="another session's entry"),
]


async def told(watcher, expected: set) -> set:
    """What the watcher is told: waiting for what is expected, or QUIET seconds when nothing is."""
    found: set = set()
    deadline = asyncio.get_running_loop().time() + (5 if expected else QUIET)
    while (left := deadline - asyncio.get_running_loop().time()) > 0 and found != expected:
        found |= await watcher.changed(left)
    return found | await watcher.changed(0)


@pytest.mark.parametrize("change, expected", CHANGES)
def test_a_watcher_is_told_of_its_sessions_changes_and_nothing_else(make_store, change, expected):
    store = make_store()

    async def scenario():
        for sid in ("a", "b", "a@team_2"):
            await store.store.open(sid)
        async with store.store.watch("a") as watcher:
            assert await told(watcher, set()) == set(), "nothing is told before anything changes"
            await change(store.store)
            return await told(watcher, expected)
    assert store.loop.run_until_complete(scenario()) == expected


@pytest.mark.parametrize("kind", ["redis", "cluster"])
def test_a_change_made_by_another_process_is_told(request, kind, seeds):
    """Two stores over one Redis (or cluster) namespace are two processes of one sandbox."""
    from sandbox.store import open_store
    from tests import redis_server
    url = request.getfixturevalue("redis_url" if kind == "redis" else "cluster_url")
    prefix = redis_server.namespace()
    loop = asyncio.new_event_loop()
    here, there = (open_store(url, seeds=seeds, namespace=prefix) for _ in range(2))

    async def scenario():
        await here.open("a")
        async with here.watch("a") as watcher, here.watch("a") as second:
            await there.run("a", rename, "elsewhere")
            await there.journal_append("a", entry())
            return await told(watcher, {STATE, JOURNAL}), await told(second, {STATE, JOURNAL})
    try:
        assert loop.run_until_complete(scenario()) == ({STATE, JOURNAL},) * 2, "every watcher of the session is told"
    finally:
        for store in (here, there):
            loop.run_until_complete(store.close())
        loop.close()
        redis_server.drop(url, prefix)


def test_the_last_watcher_gone_unsubscribes_and_a_new_one_subscribes_again(make_store):
    store = make_store()

    async def scenario():
        await store.store.open("a")
        async with store.store.watch("a") as watcher:
            await store.store.run("a", rename, "one")
            first = await told(watcher, {STATE})
        await store.store.run("a", rename, "between")  # watched by no one: told to no one
        async with store.store.watch("a") as watcher:
            nothing = await told(watcher, set())
            await store.store.run("a", rename, "two")
            return first, nothing, await told(watcher, {STATE})
    assert store.loop.run_until_complete(scenario()) == ({STATE}, set(), {STATE})


@pytest.mark.parametrize("kind", ["redis", "cluster"])
def test_a_subscription_lost_with_its_connection_is_made_again(request, kind, seeds):
    """Redis drops the subscriber's connection (CLIENT KILL, as a restart or a network blip would):
    the watcher is told its session may have changed, and is told of changes after as before."""
    import redis
    from sandbox.store import open_store
    from tests import redis_server
    url = request.getfixturevalue("redis_url" if kind == "redis" else "cluster_url")
    prefix = redis_server.namespace()
    loop = asyncio.new_event_loop()
    store = open_store(url, seeds=seeds, namespace=prefix)

    async def scenario():
        await store.open("a")
        async with store.watch("a") as watcher:
            subscriber = store._subscribers[id(asyncio.get_running_loop())]
            (name, (pubsub, _)), = subscriber._nodes.items()
            host, port = pubsub.connection._writer.get_extra_info("sockname")[:2]
            node_host, node_port = name.rsplit(":", 1) if kind == "cluster" else ("127.0.0.1", url.rsplit(":", 1)[1].split("/")[0])
            killed = redis.Redis(host=node_host, port=int(node_port)).client_kill_filter(addr=f"{host}:{port}")
            after_kill = await told(watcher, {STATE})
            await store.run("a", rename, "after")
            return killed, after_kill, await told(watcher, {STATE})
    try:
        assert loop.run_until_complete(scenario()) == (1, {STATE}, {STATE})
    finally:
        loop.run_until_complete(store.close())
        loop.close()
        redis_server.drop(url, prefix)


def test_after_redis_is_down_for_seconds_the_watchers_are_told_again(seeds):
    """Redis stopped for 3 s (longer than a reconnect's retry) and started again: the subscription
    is made again once it answers, its watcher is told (notices may have been lost), and later
    changes are told as before."""
    from sandbox.store import open_store
    from tests.redis_server import RedisServer, missing
    import shutil
    if not shutil.which("redis-server"):
        missing()
    server = RedisServer().start()
    loop = asyncio.new_event_loop()
    here, there = (open_store(server.url, seeds=seeds, namespace="outage") for _ in range(2))

    async def scenario():
        await here.open("a")
        async with here.watch("a") as watcher:
            await there.run("a", rename, "before")
            before = await told(watcher, {STATE})
            server.stop()
            await asyncio.sleep(3)
            server.start()
            back = await told(watcher, {STATE})
            await there.ping()  # its pooled connection died with the server: a read makes it again
            await there.run("a", rename, "after")
            return before, back, await told(watcher, {STATE})
    try:
        assert loop.run_until_complete(scenario()) == ({STATE},) * 3
    finally:
        for store in (here, there):
            loop.run_until_complete(store.close())
        loop.close()
        server.stop()
