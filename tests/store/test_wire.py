"""The Redis store's shared connection (sandbox/store/wire.py), on redis-servers of the tests' own:
concurrent requests share it; a Redis that forgot the scripts, a killed connection, a Redis that
stops answering, a password, a database and a Unix socket are each met as before."""
from __future__ import annotations

import asyncio
import os
import signal
import tempfile
import time

import httpx
import pytest
import redis

from sandbox.app import create_app
from sandbox.http.server import ServerThread
from tests import redis_server
from tests.conftest import BASE, auth

TASK = f"{BASE}/task/task_abcdef123456"  # REVIEWING, passes validation (fixtures/tasks.yaml)


@pytest.fixture
def own_redis():
    yield from redis_server.own("the shared connection's tests")


def api_connections(url: str) -> list[dict]:
    return [c for c in redis.Redis.from_url(url).client_list() if c["name"] == "task-sandbox"]


def test_thirty_two_requests_at_once_share_one_connection(own_redis):
    with ServerThread(create_app(store=own_redis.url, namespace="wire")) as live:
        async def burst():
            async with httpx.AsyncClient(base_url=live.url, timeout=30) as client:
                return await asyncio.gather(*(client.get(TASK, headers=auth()) for _ in range(32)))
        assert {r.status_code for r in asyncio.run(burst())} == {200}
        # redis-py's pool, which the rest of the store's calls still use, opened one for the start-up
        assert len(api_connections(own_redis.url)) <= 2, api_connections(own_redis.url)


def test_a_redis_that_forgot_the_scripts_loads_them_again_and_applies_a_change_once(own_redis):
    with ServerThread(create_app(store=own_redis.url, namespace="wire")) as live, \
            httpx.Client(base_url=live.url, timeout=30) as client:
        assert client.get(TASK, headers=auth()).status_code == 200
        redis.Redis.from_url(own_redis.url).script_flush()  # as a restarted Redis without persistence
        assert client.post(f"{TASK}/approve", headers=auth()).status_code == 200
        assert client.get(TASK, headers=auth()).json()["payload"]["approved"] is True
        approves = [e for e in client.get("/_sandbox/journal", headers=auth()).json()["payload"]
                    if e["operation"] == "approveTask"]
        assert len(approves) == 1, "journalled once"


def test_a_killed_connection_is_made_again_by_the_next_request(own_redis):
    with ServerThread(create_app(store=own_redis.url, namespace="wire")) as live, \
            httpx.Client(base_url=live.url, timeout=30) as client:
        assert client.get(TASK, headers=auth()).status_code == 200
        admin = redis.Redis.from_url(own_redis.url)
        assert admin.client_kill_filter(_type="normal", skipme=True) >= 1
        assert client.get(TASK, headers=auth()).status_code == 200, "a read meets the lost connection and tries again"
        assert client.post(f"{TASK}/approve", headers=auth()).status_code == 200


def test_a_redis_that_stops_answering_is_a_503_in_bounded_time_and_then_passes(own_redis):
    """A stopped process keeps its sockets open: nothing is refused, nothing answers. The calls
    waiting on the shared connection must not hold every later request behind them."""
    with ServerThread(create_app(store=own_redis.url, namespace="wire")) as live, \
            httpx.Client(base_url=live.url, timeout=30) as client:
        assert client.get(TASK, headers=auth()).status_code == 200
        os.kill(own_redis.proc.pid, signal.SIGSTOP)
        try:
            for _ in range(3):
                started = time.monotonic()
                answer = client.get(TASK, headers=auth())
                assert time.monotonic() - started < 5, "answered within a bounded time"
                assert answer.status_code == 503 and answer.json()["code"] == "store_unavailable", answer.text
        finally:
            os.kill(own_redis.proc.pid, signal.SIGCONT)
        assert client.get(TASK, headers=auth()).status_code == 200, "recovered by itself"


