"""Fault rules and `Prefer: code=` over HTTP: contract-conforming injected errors, matching, seeds, latency (B2, B12)."""
from __future__ import annotations

import time

import pytest
from openapi_schema_validator import OAS30Validator

from sandbox import spec
from sandbox.app import create_app
from tests.conftest import BASE, auth

FAULTS = "/_sandbox/faults"
TASK = "task_abcdef123456"
OTHER = "task_email000body"
ERROR = OAS30Validator({"$ref": "#/components/schemas/Error", "components": spec.load_public()["components"]})
OPERATIONS = sorted(op["operationId"] for item in spec.load_public()["paths"].values()
                    for method, op in item.items() if isinstance(op, dict) and "operationId" in op)
# operation -> (method, path, real status of the first call on the seeded world)
CALLS = {
    "getTask": ("GET", f"{BASE}/task/{TASK}", 200),
    "listTasks": ("GET", f"{BASE}/task", 200),
    "completeTask": ("POST", f"{BASE}/task/{TASK}/complete", 200),
    "discardTask": ("POST", f"{BASE}/task/{TASK}/discard", 200),
    "approveTask": ("POST", f"{BASE}/task/{TASK}/approve", 200),
    "getUpload": ("GET", f"{BASE}/upload/upl_123456789", 200),
}


def call(client, operation: str, session: str | None = None, headers: dict | None = None):
    method, path, _ = CALLS[operation]
    extra = {"X-Sandbox-Session": session} if session else {}
    return client.request(method, path, headers={**auth(), **extra, **(headers or {})})


