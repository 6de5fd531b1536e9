"""Sessions, reset, scenarios, fixtures over HTTP, the clock and forced states (B12, B13)."""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

import sandbox.tools.contract_checks  # noqa: F401  registers state_refusals_are_named
from sandbox.tools import verify
from sandbox.app import create_app
from tests.conftest import BASE, FULL_KEY, auth

TASK = f"{BASE}/task/task_abcdef123456"
UPLOAD = f"{BASE}/upload/upl_123456789"


def session(name: str) -> dict:
    return {"X-Sandbox-Session": name}


def get_task(client, name="default", path=TASK) -> dict:
    response = client.get(path, headers={**auth(), **session(name)})
    assert response.status_code == 200, response.text
    return response.json()["payload"]


def everything(client, name: str) -> list:
    """All the tasks and uploads a session shows through the public API."""
    tasks = client.get(f"{BASE}/task", headers={**auth(), **session(name)}, params={"limit": 100}).json()
    uploads = sorted({t["upload_id"] for t in tasks["payload"]})
    return [tasks] + [client.get(f"{BASE}/upload/{u}", headers={**auth(), **session(name)}).json() for u in uploads]


def test_a_new_session_starts_from_the_fixtures_and_stays_apart(client):
    pristine = everything(client, "a")
    assert client.post(f"{TASK}/complete", headers={**auth(), **session("a")}).status_code == 200
    assert get_task(client, "a")["status"] == "PROCESSING"
    assert get_task(client, "b")["status"] == "REVIEWING"
    assert get_task(client)["status"] == "REVIEWING"
    assert everything(client, "c") == pristine


def test_a_deleted_session_is_gone_and_its_name_starts_afresh(client):
    assert client.post(f"{TASK}/complete", headers={**auth(), **session("gone")}).status_code == 200
    assert client.delete("/_sandbox/session", headers={**session("gone"), "X-Sandbox-Client": "tests"}).status_code == 204
    assert "gone" not in client.get("/_sandbox/sessions").json()["payload"]
    assert get_task(client, "gone")["status"] == "REVIEWING"  # the name, used again, is a new session
    assert client.delete("/_sandbox/session", headers={**session("never-used"), "X-Sandbox-Client": "tests"}).status_code == 204  # idempotent


def test_the_default_session_cannot_be_deleted(client):
    response = client.delete("/_sandbox/session", headers={"X-Sandbox-Client": "tests"})
    assert response.status_code == 400 and response.json()["code"] == "invalid_session"
    assert "reset" in response.json()["error"]


def test_reset_restores_exactly_the_fixtures(client):
    before = everything(client, "r")
    headers = {**auth(), **session("r")}
    client.post(f"{TASK}/complete", headers=headers)
    client.post(f"{BASE}/task/task_email000body/discard", headers=headers)
    client.post(f"{BASE}/upload", headers=headers, files=[("file", ("x.pdf", b"%PDF", "application/pdf"))])
    client.post("/_sandbox/faults", headers=session("r"), json={"operation": "getTask", "status": 503})
    assert everything(client, "r") != before
    response = client.post("/_sandbox/reset", headers=session("r"), json={})
    assert response.status_code == 200
    assert response.json()["payload"]["faults"] == 0 and response.json()["payload"]["journal_entries"] == 0
    assert everything(client, "r") == before


def test_reset_to_a_scenario_and_back(client):
    names = [s["name"] for s in client.get("/_sandbox/scenarios").json()["payload"]]
    assert {"default", "empty", "busy-review"} <= set(names)
    assert client.post("/_sandbox/reset", headers=session("s"), json={"scenario": "empty"}).status_code == 200
    assert everything(client, "s")[0]["count"] == 0
    client.post("/_sandbox/reset", headers=session("s"), json={"scenario": "busy-review"})
    assert get_task(client, "s", f"{BASE}/task/task_batch000003")["status"] == "REVIEWING"
    client.post("/_sandbox/reset", headers=session("s"), json={})
    missing = client.get(f"{BASE}/task/task_batch000003", headers={**auth(), **session("s")})
    assert missing.status_code == 404