@pytest.mark.parametrize("refusal", ["out of memory", "read-only"])
def test_a_change_redis_refuses_is_a_503_and_is_not_applied(own_redis, refusal):
    """An error reply to the script that commits a change with its journal entry (a full Redis,
    or a primary a failover made a replica) is the store's, not the sandbox's: 503, never a 200
    for a change that was not made."""
    admin = redis.Redis.from_url(own_redis.url)
    with ServerThread(create_app(store=own_redis.url, namespace="wire")) as live, \
            httpx.Client(base_url=live.url, timeout=30) as client:
        assert client.get(TASK, headers=auth()).json()["payload"]["approved"] is False  # the worker holds it now
        if refusal == "out of memory":
            admin.config_set("maxmemory-policy", "noeviction")
            admin.config_set("maxmemory", 1)
        else:
            admin.execute_command("REPLICAOF", "127.0.0.1", "1")
        try:
            answer = client.post(f"{TASK}/approve", headers=auth())
        finally:
            if refusal == "out of memory":
                admin.config_set("maxmemory", 0)
            else:
                admin.execute_command("REPLICAOF", "NO", "ONE")
        assert answer.status_code == 503 and answer.json()["code"] == "store_unavailable", answer.text
        assert client.get(TASK, headers=auth()).json()["payload"]["approved"] is False
        journal = client.get("/_sandbox/journal", headers=auth()).json()["payload"]
        assert "approveTask" not in [e["operation"] for e in journal]


@pytest.fixture
def guarded_redis():
    yield from redis_server.own("the password test", password="wire-s3cret")


def test_a_password_and_a_database_in_the_url_are_used(guarded_redis):
    url = guarded_redis.url.replace("/0", "/3")
    with ServerThread(create_app(store=url, namespace="wire")) as live, \
            httpx.Client(base_url=live.url, timeout=30) as client:
        assert client.post(f"{TASK}/approve", headers=auth()).status_code == 200
        assert client.get(TASK, headers=auth()).json()["payload"]["approved"] is True
    assert any(redis.Redis.from_url(url).scan_iter(match="wire:s:*")), "the session is in database 3"
    assert not any(redis.Redis.from_url(guarded_redis.url).scan_iter(match="wire:*")), "and not in database 0"


@pytest.fixture
def socket_redis():
    path = os.path.join(tempfile.mkdtemp(prefix="sandbox-wire-"), "redis.sock")
    for server in redis_server.own("the Unix socket test", extra=("--unixsocket", path)):
        yield server, f"unix://{path}?db=0"


def test_a_unix_socket_url_serves(socket_redis):
    server, url = socket_redis
    with ServerThread(create_app(store=url, namespace="wire")) as live, \
            httpx.Client(base_url=live.url, timeout=30) as client:
        assert client.post(f"{TASK}/approve", headers=auth()).status_code == 200
        assert client.get(TASK, headers=auth()).json()["payload"]["approved"] is True
        through = [c["addr"] for c in api_connections(server.url)]
    assert through and all(addr.startswith(url[len("unix://"):url.index("?")]) for addr in through), through
    assert any(redis.Redis.from_url(server.url).scan_iter(match="wire:s:*"))


def test_connects_whose_greeting_times_out_leave_no_socket_open(own_redis):
    """A stopped Redis still accepts TCP connections (the kernel does) and answers nothing: each
    call during the outage connects and times out in its greeting, and must close what it opened,
    or each socket greets Redis once it runs again, and stays."""
    from sandbox.store import wire

    async def calls() -> list:
        shared = wire.Wire(own_redis.url, "task-sandbox-greeting", 0.2)
        os.kill(own_redis.proc.pid, signal.SIGSTOP)
        try:
            for _ in range(5):
                with pytest.raises(redis.ConnectionError):
                    await shared.call("PING")
        finally:
            os.kill(own_redis.proc.pid, signal.SIGCONT)
        await asyncio.sleep(0.5)  # Redis reads what waited for it meanwhile
        left = [c for c in redis.Redis.from_url(own_redis.url).client_list() if c["name"] == "task-sandbox-greeting"]
        await shared.close()
        return left

    assert asyncio.run(calls()) == []