def add_fault(client, session: str | None = None, **rule) -> dict:
    headers = {"X-Sandbox-Session": session} if session else {}
    response = client.post(FAULTS, json=rule, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()["payload"]


def assert_injected(response, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    ERROR.validate(body)
    assert body["code"] == "injected_fault"
    if status == 401:
        assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("operation, status, times", [
    ("getTask", 503, 1),
    ("getTask", 401, 2),
    ("listTasks", 403, 3),
    ("completeTask", 400, 2),
    ("discardTask", 500, 1),
    ("approveTask", 404, 2),
    ("getUpload", 401, 1),
])
def test_rule_fires_exactly_times_then_the_real_answer_returns(client, operation, status, times):
    add_fault(client, operation=operation, status=status, times=times)
    for _ in range(times):
        assert_injected(call(client, operation), status)
    # An injected fault changed nothing: the action still succeeds on the untouched task.
    real = call(client, operation)
    assert real.status_code == CALLS[operation][2], real.text
    assert "payload" in real.json()
    assert client.get(FAULTS).json()["payload"] == []  # a spent rule is gone


def test_rule_without_times_fires_on_every_call_and_counts(client):
    rule = add_fault(client, operation="getTask", status=503)
    assert rule["times"] is None and rule["fired"] == 0
    for _ in range(4):
        assert_injected(call(client, "getTask"), 503)
    assert [r["fired"] for r in client.get(FAULTS).json()["payload"]] == [4]


def test_task_id_narrows_a_rule_to_one_task(client):
    add_fault(client, operation="getTask", task_id=OTHER, status=500)
    assert client.get(f"{BASE}/task/{TASK}", headers=auth()).status_code == 200
    assert_injected(client.get(f"{BASE}/task/{OTHER}", headers=auth()), 500)


def test_rule_on_one_operation_leaves_the_others_alone(client):
    add_fault(client, operation="completeTask", status=503)
    assert client.get(f"{BASE}/task/{TASK}", headers=auth()).status_code == 200
    assert client.post(f"{BASE}/task/{OTHER}/discard", headers=auth()).status_code == 200
    assert client.get(f"{BASE}/task", headers=auth()).status_code == 200
    assert_injected(client.post(f"{BASE}/task/{TASK}/complete", headers=auth()), 503)


@pytest.mark.parametrize("other", ["b", None], ids=["session-b", "default"])
def test_rules_are_per_session(client, other):
    add_fault(client, session="a", operation="getTask", status=503)
    assert call(client, "getTask", session=other).status_code == 200
    assert client.get(FAULTS, headers={"X-Sandbox-Session": other} if other else {}).json()["payload"] == []
    assert_injected(call(client, "getTask", session="a"), 503)


def fired_sequence(seed: int, calls: int = 40) -> list[bool]:
    with create_app().test_client() as client:
        add_fault(client, operation="getTask", status=503, probability=0.5, seed=seed)
        return [call(client, "getTask").status_code == 503 for _ in range(calls)]


def test_probability_with_a_seed_repeats_exactly_across_fresh_apps():
    first, second = fired_sequence(7), fired_sequence(7)
    assert first == second
    assert 0 < sum(first) < len(first)
    assert fired_sequence(8) != first  # the seed, not chance, decides


@pytest.mark.parametrize("status, expected", [(503, 503), (None, 200)], ids=["with-status", "latency-only"])
def test_latency_delays_the_answer(client, status, expected):
    rule = {"operation": "getTask", "latency_ms": 300, **({"status": status} if status else {})}
    add_fault(client, **rule)
    started = time.monotonic()
    response = call(client, "getTask")
    elapsed = time.monotonic() - started
    assert response.status_code == expected, response.text
    assert 0.25 <= elapsed < 10
    if status is None:
        assert response.json()["payload"]["id"] == TASK


@pytest.mark.parametrize("rule, location", [
    ({"operation": "getTask", "status": 409}, "body.status"),
    ({"operation": "getTask", "status": 413}, "body.status"),
    ({"operation": "listTasks", "status": 415}, "body.status"),
    ({"operation": "createUpload", "status": 405}, "body.status"),
    ({"operation": "completeTask", "status": 207}, "body.status"),
    ({"operation": "deleteTask", "status": 500}, "body.operation"),
    ({"operation": "gettask", "status": 500}, "body.operation"),
    ({"operation": "getTask"}, "body"),
    ({"operation": "getTask", "latency_ms": 0}, "body"),
    ({"operation": "getTask", "times": 3}, "body"),
])
def test_refused_rules(client, rule, location):
    response = client.post(FAULTS, json=rule)
    assert response.status_code == 400, response.text
    body = response.json()
    ERROR.validate(body)
    assert body["code"] == "invalid_fault"
    assert location in [d["location"] for d in body["details"]]
    assert client.get(FAULTS).json()["payload"] == []


@pytest.mark.parametrize("status", [500, 503])
@pytest.mark.parametrize("operation", OPERATIONS)
def test_500_and_503_are_accepted_for_every_operation(client, operation, status):
    rule = add_fault(client, operation=operation, status=status)
    assert (rule["operation"], rule["status"]) == (operation, status)


@pytest.mark.parametrize("operation, status", [("reportTask", 415), ("createUpload", 413), ("unlockTask", 400)])
def test_declared_error_statuses_are_accepted(client, operation, status):
    assert add_fault(client, operation=operation, status=status)["status"] == status


def test_list_remove_and_clear_rules(client):
    first = add_fault(client, operation="getTask", status=503)
    second = add_fault(client, operation="listTasks", latency_ms=10, times=2, probability=0.25, seed=3)
    listed = client.get(FAULTS).json()["payload"]
    assert listed == [first, second]
    assert second == {"id": second["id"], "operation": "listTasks", "task_id": None, "status": None,
                      "latency_ms": 10, "times": 2, "probability": 0.25, "seed": 3, "fired": 0}
    assert first["id"] != second["id"]

    assert client.delete(f"{FAULTS}/{first['id']}", headers={"X-Sandbox-Client": "tests"}).status_code == 204
    assert client.get(FAULTS).json()["payload"] == [second]
    assert call(client, "getTask").status_code == 200

    missing = client.delete(f"{FAULTS}/{first['id']}", headers={"X-Sandbox-Client": "tests"})
    assert missing.status_code == 404
    ERROR.validate(missing.json())
    assert missing.json()["code"] == "fault_not_found"

    add_fault(client, operation="getTask", status=500)
    assert client.delete(FAULTS, headers={"X-Sandbox-Client": "tests"}).status_code == 204
    assert client.get(FAULTS).json()["payload"] == []
    assert call(client, "getTask").status_code == 200


@pytest.mark.parametrize("prefer, status, code", [
    ("code=404", 404, "injected_fault"),
    ("code=401", 401, "injected_fault"),
    ("code=403", 403, "injected_fault"),
    ("return=minimal; code=400", 400, "injected_fault"),
    ("code=409", 400, "invalid_prefer"),
    ("code=500", 500, "injected_fault"),
    ("return=minimal", 200, None),
    ("respond-async, wait=5", 200, None),
])
def test_prefer_code_on_get_task(client, prefer, status, code):
    response = call(client, "getTask", headers={"Prefer": prefer})
    assert response.status_code == status, response.text
    if code is None:
        assert response.json()["payload"]["id"] == TASK
        return
    if code == "injected_fault":
        assert_injected(response, status)
    else:
        ERROR.validate(response.json())
        assert response.json()["code"] == code
        assert "header.Prefer" in [d["location"] for d in response.json()["details"]]
    assert call(client, "getTask").status_code == 200  # once: the next call is real


def test_prefer_on_an_action_changes_nothing(client):
    assert_injected(call(client, "completeTask", headers={"Prefer": "code=400"}), 400)
    assert client.get(f"{BASE}/task/{TASK}", headers=auth()).json()["payload"]["status"] == "REVIEWING"
    assert call(client, "completeTask").status_code == 200
