"""Shared fixtures: a fresh app, world and client per test (house style: app factory)."""
from __future__ import annotations

import pytest

from sandbox.app import create_app
from sandbox.domain.clock import Clock, parse_timestamp
from sandbox.server import ServerThread

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


@pytest.fixture
def live(app):
    with ServerThread(app) as server:
        yield server
