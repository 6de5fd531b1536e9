"""GET /_sandbox/timeline: each change of a task or upload noted once with its from, to and cause
(an API call, the clock, a forced status, a control action), on every store; its ring's bound,
what notes nothing, reset, filters and their 400s, and a team's own sessions only."""
from __future__ import annotations

import pytest

from sandbox.app import create_app
from sandbox.domain import timeline
from tests.conftest import BASE, auth

TASK, UPLOAD = "task_abcdef123456", "upl_123456789"
PROCESSING_TASK, EMAIL = "task_email000att1", "upl_email0001"
TIMELINE = "/_sandbox/timeline"


def entries(client, session: str, **query) -> list[dict]:
    answer = client.get(TIMELINE, params=query, headers={"X-Sandbox-Session": session})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["count"] == len(body["payload"]) and body["slots"] == timeline.SLOTS
    return body["payload"]


def h(session: str) -> dict:
    return {**auth(), "X-Sandbox-Session": session}


def complete(client, session: str) -> None:
    assert client.post(f"{BASE}/task/{TASK}/complete", headers=h(session)).status_code == 200


def advance(client, session: str, seconds: float = 30) -> None:
    assert client.post("/_sandbox/clock", json={"advance_seconds": seconds},
                       headers={"X-Sandbox-Session": session}).status_code == 200


def force(client, session: str, status: str, task: str = TASK) -> None:
    assert client.put(f"/_sandbox/tasks/{task}/status", json={"status": status},
                      headers={"X-Sandbox-Session": session}).status_code == 200


# name: (what is done before, the change, the entry's filter, the entry expected: a subset)
CAUSES = {
    "an API call": (None, complete, {"task_id": TASK}, {
        "kind": "task", "task_id": TASK, "upload_id": UPLOAD, "at": "2025-03-01T12:00:00Z",
        "from": {"status": "REVIEWING", "step_type": "EXTRACT"}, "to": {"status": "PROCESSING", "step_type": "EXTRACT"},
        "cause": {"by": "api", "operation": "completeTask"}}),
    "an API call, on the upload": (None, complete, {"kind": "upload"}, {
        "kind": "upload", "upload_id": UPLOAD, "from": {"status": "IN_REVIEW", "folder_id": "folder_123456"},
        "to": {"status": "PROCESSING", "folder_id": "folder_123456"}, "cause": {"by": "api", "operation": "completeTask"}}),
    "a clock step over a PROCESSING task": (complete, advance, {"task_id": TASK, "limit": 1}, {
        "kind": "task", "task_id": TASK, "at": "2025-03-01T12:00:30Z",  # when it fell due
        "from": {"status": "PROCESSING", "step_type": "EXTRACT"}, "to": {"status": "COMPLETED", "step_type": "EXTRACT"},
        "cause": {"by": "clock"}}),
    "a forced status": (None, lambda c, s: force(c, s, "FAILED"), {"task_id": TASK}, {
        "kind": "task", "from": {"status": "REVIEWING", "step_type": "EXTRACT"},
        "to": {"status": "FAILED", "step_type": "EXTRACT"}, "cause": {"by": "forced"}}),
    "a control action": (None, lambda c, s: advance(c, s, 5), {"kind": "control"}, {
        "kind": "control", "operation": "setClock", "at": "2025-03-01T12:00:05Z",
        "details": {"now": "2025-03-01T12:00:05Z", "frozen": True, "advanced_seconds": 5},
        "cause": {"by": "control", "operation": "setClock"}}),
}


@pytest.mark.parametrize("before, change, query, expected", CAUSES.values(), ids=CAUSES.keys())
def test_each_cause_is_noted_once_with_from_to_and_cause(client, before, change, query, expected):
    session = "default"  # its clock is the test's, frozen at 12:00
    if before is not None:
        before(client, session)
    seen = {e["seq"] for e in entries(client, session)}
    change(client, session)
    found = [e for e in entries(client, session, **query) if e["seq"] not in seen]
    assert len(found) == 1, found
    assert {k: found[0].get(k) for k in expected} == expected


