"""The fast GET of a task answers exactly as the full stack does, and steps aside otherwise."""
from __future__ import annotations

import pytest

from sandbox import fastpath
from sandbox.app import create_app
from sandbox.domain.clock import Clock, parse_timestamp
from tests.conftest import BASE, NOW, auth

TASK = f"{BASE}/task/task_abcdef123456"


@pytest.fixture
def served(monkeypatch):
    """How many requests the fast path answered itself."""
    count = []
    answer = fastpath.FastTaskReads._answer

    def counting(self, scope):
        body = answer(self, scope)
        if body is not None:
            count.append(scope["path"])
        return body

    monkeypatch.setattr(fastpath.FastTaskReads, "_answer", counting)
    return count


def pair():
    clock = lambda: Clock(now=parse_timestamp(NOW), frozen=True)  # noqa: E731
    return create_app(clock=clock()).test_client(), create_app(clock=clock(), fast_reads=False).test_client()


def same(fast, full, method, path, **kwargs):
    a, b = fast.request(method, path, **kwargs), full.request(method, path, **kwargs)
    assert (a.status_code, a.content) == (b.status_code, b.content)
    assert {k: v for k, v in a.headers.items() if k != "date"} == {k: v for k, v in b.headers.items() if k != "date"}
    return a


@pytest.mark.parametrize("task", ["task_abcdef123456", "task_email000att1", "task_exported0001",
                                  "task_filtered0001", "task_invalid000001"])
@pytest.mark.parametrize("session", [None, "s1"])
def test_answers_are_byte_identical(served, task, session):
    fast, full = pair()
    headers = {**auth(), **({"X-Sandbox-Session": session} if session else {})}
    for client in (fast, full):  # the same change on both sides first, at the same time
        client.post("/_sandbox/clock", headers=headers, json={"freeze": True, "now": "2030-01-01T00:00:00Z"})
        client.post(f"{BASE}/task/task_abcdef123456/approve", headers=headers)
    assert same(fast, full, "GET", f"{BASE}/task/{task}", headers=headers).status_code == 200
    assert served, "the fast path should have answered"


STEP_ASIDE = [
    ("unknown key", TASK, auth("nope")),
    ("no key", TASK, {}),
    ("missing scope", TASK, auth("key_task_edit_only")),
    ("project not granted", TASK, auth("key_no_project")),
    ("other team", TASK, auth("key_other_team")),
    ("unknown task", f"{BASE}/task/task_000000000000", auth()),
    ("query string", f"{TASK}?x=1", auth()),
    ("CORS", TASK, {**auth(), "Origin": "http://localhost:3000"}),
    ("Prefer", TASK, {**auth(), "Prefer": "code=404"}),
    ("bad session", TASK, {**auth(), "X-Sandbox-Session": "bad name!"}),
    ("encoded path", f"{BASE}/task/task%5Fabcdef123456", auth()),
]


@pytest.mark.parametrize("name,path,headers", STEP_ASIDE, ids=[c[0] for c in STEP_ASIDE])
def test_anything_unusual_takes_the_full_stack(served, name, path, headers):
    fast, full = pair()
    same(fast, full, "GET", path, headers=headers)
    assert not served


def test_faults_take_the_full_stack(served):
    fast, full = pair()
    for client in (fast, full):
        client.post("/_sandbox/faults", json={"operation": "getTask", "status": 503, "times": 1})
    assert same(fast, full, "GET", TASK, headers=auth()).status_code == 503
    assert not served
    assert same(fast, full, "GET", TASK, headers=auth()).status_code == 200
    assert served


def test_fast_answers_are_journalled(served):
    fast, _ = pair()
    fast.get(TASK, headers=auth())
    [entry] = fast.get("/_sandbox/journal").json()["payload"]
    assert (entry["operation"], entry["status"], entry["task_id"]) == ("getTask", 200, "task_abcdef123456")
    assert served


def test_a_body_breaking_the_contract_is_never_served_fast(served, monkeypatch):
    app = create_app()
    for read in ("get_task", "get_task_if_idle"):
        monkeypatch.setattr(app.world, read, lambda *a, **k: {"id": "task_x"})
    response = app.test_client().get(TASK, headers=auth())
    assert response.status_code == 500 and not served


MORE_ASIDE = [
    ("repeated authorization", [("Authorization", "Bearer nope"), ("Authorization", "Bearer YOUR_API_KEY")]),
    ("key after two spaces", [("Authorization", "Bearer  YOUR_API_KEY")]),
    ("lower-case scheme", [("Authorization", "bearer YOUR_API_KEY")]),
]


@pytest.mark.parametrize("name,headers", MORE_ASIDE, ids=[c[0] for c in MORE_ASIDE])
def test_header_quirks_answer_as_the_full_stack(name, headers):
    fast, full = pair()
    same(fast, full, "GET", TASK, headers=headers)


def test_an_id_over_the_contracts_length_is_refused_as_by_the_full_stack():
    fast, full = pair()
    long_id = "task_" + "x" * 200
    task = {"id": long_id, "name": "Long", "created_at": "2024-03-01T00:00:00Z", "status": "REVIEWING",
            "upload_id": "upl_123456789"}
    for client in (fast, full):
        client.post("/_sandbox/fixtures", json={"tasks": [task]})
    assert same(fast, full, "GET", f"{BASE}/task/{long_id}", headers=auth()).status_code in (400, 201, 404)


def test_a_busy_world_is_read_by_the_full_stack(served, app):
    """The fast path runs on the event loop: it never waits for a world's lock."""
    with app.world._lock:
        import threading
        result = {}
        thread = threading.Thread(target=lambda: result.update(r=app.test_client().get(TASK, headers=auth())))
        thread.start()
        thread.join(0.5)
        assert thread.is_alive() and not served  # fell through; the full stack waits its turn
    thread.join(10)
    assert result["r"].status_code == 200
