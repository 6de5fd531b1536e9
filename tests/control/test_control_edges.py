"""Edges of the control plane found in review: bounds, concurrency, and the paths around it."""
from __future__ import annotations

import asyncio

import http.client
import json
import threading
from urllib.parse import urlparse

import httpx
import pytest

from sandbox.app import create_app
from sandbox.http.server import ServerThread
from sandbox.http.validation import no_constants
from tests.conftest import BASE, auth

TASK = f"{BASE}/task/task_abcdef123456"


def session(name: str) -> dict:
    return {"X-Sandbox-Session": name}


@pytest.mark.parametrize("body", [{"advance_seconds": 1e12}, {"now": "9999-12-31T23:59:59Z", "advance_seconds": 1}])
def test_the_clock_refuses_to_leave_the_calendar_and_the_session_survives(client, body):
    response = client.post("/_sandbox/clock", headers=session("c"), json=body)
    assert (response.status_code, response.json()["code"]) == (400, "invalid_request")
    assert client.get("/_sandbox/session", headers=session("c")).status_code == 200
    assert client.post(f"{TASK}/approve", headers={**auth(), **session("c")}).status_code == 200


@pytest.mark.parametrize("path,body", [
    ("/_sandbox/clock", b'{"advance_seconds": NaN}'),
    ("/_sandbox/faults", b'{"operation": "getTask", "status": 503, "probability": NaN}'),
    (f"{TASK}/report", b'{"issues": [{"label": "a", "value": "b"}], "x": Infinity}'),
])
def test_nan_and_infinity_are_not_json(client, path, body):
    response = client.post(path, headers={**auth(), "Content-Type": "application/json"}, content=body)
    assert (response.status_code, response.json()["code"]) == (400, "invalid_json")
    journal = client.get("/_sandbox/journal")
    assert journal.status_code == 200
    json.loads(journal.text, parse_constant=no_constants)  # strict JSON, as browsers parse it


def test_concurrent_fixture_loads_lose_nothing(app):
    def load(i):
        tasks = [{"id": f"task_par{i:02d}{j:06d}", "name": "p", "created_at": "2024-03-01T00:00:00Z",
                  "status": "REVIEWING", "upload_id": "upl_123456789"} for j in range(50)]
        results.append(httpx.post(f"{server.url}/_sandbox/fixtures", json={"tasks": tasks}, timeout=60).status_code)

    results = []
    with ServerThread(app) as server:
        threads = [threading.Thread(target=load, args=(i,)) for i in range(8)]
        [t.start() for t in threads]
        [t.join(60) for t in threads]
        listed = httpx.get(f"{server.url}{BASE}/task", headers=auth(),
                           params={"upload_id": "upl_123456789", "limit": 1}).json()
    assert results == [201] * 8
    assert listed["count"] == 1 + 8 * 50


def test_the_same_ids_loaded_twice_at_once_are_added_once(app):
    body = {"tasks": [{"id": f"task_dup{j:06d}", "name": "d", "created_at": "2024-03-01T00:00:00Z",
                       "status": "REVIEWING", "upload_id": "upl_123456789"} for j in range(100)]}
    results = []
    with ServerThread(app) as server:
        threads = [threading.Thread(target=lambda: results.append(
            httpx.post(f"{server.url}/_sandbox/fixtures", json=body, timeout=60).status_code)) for _ in range(6)]
        [t.start() for t in threads]
        [t.join(60) for t in threads]
    assert sorted(results) == [201] + [400] * 5


def test_fixtures_are_validated_against_the_world_as_of_now(app, client, clock):
    # upl_export0001 is final: 60 s after start it is exported (fully processed)
    clock.advance(61)  # no request in between: nothing has applied that yet
    task = {"id": "task_late0000001", "name": "Late", "created_at": "2024-03-01T00:00:00Z",
            "status": "REVIEWING", "upload_id": "upl_export0001"}
    response = client.post("/_sandbox/fixtures", json={"tasks": [task]})
    assert response.status_code == 400 and "fully_processed" in response.text


def test_journal_keeps_bodies_as_bounded_text(app, client):
    client.post(f"{TASK}/report", headers=auth(), json={"issues": [{}] * 20_000})
    [entry] = asyncio.run(app.store.journal_query("default"))
    assert isinstance(entry["request"]["body"], str) and len(entry["request"]["body"]) <= 64 * 1024
    assert len(entry["problems"]) <= 51


@pytest.mark.parametrize("path", ["/_sandbox/clock", "/_sandbox/journal", "/_sandbox/session"])
def test_head_on_the_control_plane_is_405(client, path):
    response = client.head(path)
    assert response.status_code == 405 and "GET" in response.headers["allow"]


@pytest.mark.parametrize("path", ["//_sandbox/clock", "//v2/team_123456/project/proj_123456/task/task_abcdef123456",
                                  "/_sandbox//clock"])
def test_a_double_slash_names_nothing_even_before_the_admin_guard(path):
    with ServerThread(create_app(admin_token="t")) as server:
        target = urlparse(server.url)
        connection = http.client.HTTPConnection(target.hostname, target.port, timeout=10)
        connection.request("GET", path, headers={"Authorization": "Bearer YOUR_API_KEY"})
        answer = connection.getresponse()
        assert answer.status == 404, answer.read()


def test_forcing_a_step_the_project_lacks_is_refused(client):
    response = client.put("/_sandbox/tasks/task_invalid000001/status", json={"status": "REVIEWING",
                                                                              "step_type": "GROUP"})
    assert response.status_code == 400 and "body.step_type" in response.text


@pytest.mark.memory_only
def test_prefer_207_on_report_fails_the_tracker_for_real(app, client):
    response = client.post(f"{TASK}/report", headers={**auth(), "Prefer": "code=207"},
                           json={"issues": [{"label": "a", "value": "b"}]})
    assert response.status_code == 207 and response.json()["errors"][0]["system"] == "issue_tracker"
    assert app.world.records.tasks.get("task_abcdef123456").reports


def test_a_fault_on_a_task_of_an_operation_without_tasks_is_refused(client):
    response = client.post("/_sandbox/faults", json={"operation": "listTasks", "status": 500, "task_id": "task_x"})
    assert (response.status_code, response.json()["code"]) == (400, "invalid_fault")


def test_a_non_ascii_admin_token_can_match():
    token = "s\u20accret"
    with create_app(admin_token=token).test_client() as client:
        response = client.get("/_sandbox/clock", headers=[("X-Sandbox-Admin-Token", token.encode()),
                                                          ("X-Sandbox-Session", b"default@team_123456")])
        assert response.status_code == 200


@pytest.mark.parametrize("path", ["/_sandbox/faults", "/_sandbox/journal"])
def test_a_204_carries_no_body_and_no_content_length(live, path):
    # RFC 9110 8.6: a server must not send Content-Length in a 204.
    response = httpx.delete(f"{live.url}{path}", headers={"X-Sandbox-Client": "tests"})
    assert response.status_code == 204 and response.content == b""
    assert "content-length" not in response.headers
