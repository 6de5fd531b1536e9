"""Every store, to run the same tests on (tests/store/test_conformance.py, test_protocol.py):
`make_store(**options)` and `any_store`, driven on one event loop of the test's; and the Redis
that the tests across processes share, `shared_url`: one server, or a three-master cluster."""
from __future__ import annotations

import asyncio
import inspect

import pytest

from sandbox import spec
from sandbox.control.scenarios import Scenarios
from sandbox.store import open_store
from sandbox.store.protocol import Store, SyncStore
from sandbox.store.redis import RedisStore
from tests import redis_server

# Every store, by name: the contract it meets, and the fixture giving its URL (None: memory;
# each test's stores get a namespace of their own).
STORES = {
    "memory": (SyncStore, None),
    "redis": (Store, "redis_url"),
    "cluster": (Store, "cluster_url"),  # sandbox/store/cluster.py: a cluster of the suite's own
}


class Driven:
    """A store driven on the test's one event loop (the Redis store keeps a client per loop):
    its coroutine methods are called as plain ones."""

    def __init__(self, store, loop, made: list):
        self.store, self.loop, self.made = store, loop, made
        made.append(store)

    def __getattr__(self, name):
        member = getattr(self.store, name)
        if inspect.iscoroutinefunction(member):
            return lambda *args, **kwargs: self.loop.run_until_complete(member(*args, **kwargs))
        return member

    def sibling(self) -> "Driven":
        """Another process's view, as near as one process has: what the store committed."""
        return Driven(self.store.sibling(), self.loop, self.made)


def wake_at(tx, now):
    """When a sender should look at a session: what the unit of work said (see wake)."""
    return getattr(tx, "wake", None)


@pytest.fixture(scope="module")
def seeds():
    return Scenarios(None, spec.load_public()).seed


@pytest.fixture(params=list(STORES))
def make_store(request, seeds):
    """Stores of one kind, each with the options the test gives; all closed after (and a Redis
    store's keys dropped)."""
    url = prefix = None
    if STORES[request.param][1] is not None:
        url, prefix = request.getfixturevalue(STORES[request.param][1]), redis_server.namespace()
    loop, made = asyncio.new_event_loop(), []

    def make(**options) -> Driven:
        options = {"seeds": seeds, "wake_at": wake_at, **options, **({"namespace": prefix} if prefix else {})}
        store = Driven(open_store(url, **options), loop, made)
        store.prepare()
        return store
    yield make
    for store in made:
        loop.run_until_complete(store.close())
    loop.close()
    if prefix:
        redis_server.drop(url, prefix)


@pytest.fixture
def any_store(make_store):
    return make_store()


@pytest.fixture(params=["redis_url", "cluster_url"], ids=["redis", "redis+cluster"])
def shared_url(request):
    return request.getfixturevalue(request.param)


@pytest.fixture
def namespace(shared_url):
    prefix = redis_server.namespace()
    yield prefix
    redis_server.drop(shared_url, prefix)