def test_a_task_settled_by_the_clock_also_settles_its_upload_by_the_clock(client):
    force(client, "default", "REVIEWING", PROCESSING_TASK)  # its upload was PROCESSING: it is IN_REVIEW
    force(client, "default", "PROCESSING", PROCESSING_TASK)
    advance(client, "default", 60)
    newest = entries(client, "default", upload_id=EMAIL)
    assert [(e["kind"], e["cause"]["by"], e["to"]["status"]) for e in newest] == [
        ("upload", "clock", "IN_REVIEW"), ("task", "clock", "REVIEWING"),  # at 12:00:30, when it fell due
        ("upload", "forced", "PROCESSING"), ("task", "forced", "PROCESSING"),
        ("upload", "forced", "IN_REVIEW"), ("task", "forced", "REVIEWING")]
    assert [e["at"] for e in newest[:3]] == ["2025-03-01T12:00:30Z"] * 2 + ["2025-03-01T12:00:00Z"]


def test_an_upload_moved_by_hand_notes_its_folder(client):
    answer = client.post(f"{BASE}/upload/{UPLOAD}/move/folder_123459", headers=h("default"))
    assert answer.status_code == 200, answer.text
    [entry] = entries(client, "default", upload_id=UPLOAD)
    assert (entry["from"]["folder_id"], entry["to"]["folder_id"]) == ("folder_123456", "folder_123459")
    assert entry["cause"] == {"by": "api", "operation": "moveUpload"}


def test_an_upload_created_over_the_api_is_noted_with_its_tasks(client):
    answer = client.post(f"{BASE}/upload", headers=h("default"), files={"file": ("a.pdf", b"%PDF-1.4", "application/pdf")})
    assert answer.status_code in (200, 201), answer.text
    found = entries(client, "default")
    assert {e["kind"] for e in found} == {"task", "upload"}
    assert all(e["from"] is None and e["to"]["status"] == "PROCESSING" for e in found)
    assert all(e["cause"] == {"by": "api", "operation": "createUpload"} for e in found)


S = {"X-Sandbox-Session": "default", "X-Sandbox-Client": "curl"}
CONTROL_ACTIONS = {
    "addFault": ("POST", "/_sandbox/faults", {"operation": "getTask", "status": 503}, 201,
                 {"fault_id": "fault_1", "operation": "getTask", "status": 503}),
    "clearFaults": ("DELETE", "/_sandbox/faults", None, 204, {"removed": 1}),  # after one added (below)
    "clearJournal": ("DELETE", "/_sandbox/journal", None, 204, {}),
    "createSubscription": ("POST", "/_sandbox/subscriptions",
                           {"project_id": "proj_123456", "url": "http://127.0.0.1:9/hook"}, 201,
                           {"project_id": "proj_123456", "url": "http://127.0.0.1:9/hook"}),
    "triggerEvent": ("POST", "/_sandbox/events", {"upload_id": UPLOAD, "type": "upload.in_review"}, 201,
                     {"type": "upload.in_review", "upload_id": UPLOAD}),
    "loadFixtures": ("POST", "/_sandbox/fixtures", {"teams": [{"id": "team_new", "name": "New"}]}, 201,
                     {"added": {"teams": 1}}),
}


@pytest.mark.parametrize("operation", CONTROL_ACTIONS)
def test_a_control_action_notes_what_it_did(client, operation):
    method, path, body, status, details = CONTROL_ACTIONS[operation]
    if operation == "clearFaults":
        client.post("/_sandbox/faults", json={"operation": "getTask", "status": 503}, headers=S)
    answer = client.request(method, path, json=body, headers={"X-Sandbox-Session": "default", "X-Sandbox-Client": "t"})
    assert answer.status_code == status, answer.text
    [entry] = [e for e in entries(client, "default", kind="control") if e["operation"] == operation]
    assert entry["operation"] == operation and entry["cause"] == {"by": "control", "operation": operation}
    assert {k: entry["details"].get(k) for k in details} == details
    assert "secret" not in entry["details"]


@pytest.mark.parametrize("failing", [
    pytest.param(lambda c: c.post(f"{BASE}/task/task_exported0001/complete", headers=h("default")), id="a refused action"),
    pytest.param(lambda c: c.put("/_sandbox/tasks/task_nope/status", json={"status": "FAILED"},
                                 headers={"X-Sandbox-Session": "default"}), id="a forced status of no task"),
    pytest.param(lambda c: c.delete("/_sandbox/faults/fault_9", headers={"X-Sandbox-Session": "default"}),
                 id="a fault removed that is not there"),
    pytest.param(lambda c: c.post("/_sandbox/fixtures", json={"tasks": [{"id": "x"}]},
                                  headers={"X-Sandbox-Session": "default"}), id="bad fixtures"),
])
def test_a_failed_request_notes_nothing(client, failing):
    entries(client, "default")  # the session exists
    assert failing(client).status_code >= 400
    assert entries(client, "default") == []

