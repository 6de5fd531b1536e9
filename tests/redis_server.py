"""A real Redis for the store's tests: TASK_SANDBOX_REDIS_URL, else 127.0.0.1:6379 when it
answers, else a redis-server from PATH on a free port; never a stand-in."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid

import pytest
import redis

HOW = ("Redis store tests need a Redis: set TASK_SANDBOX_REDIS_URL, run one on 127.0.0.1:6379, "
       "or install redis-server (apt-get install redis-server)")
REQUIRED = os.environ.get("TASK_SANDBOX_REQUIRE_REDIS") == "1" or os.environ.get("CI", "").lower() == "true"


def missing(what: str = HOW):
    """Skip with one loud line, except where Redis is required (CI): there it fails."""
    if REQUIRED:
        pytest.fail(what + " (required here: TASK_SANDBOX_REQUIRE_REDIS=1 or CI=true)", pytrace=False)
    pytest.skip(what)


def answers(url: str) -> bool:
    try:
        return redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5).ping()
    except redis.RedisError:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """A redis-server of our own, which a test may stop and start again on the same port;
    with an append-only file synced on every write, so a restart keeps what was committed."""

    def __init__(self, port: int | None = None, password: str | None = None, extra: tuple = ()):
        """`password`: the server requires it (and `url` gives it); `extra`: more redis-server options."""
        self.exe = shutil.which("redis-server")
        self.port = port or free_port()
        self.dir = tempfile.mkdtemp(prefix="sandbox-redis-")
        self.password, self.extra = password, extra
        self.url = f"redis://{f':{password}@' if password else ''}127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> "RedisServer":
        self.proc = subprocess.Popen(
            [self.exe, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir, "--save", "",
             "--appendonly", "yes", "--appendfsync", "always",
             *(("--requirepass", self.password) if self.password else ()), *self.extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not answers(self.url):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


def own(what: str, **options):
    """A redis-server of the test's own for `what` (which stops it, or must see only its own
    commands), stopped afterwards; without redis-server, missing() says how to get one.
    `options`: RedisServer's."""
    if not shutil.which("redis-server"):
        missing(f"{what} starts its own redis-server: install redis-server (apt-get install redis-server)")
    server = RedisServer(**options).start()
    try:
        yield server
    finally:
        server.stop()


def find() -> tuple[str, RedisServer | None] | None:
    url = os.environ.get("TASK_SANDBOX_REDIS_URL")
    if url:
        return url, None
    if answers("redis://127.0.0.1:6379/0"):
        return "redis://127.0.0.1:6379/0", None
    if shutil.which("redis-server"):
        server = RedisServer().start()
        return server.url, server
    return None


def namespace() -> str:
    return f"task-sandbox-test-{uuid.uuid4().hex[:12]}"


def client(url: str):
    """A client of the Redis, or Redis Cluster, that a store URL names."""
    if "+cluster://" in url:
        from tests.redis_cluster import client_of

        return client_of(url)
    return redis.Redis.from_url(url)


def drop(url: str, prefix: str) -> None:
    """Delete every key a test's sandbox wrote."""
    found = client(url)
    for key in list(found.scan_iter(match=f"{prefix}:*", count=1000)):
        found.delete(key)
