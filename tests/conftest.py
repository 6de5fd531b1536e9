"""Shared fixtures: a fresh app, world and client per test (house style: app factory)."""
from __future__ import annotations

import socket
import threading
import time

import pytest
import uvicorn

from sandbox.app import create_app
from sandbox.domain.clock import Clock, parse_timestamp

TEAM, PROJECT = "team_123456", "proj_123456"
BASE = f"/v2/{TEAM}/project/{PROJECT}"
FULL_KEY = "YOUR_API_KEY"
NOW = "2025-03-01T12:00:00Z"


def auth(key: str = FULL_KEY) -> dict:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def clock():
    return Clock(now=parse_timestamp(NOW), frozen=True)


@pytest.fixture
def app(clock):
    return create_app(clock=clock)


@pytest.fixture
def world(app):
    return app.world


@pytest.fixture
def client(app):
    with app.test_client() as c:
        yield c


class LiveServer:
    """A real uvicorn server on a free loopback port, for tests that need real threads."""

    def __init__(self, app):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = "http://127.0.0.1:%d" % self.sock.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("live server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


@pytest.fixture
def live(app):
    with LiveServer(app) as server:
        yield server
