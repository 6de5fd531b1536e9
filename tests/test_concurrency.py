"""Concurrent actions on one task over a real threaded server: exactly one wins (B5)."""
from __future__ import annotations

import threading
import time
from collections import Counter

import httpx
import pytest

from tests.conftest import BASE, auth

from sandbox.domain import lifecycle

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
