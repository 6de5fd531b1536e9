"""The task lifecycle over HTTP (B5, B10): every action on every status, guards, timestamps."""
from __future__ import annotations

import pytest

from sandbox.domain.model import TASK_STATUSES
from tests.conftest import BASE, NOW, auth

TASK = "task_abcdef123456"
REPORT = {"issues": [{"label": "Poor Document Quality", "value": "poor_quality"}],
          "message": "The document is blurry and text cannot be read clearly."}

# action -> {status before: (HTTP status, status after or refusal code)}
EXPECTED = {
    "complete": {s: (400, "task_not_reviewing") for s in TASK_STATUSES} | {"REVIEWING": (200, "PROCESSING")},
    "discard": {s: (400, "task_not_reviewing") for s in TASK_STATUSES} | {"REVIEWING": (200, "DISCARDED")},
    "unlock": {s: (400, "task_not_unlockable") for s in TASK_STATUSES}
    | {s: (200, "REVIEWING") for s in ("COMPLETED", "DISCARDED", "FILTERED")},
    "approve": {s: (200, s) for s in TASK_STATUSES} | {"PROCESSING": (400, "task_processing")},
    "disapprove": {s: (200, s) for s in TASK_STATUSES} | {"PROCESSING": (400, "task_processing")},
    "report": {s: (201, s) for s in TASK_STATUSES},
}
TABLE = [(action, before, *outcome) for action, rows in EXPECTED.items() for before, outcome in rows.items()]


def act(client, action, task=TASK, **kw):
    if action == "report":
        kw.setdefault("json", REPORT)
    headers = {**auth(), **kw.pop("headers", {})}
    return client.post(f"{BASE}/task/{task}/{action}", headers=headers, **kw)


def get(client, task=TASK):
    return client.get(f"{BASE}/task/{task}", headers=auth()).json()["payload"]


@pytest.mark.parametrize("action,before,http,after", TABLE, ids=[f"{a}-{b}" for a, b, *_ in TABLE])
def test_every_action_on_every_status(client, world, action, before, http, after):
    world.update("tasks", TASK, status=before)
    was = get(client)
    response = act(client, action)
    assert response.status_code == http, response.text
    if http >= 400:
        assert response.json()["code"] == after
        assert get(client) == was, "a refused action must change nothing"
    else:
        assert response.json()["payload"]["status"] == after
        assert get(client)["status"] == after


@pytest.mark.parametrize("action,task,code", [
    ("unlock", "task_exported0001", "task_exported"),        # exported_at is set
    ("unlock", "task_filtered0001", "upload_processed"),     # its upload is fully processed
    ("unlock", "task_failed000001", "task_not_unlockable"),  # FAILED is not unlockable
    ("approve", "task_email000att2", "task_already_approved"),
    ("disapprove", "task_email000att3", "task_already_disapproved"),
])
def test_guards_refuse_with_the_rule_name(client, action, task, code):
    was = get(client, task)
    response = act(client, action, task)
    assert (response.status_code, response.json()["code"]) == (400, code)
    assert task in response.json()["error"]
    assert get(client, task) == was


def test_unlock_inside_the_window(client):
    # COMPLETED, not exported, upload not fully processed (B5)
    response = act(client, "unlock", "task_email000att2")
    assert response.status_code == 200
    assert response.json()["payload"]["status"] == "REVIEWING"


def test_complete_answers_like_the_upstream_example(client):
    response = act(client, "complete", headers={"Content-Type": "application/json"})
    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["payload", "message"]
    assert body["message"] == "Task processing started"
    assert body["payload"]["status"] == "PROCESSING"


@pytest.mark.parametrize("first,second", [("approve", "disapprove"), ("disapprove", "approve")])
def test_approval_can_be_reversed(client, first, second):
    assert act(client, first).status_code == 200
    response = act(client, second)
    assert response.status_code == 200
    assert response.json()["payload"]["approved"] is (second == "approve")
    assert act(client, second).json()["code"] == f"task_already_{second}d"


def test_a_fresh_task_can_be_disapproved(client):
    response = act(client, "disapprove")
    assert response.status_code == 200
    assert response.json()["payload"]["approved"] is False


@pytest.mark.parametrize("action", ["complete", "discard", "approve", "disapprove"])
def test_actions_set_last_opened_at_to_now(client, action):
    assert get(client)["last_opened_at"] != NOW
    assert act(client, action).json()["payload"]["last_opened_at"] == NOW
    assert get(client)["last_opened_at"] == NOW


def test_unlock_sets_last_opened_at(client):
    assert act(client, "unlock", "task_email000att2").json()["payload"]["last_opened_at"] == NOW


def test_get_does_not_touch_last_opened_at(client, clock):
    before = get(client)["last_opened_at"]
    clock.advance(3600)
    assert get(client)["last_opened_at"] == before


def test_report_is_stored_and_leaves_the_task_unchanged(client, world):
    was = get(client)
    response = act(client, "report")
    assert response.status_code == 201
    assert response.json() == {"payload": was}
    stored = world.records.tasks[TASK].reports
    assert [(list(r.issues), r.message, r.created_at) for r in stored] == [
        (REPORT["issues"], REPORT["message"], NOW)]


def test_report_message_is_optional(client, world):
    response = act(client, "report", json={"issues": [{"label": "Wrong type", "value": "wrong_type"}]})
    assert response.status_code == 201
    assert world.records.tasks[TASK].reports[0].message is None


def test_a_failed_report_stores_nothing(client, world):
    response = act(client, "report", json={"issues": [{"label": "x"}]})
    assert response.status_code == 400
    assert world.records.tasks[TASK].reports == ()
