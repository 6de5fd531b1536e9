"""Concurrent actions on one task over a real threaded server, and straight on the store from
many threads: exactly one wins (B5)."""
from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter

import httpx
import pytest

from tests.conftest import BASE, FULL_KEY, PROJECT, TEAM, auth

from sandbox import errors
from sandbox.app import create_app
from sandbox.domain import lifecycle, world

THREADS = 16


@pytest.fixture(autouse=True)
def slow_rules(monkeypatch):
    """Widen the window between checking a rule and applying it (as slow validation on
    complete would), so that a missing lock shows up as several winners."""
    check = lifecycle.check

    def slow_check(*args, **kwargs):
        rule = check(*args, **kwargs)
        time.sleep(0.005)
        return rule

    monkeypatch.setattr(lifecycle, "check", slow_check)


def race(url: str, actions: list[str], task: str) -> list[tuple[str, int, str | None]]:
    barrier = threading.Barrier(len(actions))
    results: list[tuple[str, int, str | None]] = []
    lock = threading.Lock()

    def worker(action: str) -> None:
        with httpx.Client(base_url=url, timeout=30) as http:
            barrier.wait()
            response = http.post(f"{BASE}/task/{task}/{action}", headers=auth())
            code = response.json().get("code") if response.status_code >= 400 else None
            with lock:
                results.append((action, response.status_code, code))

    threads = [threading.Thread(target=worker, args=(a,)) for a in actions]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


@pytest.mark.parametrize("round_", range(3))
def test_complete_and_discard_race_has_one_winner(live, round_):
    actions = ["complete", "discard"] * (THREADS // 2)
    results = race(live.url, actions, "task_abcdef123456")
    assert len(results) == THREADS
    winners = [r for r in results if r[1] == 200]
    assert len(winners) == 1, results
    assert Counter((s, c) for _, s, c in results if s != 200) == {(400, "task_not_reviewing"): THREADS - 1}
    final = httpx.get(f"{live.url}{BASE}/task/task_abcdef123456", headers=auth()).json()["payload"]
    assert final["status"] == {"complete": "PROCESSING", "discard": "DISCARDED"}[winners[0][0]]


def test_approve_race_has_one_winner(live):
    results = race(live.url, ["approve"] * THREADS, "task_abcdef123456")
    assert sorted(s for _, s, _ in results) == [200] + [400] * (THREADS - 1)
    assert {c for _, s, c in results if s == 400} == {"task_already_approved"}


def _on_store(store, fn):
    """await fn() on an event loop of the calling thread's own, as each thread of a server has."""
    async def go():
        try:
            return await fn()
        finally:
            await store.release()
    return asyncio.run(go())


def test_sixteen_threads_completing_through_the_store_have_one_winner(store):
    """Over HTTP the memory store's units run on one event loop, one after another, lock or not;
    here they run in threads at once (as the control plane's callers and the sender's do), each
    pausing between reading the task and writing it (slow_rules), so only the memory store's lock
    or the Redis store's compare-and-set commit keeps a second complete from winning too."""
    app = create_app(**({} if store is None else {"store": store[0], "namespace": store[1]}))
    sid, task = "race", "task_abcdef123456"

    def complete(tx):
        return world.act(tx, tx.get("keys", FULL_KEY), TEAM, PROJECT, task, "complete")

    _on_store(app.store, lambda: app.store.open(sid))
    barrier = threading.Barrier(THREADS)
    outcomes: list[str] = []

    def worker() -> None:
        barrier.wait()
        try:
            _on_store(app.store, lambda: app.store.run(sid, complete))
            outcomes.append("won")
        except errors.SandboxError as exc:
            outcomes.append(exc.code)

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert Counter(outcomes) == {"won": 1, "task_not_reviewing": THREADS - 1}
    final = _on_store(app.store, lambda: app.store.run(sid, lambda tx: tx.get("tasks", task).status))
    assert final == "PROCESSING"
    app.sender.stop()