@pytest.mark.parametrize("noop", [
    pytest.param(lambda c: c.delete("/_sandbox/faults", headers=S), id="no faults cleared"),
    pytest.param(lambda c: c.post("/_sandbox/clock", json={"freeze": True}, headers=S), id="a frozen clock frozen"),
    pytest.param(lambda c: c.post("/_sandbox/fixtures", json={}, headers=S), id="no fixtures loaded"),
])
def test_a_control_action_that_changes_nothing_notes_nothing(client, noop):
    """Else anyone with a key could push the session's real history out of its ring at will."""
    client.post("/_sandbox/clock", json={"freeze": True}, headers=S)
    before = entries(client, "default")
    for _ in range(3):
        assert noop(client).status_code < 300
    assert entries(client, "default") == before



def test_the_ring_keeps_the_newest_and_leaves_the_sessions_record_bound_alone(monkeypatch, store):
    monkeypatch.setattr(timeline, "SLOTS", 4)
    options = {} if store is None else {"store": store[0], "namespace": store[1]}
    # the task and its upload are the session's only own records (its status stays COMPLETED: no
    # event fires), within a bound of 2 however many entries the timeline holds
    with create_app(session_records=2, **options).test_client() as client:
        for n in range(10):
            force(client, "default", "DISCARDED" if n % 2 else "FAILED")
        found = client.get(TIMELINE, headers={"X-Sandbox-Session": "default"}).json()["payload"]
    assert [e["seq"] for e in found] == [11, 10, 9, 8]  # 10 changes of the task, 1 of its upload
    assert [e["to"]["status"] for e in found] == ["DISCARDED", "FAILED", "DISCARDED", "FAILED"]


def test_a_reset_empties_it_and_notes_itself(client):
    complete(client, "default")
    assert len(entries(client, "default")) == 2
    assert client.post("/_sandbox/reset", json={}, headers={"X-Sandbox-Session": "default"}).status_code == 200
    [entry] = entries(client, "default")
    assert (entry["seq"], entry["operation"], entry["details"]) == (1, "resetSession", {"scenario": "default"})


def test_filters_by_task_upload_and_kind_and_a_limit(client):
    complete(client, "default")
    force(client, "default", "FAILED", "task_email000body")
    advance(client, "default", 1)
    everything = entries(client, "default")
    assert [e["kind"] for e in everything] == ["control", "task", "upload", "task"]
    assert [e["task_id"] for e in entries(client, "default", task_id=TASK)] == [TASK]
    assert {e.get("task_id") for e in entries(client, "default", upload_id=UPLOAD)} == {TASK, None}
    assert [e["operation"] for e in entries(client, "default", kind="control")] == ["setClock"]
    assert entries(client, "default", limit=2) == everything[:2]
    assert entries(client, "default", task_id="task_nope") == []


@pytest.mark.parametrize("query, location", [
    ("kind=tasks", "query.kind"), ("limit=0", "query.limit"), ("limit=501", "query.limit"), ("limit=x", "query.limit"),
])
def test_a_bad_filter_is_a_400_in_the_envelope(client, query, location):
    answer = client.get(f"{TIMELINE}?{query}")
    assert answer.status_code == 400
    body = answer.json()
    assert set(body) >= {"error", "code", "details"} and location in str(body["details"])


def test_a_team_sees_only_its_own_sessions_timeline(store):
    options = {} if store is None else {"store": store[0], "namespace": store[1]}
    app = create_app(admin_token="T0ken", allowed_hosts=["testserver"], **options)
    with app.test_client() as client:
        a = {**auth(), "X-Sandbox-Session": "ci-42"}
        b = {**auth("key_other_team"), "X-Sandbox-Session": "ci-42"}
        assert client.post(f"{BASE}/task/{TASK}/complete", headers=a).status_code == 200
        assert [e["task_id"] for e in client.get(TIMELINE, headers=a, params={"kind": "task"}).json()["payload"]] == [TASK]
        assert client.get(TIMELINE, headers=b).json()["payload"] == []
        assert client.get(TIMELINE, headers={"X-Sandbox-Session": "ci-42"}).status_code == 403
        admin = {"X-Sandbox-Admin-Token": "T0ken", "X-Sandbox-Session": "ci-42@team_123456"}
        assert len(client.get(TIMELINE, headers=admin).json()["payload"]) == 2
