"""getUpload (B8): the upload's status derived from its tasks, its fields, and 404s."""
from __future__ import annotations

import pytest

from tests.conftest import BASE, auth

UPLOAD_FIELDS = ["id", "name", "status", "files", "meta", "folder_id", "created_at"]


def get_upload(client, upload_id: str) -> dict:
    response = client.get(f"{BASE}/upload/{upload_id}", headers=auth())
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body) == ["payload"]
    return body["payload"]


def act(client, action: str, task_id: str) -> None:
    response = client.post(f"{BASE}/task/{task_id}/{action}", headers=auth())
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("upload_id, status", [
    pytest.param("upl_123456789", "IN_REVIEW", id="one-reviewing-task"),
    pytest.param("upl_email0001", "PROCESSING", id="processing-beats-reviewing"),
    pytest.param("upl_archived01", "COMPLETED", id="all-final-incl-failed-filtered"),
])
def test_status_is_derived_from_tasks(client, upload_id, status):
    assert get_upload(client, upload_id)["status"] == status


@pytest.mark.parametrize("steps, upload_id, status", [
    pytest.param([("discard", "task_abcdef123456")], "upl_123456789", "COMPLETED", id="discard-last-review"),
    pytest.param([("complete", "task_abcdef123456")], "upl_123456789", "PROCESSING", id="complete-starts-processing"),
    pytest.param([("approve", "task_abcdef123456")], "upl_123456789", "IN_REVIEW", id="approve-changes-nothing"),
    pytest.param([("discard", "task_abcdef123456"), ("unlock", "task_abcdef123456")],
                 "upl_123456789", "IN_REVIEW", id="unlock-back-to-review"),
    pytest.param([("discard", "task_email000body")], "upl_email0001", "PROCESSING", id="still-one-processing"),
    pytest.param([("unlock", "task_email000att2")], "upl_email0001", "PROCESSING", id="processing-wins"),
])
def test_status_follows_task_actions(client, steps, upload_id, status):
    for action, task_id in steps:
        act(client, action, task_id)
    assert get_upload(client, upload_id)["status"] == status


def test_status_does_not_leak_between_uploads(client):
    act(client, "discard", "task_abcdef123456")
    assert get_upload(client, "upl_123456789")["status"] == "COMPLETED"
    assert get_upload(client, "upl_email0001")["status"] == "PROCESSING"


@pytest.mark.parametrize("upload_id", ["upl_123456789", "upl_email0001", "upl_archived01"])
def test_fields_in_upstream_order(client, upload_id):
    payload = get_upload(client, upload_id)
    assert list(payload) == UPLOAD_FIELDS
    assert payload["id"] == upload_id


def test_upstream_example_upload(client):
    # The spec's getUpload example, field for field.
    assert get_upload(client, "upl_123456789") == {
        "id": "upl_123456789",
        "name": "Invoice-2023-001",
        "status": "IN_REVIEW",
        "files": {},
        "meta": [{"name": "reference", "value": "INV-2023-001"}],
        "folder_id": "folder_123456",
        "created_at": "2024-01-15T10:29:00Z",
    }


def test_upload_without_folder_or_meta(client):
    payload = get_upload(client, "upl_archived01")
    assert payload["folder_id"] == "folder_123457"  # filed by its status: final, so Processed (B15)
    assert payload["meta"] == []


def test_reading_an_upload_changes_nothing(client):
    before = client.get(f"{BASE}/task", headers=auth()).json()
    get_upload(client, "upl_123456789")
    assert client.get(f"{BASE}/task", headers=auth()).json() == before


@pytest.mark.parametrize("upload_id", [
    pytest.param("upl_doesnotexist", id="unknown"),
    pytest.param("upl_contract01", id="other-project"),
    pytest.param("upl_globex0001", id="other-team"),
    pytest.param("task_abcdef123456", id="a-task-id"),
])
def test_unknown_upload_is_404(client, upload_id):
    response = client.get(f"{BASE}/upload/{upload_id}", headers=auth())
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert {"error", "code"} <= set(body) <= {"error", "code", "details"}
    assert body["code"] == "upload_not_found"
    assert upload_id in body["error"]
