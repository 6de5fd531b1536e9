"""Control-plane safety (admin token, loopback only) and sessions (isolation, LRU bound, names) over HTTP (B12)."""
from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from sandbox.app import create_app
from sandbox.http.context import is_local
from tests.conftest import BASE, auth

ROOT = Path(__file__).resolve().parents[2]
TOKEN_HEADER = "X-Sandbox-Admin-Token"
TASK = f"{BASE}/task/task_abcdef123456"
CONTROL_CALLS = [("GET", "/_sandbox/session", None), ("GET", "/_sandbox/sessions", None),
                 ("GET", "/_sandbox/journal", None), ("POST", "/_sandbox/clock", {"freeze": True})]


def sess(name: str | None) -> dict:
    return {"X-Sandbox-Session": name} if name else {}


def task(client, task_id: str, session: str | None = None) -> dict:
    response = client.get(f"{BASE}/task/{task_id}", headers={**auth(), **sess(session)})
    assert response.status_code == 200, response.text
    return response.json()["payload"]


@pytest.fixture
def guarded(clock):
    with create_app(clock=clock, admin_token="s3cret").test_client() as client:
        yield client


@pytest.mark.parametrize("method, path, body", CONTROL_CALLS)
@pytest.mark.parametrize("headers, status", [
    ({}, 403),
    ({TOKEN_HEADER: "wrong"}, 403),
    ({TOKEN_HEADER: "s3cret "}, 403),
    ({TOKEN_HEADER: "S3CRET"}, 403),
    ({TOKEN_HEADER: "s3cret"}, 200),
], ids=["missing", "wrong", "trailing-space", "case", "right"])
def test_admin_token_guards_every_control_call(guarded, method, path, body, headers, status):
    # the admin acts on every team's sessions, so it names one as NAME@TEAM
    response = guarded.request(method, path, json=body, headers={**headers, "X-Sandbox-Session": "ci@team_123456"})
    assert response.status_code == status, response.text
    if status == 403:
        assert response.headers["content-type"] == "application/json"
        assert response.json()["code"] == "control_plane_forbidden"


@pytest.mark.parametrize("headers", [{}, {TOKEN_HEADER: "wrong"}, {TOKEN_HEADER: "s3cret"}])
def test_public_api_is_unaffected_by_the_admin_token(guarded, headers):
    assert guarded.get(TASK, headers={**auth(), **headers}).status_code == 200
    assert guarded.get(TASK, headers=headers).status_code == 401  # the public API's own auth still applies


def test_admin_token_opens_the_control_plane_to_a_remote_client(clock):
    with create_app(clock=clock, admin_token="s3cret").test_client(client=("10.1.2.3", 5000)) as remote:
        assert remote.get("/_sandbox/session").status_code == 403
        assert remote.get("/_sandbox/session", headers={
            TOKEN_HEADER: "s3cret", "X-Sandbox-Session": "default@team_123456"}).status_code == 200


@pytest.mark.parametrize("host, local", [
    # a server always sees an address; a name (even "localhost", or a forged header value) is not one
    ("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("localhost", False), ("unknown", False),
    ("10.1.2.3", False), ("192.168.0.1", False), ("0.0.0.0", False), ("8.8.8.8", False),
    ("2001:db8::1", False), ("::", False),
])
def test_is_local(host, local):
    assert is_local(host) is local


@pytest.mark.parametrize("address, status", [(("10.1.2.3", 5000), 403), (("192.168.0.1", 5000), 403),
                                             (("127.0.0.1", 5000), 200), (("::1", 5000), 200)])
def test_without_a_token_the_control_plane_answers_only_loopback(app, address, status):
    with app.test_client(client=address) as client:
        response = client.get("/_sandbox/session")
        assert response.status_code == status, response.text
        if status == 403:
            assert response.json()["code"] == "control_plane_forbidden"
            assert "--admin-token" in response.json()["error"]
        assert client.get(TASK, headers=auth()).status_code == 200  # the public API answers anyone


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_on_all_interfaces_without_a_token_refuses_to_start():
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "sandbox", "serve", "--host", "0.0.0.0", "--port", str(port)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:
            try:  # it started serving instead of refusing: no need to wait for the deadline
                httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=1)
                pytest.fail("serve --host 0.0.0.0 started without --admin-token")
            except httpx.TransportError:
                time.sleep(0.1)
        assert proc.poll() is not None, "serve neither refused nor answered within 30 s"
        assert proc.returncode != 0
        assert "--admin-token" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(10)