def test_unknown_scenario_is_404_and_changes_nothing(client):
    client.post(f"{TASK}/complete", headers={**auth(), **session("u")})
    response = client.post("/_sandbox/reset", headers=session("u"), json={"scenario": "nope"})
    assert (response.status_code, response.json()["code"]) == (404, "scenario_not_found")
    assert get_task(client, "u")["status"] == "PROCESSING"


NEW_TASK = {"id": "task_loaded000001", "name": "Loaded", "created_at": "2024-03-01T00:00:00Z",
            "status": "REVIEWING", "upload_id": "upl_123456789"}


def test_fixtures_loaded_over_http_join_the_session(client):
    body = {"uploads": [{"id": "upl_loaded0001", "project_id": "proj_123456", "name": "Loaded",
                         "created_at": "2024-03-01T00:00:00Z"}],
            "tasks": [NEW_TASK, {**NEW_TASK, "id": "task_loaded000002", "upload_id": "upl_loaded0001"}]}
    response = client.post("/_sandbox/fixtures", headers=session("f"), json=body)
    assert response.status_code == 201, response.text
    assert response.json()["payload"]["tasks"] == 2 and response.json()["payload"]["uploads"] == 1
    assert get_task(client, "f", f"{BASE}/task/task_loaded000001")["upload_id"] == "upl_123456789"
    assert client.get(f"{BASE}/task/task_loaded000001", headers=auth()).status_code == 404  # default untouched


@pytest.mark.parametrize("body,location", [
    ({"tasks": [{**NEW_TASK, "status": "DONE"}]}, "body.tasks[0].status"),
    ({"tasks": [{**NEW_TASK, "pages": [{"id": "p", "width": -1}]}]}, "body.tasks[0].pages[0].width"),
    ({"tasks": [{**NEW_TASK, "upload_id": "upl_nope"}]}, "body.tasks[0].upload_id"),
    ({"tasks": [{**NEW_TASK, "id": "task_abcdef123456"}]}, "body.tasks[0].id"),
    ({"keys": [{"key": "k", "team_id": "team_123456", "scopes": ["task.fly"]}]}, "body.keys[0].scopes[0]"),
    ({"task": []}, "body"),
])
def test_bad_fixture_records_are_refused_whole(client, body, location):
    good = {**NEW_TASK, "id": "task_good00000001"}
    body = {**body, "tasks": body.get("tasks", []) + [good]}
    response = client.post("/_sandbox/fixtures", headers=session("bad"), json=body)
    assert (response.status_code, response.json()["code"]) == (400, "invalid_fixture")
    assert location in [d["location"] for d in response.json()["details"]], response.json()
    assert client.get(f"{BASE}/task/{good['id']}", headers={**auth(), **session("bad")}).status_code == 404


def test_a_key_loaded_over_http_works_in_its_session_only(client):
    key = {"key": "key_loaded", "team_id": "team_123456", "projects": ["proj_123456"], "scopes": ["task.read"]}
    assert client.post("/_sandbox/fixtures", headers=session("k"), json={"keys": [key]}).status_code == 201
    assert client.get(TASK, headers={**auth("key_loaded"), **session("k")}).status_code == 200
    assert client.get(TASK, headers=auth("key_loaded")).status_code == 401


def test_clock_freeze_set_and_advance_drive_the_pipeline(client):
    headers = session("t")
    later = "2030-01-01T12:00:00Z"  # a new session's clock follows real time: only forward from there
    frozen = client.post("/_sandbox/clock", headers=headers, json={"freeze": True, "now": later})
    assert (frozen.json()["payload"]["now"], frozen.json()["payload"]["frozen"]) == (later, True)
    client.post(f"{TASK}/complete", headers={**auth(), **headers})
    assert client.post("/_sandbox/clock", headers=headers, json={"advance_seconds": 29}).status_code == 200
    assert get_task(client, "t")["status"] == "PROCESSING"
    client.post("/_sandbox/clock", headers=headers, json={"advance_seconds": 1})
    assert get_task(client, "t")["status"] == "COMPLETED"
    assert client.get("/_sandbox/clock", headers=headers).json()["payload"]["now"] == "2030-01-01T12:00:30Z"


