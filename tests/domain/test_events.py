"""Which upload events fire, when, in what order and with what bodies (B8, B14), through HTTP on
a frozen clock; the same on both stores."""
from __future__ import annotations

import pytest
from openapi_schema_validator import OAS30Validator

from sandbox import spec
from sandbox.domain.clock import parse_timestamp
from tests.conftest import BASE, auth

EVENT = OAS30Validator({"$ref": "#/components/schemas/UploadEvent", "components": spec.load_public()["components"]})
EMAIL = "upl_email0001"  # body REVIEWING, att1 PROCESSING (settles in 30 s), att2 COMPLETED, att3 DISCARDED


def events(client, **query) -> list[dict]:
    answer = client.get("/_sandbox/events", params=query)
    assert answer.status_code == 200, answer.text
    found = answer.json()["payload"]
    for event in found:
        assert not list(EVENT.iter_errors(event["body"])), event["body"]
        assert event["body"]["id"] == event["id"]
    return found


def advance(client, seconds: float) -> None:
    assert client.post("/_sandbox/clock", json={"advance_seconds": seconds}).status_code == 200


def act(client, task_id: str, action: str, project: str = BASE) -> None:
    answer = client.post(f"{project}/task/{task_id}/{action}", headers=auth())
    assert answer.status_code == 200, answer.text


def story(client) -> list[tuple[str, str]]:
    """A multi-task upload goes to review, is completed and is exported."""
    advance(client, 30)                       # att1 settles: the upload needs review
    act(client, "task_email000body", "complete")
    act(client, "task_email000att1", "complete")
    advance(client, 30)                       # both complete: the upload is final
    advance(client, 300)                      # the export delay: fully processed
    return [(e["type"], e["body"]["upload"]["status"]) for e in events(client, upload_id=EMAIL)]


def test_multi_task_upload_fires_in_review_then_processed(client):
    assert events(client) == []  # nothing has happened yet
    assert story(client) == [("upload.in_review", "IN_REVIEW"), ("upload.processed", "COMPLETED")]
    processed = events(client, type="upload.processed", upload_id=EMAIL)[0]["body"]
    assert processed["event"] == "PROCESSED" and processed["event_level"] == "UPLOAD"
    assert (processed["team_id"], processed["project_id"], processed["task"]) == ("team_123456", "proj_123456", None)
    upload = client.get(f"{BASE}/upload/{EMAIL}", headers=auth()).json()["payload"]
    assert processed["upload"] == upload  # the upload as GET upload shows it


def test_one_jump_of_the_clock_fires_what_small_steps_fire(client):
    def run(steps: list[float]) -> list[tuple[str, float]]:
        client.post("/_sandbox/reset", json={})  # the clock keeps its time: times count from here
        start = parse_timestamp(client.get("/_sandbox/clock").json()["payload"]["now"])
        act(client, "task_email000body", "complete")
        for step in steps:
            advance(client, step)
        return [(e["type"], parse_timestamp(e["created_at"]) - start) for e in events(client, upload_id=EMAIL)]

    one_jump = run([1000])
    assert run([10] * 100) == one_jump == [("upload.in_review", 30)]  # att1 settles; it waits for review


def test_unlock_sends_the_upload_back_to_review_and_fires_again(client):
    advance(client, 30)
    act(client, "task_email000body", "complete")
    act(client, "task_email000att1", "complete")
    advance(client, 30)  # final, not exported yet: att2 may be unlocked
    act(client, "task_email000att2", "unlock")
    assert [e["type"] for e in events(client, upload_id=EMAIL)] == ["upload.in_review", "upload.in_review"]


def test_auto_process_uploads_skip_review(client):
    project = "/v2/team_123456/project/proj_345678"
    files = {"file": ("receipt.pdf", b"%PDF-1.4 receipt", "application/pdf")}
    answer = client.post(f"{project}/upload", headers=auth(), files=files)
    assert answer.status_code == 201, answer.text
    upload_id = answer.json()["id"]
    advance(client, 10)   # read, predicted and completed by itself
    advance(client, 10)   # processed: COMPLETED
    advance(client, 60)   # export
    found = events(client, upload_id=upload_id)
    if [e["type"] for e in found] == ["upload.in_review"]:
        pytest.fail("auto_process left the upload for review: the receipt failed validation")
    assert [e["type"] for e in found] == ["upload.processed"]


def test_nothing_fires_for_changes_that_keep_the_status(client):
    act(client, "task_abcdef123456", "approve")  # REVIEWING stays REVIEWING
    client.post(f"{BASE}/task/task_abcdef123456/report", headers=auth(),
                json={"message": "blurry", "issues": [{"label": "Poor Document Quality", "value": "poor_quality"}]})
    assert events(client) == []


def test_event_ids_repeat_after_a_reset_and_never_shift_task_ids(client):
    story(client)
    first = [e["id"] for e in events(client)]
    client.post("/_sandbox/reset", json={})
    story(client)
    assert [e["id"] for e in events(client)] == first
    assert all(i.startswith("evt_") for i in first)


@pytest.mark.parametrize("query, problem", [({"type": "upload.deleted"}, "query.type")])
def test_bad_event_filters_are_refused(client, query, problem):
    answer = client.get("/_sandbox/events", params=query)
    assert answer.status_code == 400 and answer.json()["details"][0]["location"] == problem
