"""Shared fixtures: a fresh app, world and client per test (house style: app factory)."""
from __future__ import annotations

import pytest

from sandbox.app import create_app
from tests import redis_server
from tests.redis_cluster import RedisClusterServers, require as require_cluster
from sandbox.domain.clock import Clock, parse_timestamp
from sandbox.http.server import ServerThread

TEAM, PROJECT = "team_123456", "proj_123456"
BASE = f"/v2/{TEAM}/project/{PROJECT}"
FULL_KEY = "YOUR_API_KEY"
NOW = "2025-03-01T12:00:00Z"


def auth(key: str = FULL_KEY) -> dict:
    return {"Authorization": f"Bearer {key}"}


# Tests that reach into the process's state (the `world` handle, or moving the `clock` object
# by hand) run on the memory store only; every other test runs on the store --store names.
IN_PROCESS = {"world", "story", "clock"}


def pytest_addoption(parser):
    parser.addoption("--store", choices=["memory", "redis", "redis+cluster"], default="memory",
                     help="the sandbox's store for the suite's apps (redis: see tests/redis_server.py; "
                          "redis+cluster: a three-master cluster of its own, tests/redis_cluster.py)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--store") != "memory":
        skip = pytest.mark.skip(reason="drives the in-process state directly: memory store only")
        for item in items:
            names = set(getattr(getattr(item, "_fixtureinfo", None), "argnames", ()))
            if names & IN_PROCESS or item.get_closest_marker("memory_only"):
                item.add_marker(skip)


@pytest.fixture(scope="session")
def redis_url():
    found = redis_server.find()
    if found is None:
        redis_server.missing()
    url, server = found
    yield url
    if server is not None:
        server.stop()


@pytest.fixture(scope="session")
def redis_cluster():
    """A three-master Redis Cluster of the suite's own, for the session."""
    require_cluster()
    cluster = RedisClusterServers().start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def cluster_url(redis_cluster):
    return redis_cluster.url


@pytest.fixture
def store(request):
    """What each app's state lives in: None (memory), or (url, namespace) on Redis."""
    kind = request.config.getoption("--store")
    if kind == "memory":
        yield None
        return
    url = request.getfixturevalue("redis_url" if kind == "redis" else "cluster_url")
    prefix = redis_server.namespace()
    yield url, prefix
    redis_server.drop(url, prefix)


@pytest.fixture
def clock():
    return Clock(now=parse_timestamp(NOW), frozen=True)


@pytest.fixture
def app(clock, store):
    if store is None:
        return create_app(clock=clock)
    return create_app(clock=clock, store=store[0], namespace=store[1])


@pytest.fixture
def world(app):
    return app.world


@pytest.fixture
def client(app):
    with app.test_client() as c:
        yield c


@pytest.fixture
def live(app):
    with ServerThread(app) as server:
        yield server