@pytest.mark.parametrize("body", [{"now": "2000-01-01T00:00:00Z"}, {"advance_seconds": -1}, {},
                                  {"freeze": "yes"}, {"tick": 1}])
def test_clock_refuses_bad_moves(client, body):
    response = client.post("/_sandbox/clock", headers=session("t"), json=body)
    assert response.status_code == 400, response.text


@pytest.mark.parametrize("status", ["FAILED", "FILTERED", "COMPLETED", "DISCARDED", "PROCESSING", "REVIEWING"])
def test_forcing_a_status(client, status):
    response = client.put("/_sandbox/tasks/task_abcdef123456/status", headers=session("x"), json={"status": status})
    assert response.status_code == 200 and response.json()["payload"]["status"] == status
    assert get_task(client, "x")["status"] == status
    upload = client.get(UPLOAD, headers={**auth(), **session("x")}).json()["payload"]["status"]
    assert upload == {"PROCESSING": "PROCESSING", "REVIEWING": "IN_REVIEW"}.get(status, "COMPLETED")


def test_forcing_keeps_the_upload_consistent(client):
    # task_filtered0001's upload is fully processed; a REVIEWING task there makes it unlockable again
    headers = session("y")
    client.put("/_sandbox/tasks/task_exported0001/status", headers=headers, json={"status": "COMPLETED"})
    client.put("/_sandbox/tasks/task_failed000001/status", headers=headers, json={"status": "REVIEWING"})
    assert client.get(f"{BASE}/upload/upl_archived01", headers={**auth(), **headers}).json()["payload"]["status"] == "IN_REVIEW"
    unlock = client.post(f"{BASE}/task/task_filtered0001/unlock", headers={**auth(), **headers})
    assert unlock.status_code == 200, unlock.text


def test_a_forced_processing_task_settles(client):
    headers = session("z")
    client.post("/_sandbox/clock", headers=headers, json={"freeze": True})
    client.put("/_sandbox/tasks/task_email000att2/status", headers=headers, json={"status": "PROCESSING"})
    client.post("/_sandbox/clock", headers=headers, json={"advance_seconds": 30})
    assert get_task(client, "z", f"{BASE}/task/task_email000att2")["status"] == "REVIEWING"


@pytest.mark.parametrize("path,body,status", [
    ("/_sandbox/tasks/task_nope/status", {"status": "FAILED"}, 404),
    ("/_sandbox/tasks/task_abcdef123456/status", {"status": "DONE"}, 400),
    ("/_sandbox/tasks/task_abcdef123456/status", {}, 400),
])
def test_forcing_refuses_bad_requests(client, path, body, status):
    response = client.put(path, headers=session("w"), json=body)
    assert response.status_code == status and response.json()["code"]


def test_sessions_never_change_the_shared_seed():
    first = create_app()
    with first.test_client() as client:
        for name in ("default", "p"):
            headers = {**auth(), **session(name)}
            client.post(f"{TASK}/complete", headers=headers)
            client.post(f"{BASE}/task/task_email000att2/unlock", headers=headers)
            client.post(f"{BASE}/task/task_email000att2/approve", headers=headers)
            client.post(f"{TASK}/report", headers=headers, json={"issues": [{"label": "a", "value": "b"}]})
    with create_app().test_client() as fresh:
        assert get_task(fresh)["status"] == "REVIEWING"
        assert get_task(fresh, path=f"{BASE}/task/task_email000att2")["status"] == "COMPLETED"
    assert first.world.records.tasks.get("task_abcdef123456").reports  # the session kept its own


@pytest.fixture
def api_schema():
    config = schemathesis.Config.from_path(verify.CONFIG)
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(), config=config)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_contract_holds_in_a_named_session(case):
    case.call_and_validate(headers={"Authorization": f"Bearer {FULL_KEY}", "X-Sandbox-Session": "fuzz"})