# Each session's own actions; both act on the same tasks, so a leak shows as a wrong status.
PLANS = {
    "alpha": [("discard", "task_abcdef123456"), ("approve", "task_email000body"), ("discard", "task_invalid000002")],
    "beta": [("approve", "task_abcdef123456"), ("complete", "task_email000body"), ("discard", "task_invalid000001")],
}
EXPECTED = {  # task -> (status, approved) per session
    "alpha": {"task_abcdef123456": ("DISCARDED", False), "task_email000body": ("REVIEWING", True),
              "task_invalid000001": ("REVIEWING", False), "task_invalid000002": ("DISCARDED", False)},
    "beta": {"task_abcdef123456": ("REVIEWING", True), "task_email000body": ("PROCESSING", False),
             "task_invalid000001": ("DISCARDED", False), "task_invalid000002": ("REVIEWING", False)},
    None: {"task_abcdef123456": ("REVIEWING", False), "task_email000body": ("REVIEWING", False),
           "task_invalid000001": ("REVIEWING", False), "task_invalid000002": ("REVIEWING", False)},
}


def test_sessions_stay_isolated_under_concurrent_traffic(live):
    barrier = threading.Barrier(len(PLANS))
    statuses: dict[str, list[int]] = {}

    def worker(name: str) -> None:
        seen = statuses.setdefault(name, [])
        with httpx.Client(base_url=live.url, headers={**auth(), **sess(name)}, timeout=30) as http:
            barrier.wait()
            for i in range(20):  # an action every few requests, reads in between
                if i % 6 == 0 and PLANS[name][i // 6:]:
                    action, task_id = PLANS[name][i // 6]
                    seen.append(http.post(f"{BASE}/task/{task_id}/{action}").status_code)
                else:
                    seen.append(http.get(f"{BASE}/task", params={"limit": 100}).status_code)

    threads = [threading.Thread(target=worker, args=(name,)) for name in PLANS]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert statuses == {name: [200] * 20 for name in PLANS}
    with httpx.Client(base_url=live.url, timeout=30) as http:
        for name, expected in EXPECTED.items():
            shown = {t: (p["status"], p["approved"]) for t in expected for p in [task(http, t, name)]}
            assert shown == expected, name
            own = [(e["operation"], e["task_id"]) for e in settled_journal(http, name, (20 if name else 0) + 4)
                   if e["method"] == "POST"]
            assert own == [(f"{a}Task", t) for a, t in PLANS.get(name, [])]


def settled_journal(http, name: str | None, count: int) -> list[dict]:
    """Entries land just after the answer (see test_journal's lag test): wait for them briefly."""
    deadline = time.monotonic() + 5
    while True:
        entries = http.get("/_sandbox/journal", headers=sess(name)).json()["payload"]
        if len(entries) >= count or time.monotonic() > deadline:
            assert len(entries) == count, entries
            return entries
        time.sleep(0.02)


def touch(client, name: str) -> None:
    assert client.get("/_sandbox/session", headers=sess(name)).status_code == 200


@pytest.mark.parametrize("touched, alive", [
    ("abcd", ["default", "b", "c", "d"]),
    ("abcad", ["default", "c", "a", "d"]),
])
def test_sessions_are_bounded_least_recently_used_first(clock, touched, alive):
    with create_app(clock=clock, max_sessions=3).test_client() as client:
        for name in touched:
            touch(client, name)
        listed = client.get("/_sandbox/sessions").json()
        assert listed == {"payload": alive, "max_sessions": 3}


def test_a_reused_evicted_session_starts_fresh_from_the_fixtures(clock):
    with create_app(clock=clock, max_sessions=3).test_client() as client:
        h = {**auth(), **sess("a")}
        assert client.post(f"{TASK}/discard", headers=h).status_code == 200
        assert client.post("/_sandbox/faults", json={"operation": "listTasks", "status": 503},
                           headers=sess("a")).status_code == 201
        for name in "bcd":
            touch(client, name)
        assert "a" not in client.get("/_sandbox/sessions").json()["payload"]
        assert task(client, "task_abcdef123456", "a")["status"] == "REVIEWING"
        view = client.get("/_sandbox/session", headers=sess("a")).json()["payload"]
        assert (view["faults"], view["journal_entries"]) == (0, 1)  # only the GET just made
        assert client.get(f"{BASE}/task", headers=h).status_code == 200


@pytest.mark.parametrize("name", ["bad name!", "-leading-dash", "x" * 65, ".dot", "a/b"])
@pytest.mark.parametrize("method, path, body", [
    ("GET", TASK, None),
    ("POST", f"{TASK}/discard", None),
    ("GET", "/_sandbox/session", None),
    ("POST", "/_sandbox/faults", {"operation": "getTask", "status": 503}),
], ids=["public-get", "public-post", "control-get", "control-post"])
def test_an_invalid_session_name_is_refused(client, name, method, path, body):
    response = client.request(method, path, json=body, headers={**auth(), "X-Sandbox-Session": name})
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "invalid_session"
    assert client.get("/_sandbox/sessions").json()["payload"] == ["default"]
    assert task(client, "task_abcdef123456")["status"] == "REVIEWING"


@pytest.mark.parametrize("name", ["a", "ci-run_1.2:x", "A" * 64])
def test_valid_session_names_are_accepted_everywhere(client, name):
    assert task(client, "task_abcdef123456", name)["id"] == "task_abcdef123456"
    assert client.get("/_sandbox/session", headers=sess(name)).json()["payload"]["name"] == name
