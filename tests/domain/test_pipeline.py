"""Stories over time on a frozen clock (B6-B10): processing, steps, validation, export, 207."""
from __future__ import annotations

import pytest

from sandbox.app import create_app
from sandbox.domain.clock import Clock, format_timestamp, parse_timestamp
from sandbox.domain.model import freeze
from tests.conftest import NOW, TEAM, auth

PDF = ("file", ("contract.pdf", b"%PDF-1.7 sandbox", "application/pdf"))


def url(project: str, rest: str) -> str:
    return f"/v2/{TEAM}/project/{project}{rest}"


class Story:
    """A client's view of one project: each call through HTTP, each answer checked."""

    def __init__(self, client, clock, project: str):
        self.client, self.clock, self.project = client, clock, project

    def upload(self, *files) -> tuple[str, list[str]]:
        response = self.client.post(url(self.project, "/upload"), headers=auth(), files=list(files or [PDF]))
        assert response.status_code == 201, response.text
        upload_id = response.json()["id"]
        tasks = self.client.get(url(self.project, "/task"), headers=auth(), params={"upload_id": upload_id})
        return upload_id, [t["id"] for t in tasks.json()["payload"]]

    def task(self, task_id: str) -> dict:
        response = self.client.get(url(self.project, f"/task/{task_id}"), headers=auth())
        assert response.status_code == 200, response.text
        return response.json()["payload"]

    def upload_status(self, upload_id: str) -> str:
        return self.client.get(url(self.project, f"/upload/{upload_id}"), headers=auth()).json()["payload"]["status"]

    def act(self, task_id: str, action: str, **kw):
        return self.client.post(url(self.project, f"/task/{task_id}/{action}"), headers=auth(), **kw)

    def state(self, task_id: str) -> tuple[str, str]:
        task = self.task(task_id)
        return task["status"], task["step_type"]


@pytest.fixture
def story(client, clock):
    return lambda project: Story(client, clock, project)


def test_upload_to_export_through_two_steps(story):
    s = story("proj_234567")  # CLASSIFY then EXTRACT, processing 20 s, export 300 s, auto_predict
    upload, (task,) = s.upload()
    assert s.state(task) == ("PROCESSING", "CLASSIFY") and s.upload_status(upload) == "PROCESSING"
    s.clock.advance(19)
    assert s.state(task) == ("PROCESSING", "CLASSIFY")
    s.clock.advance(1)
    assert s.state(task) == ("REVIEWING", "CLASSIFY") and s.upload_status(upload) == "IN_REVIEW"

    assert s.act(task, "complete").json()["payload"]["status"] == "PROCESSING"
    s.clock.advance(20)
    assert s.state(task) == ("REVIEWING", "EXTRACT")
    # auto_predict filled the entity the extraction step requires (B6, B7)
    entities = [a["entity_id"] for p in s.task(task)["pages"] for a in p["annotations"]]
    assert "party_name" in entities

    assert s.act(task, "complete").status_code == 200
    s.clock.advance(20)
    assert s.state(task) == ("COMPLETED", "EXTRACT") and s.upload_status(upload) == "COMPLETED"
    final_at = s.clock.now()
    s.clock.advance(299)
    assert s.task(task)["exported_at"] is None
    s.clock.advance(1)
    assert s.task(task)["exported_at"] == format_timestamp(final_at + 300)
    refused = s.act(task, "unlock")
    assert (refused.status_code, refused.json()["code"]) == (400, "task_exported")


def test_unlock_inside_the_window_then_refused_after_export(story):
    s = story("proj_123456")  # processing 30 s, export 300 s
    upload, (task,) = s.upload()
    s.clock.advance(30)
    assert s.act(task, "complete").status_code == 200
    s.clock.advance(30)
    assert s.state(task)[0] == "COMPLETED"
    s.clock.advance(100)
    assert s.act(task, "unlock").json()["payload"]["status"] == "REVIEWING"
    assert s.upload_status(upload) == "IN_REVIEW"
    s.clock.advance(1000)  # the export waits for the upload to be final again
    assert s.task(task)["exported_at"] is None
    assert s.act(task, "complete").status_code == 200
    s.clock.advance(30 + 300)
    assert s.task(task)["exported_at"] is not None
    assert s.act(task, "unlock").json()["code"] == "task_exported"


def test_failing_export_connector_sets_export_failed_at(story):
    s = story("proj_456789")  # its upload is final from the start; export 60 s, connector failing
    assert s.act("task_export000001", "unlock").status_code == 200   # inside the window
    assert s.act("task_export000001", "complete").status_code == 200
    s.clock.advance(10 + 60)
    task = s.task("task_export000001")
    assert (task["status"], task["exported_at"]) == ("COMPLETED", None)
    assert task["export_failed_at"] == format_timestamp(parse_timestamp(NOW) + 70)
    refused = s.act("task_export000001", "unlock")
    assert (refused.status_code, refused.json()["code"]) == (400, "upload_processed")


@pytest.mark.parametrize("task,location,problem", [
    ("task_invalid000001", "entities.total_amount", "empty content"),
    ("task_invalid000002", "entities.total_amount", "missing"),
])
def test_validation_failure_and_its_fix(story, world, task, location, problem):
    s = story("proj_123456")
    before = s.task(task)
    refused = s.act(task, "complete")
    assert (refused.status_code, refused.json()["code"]) == (400, "validation_failed")
    [detail] = refused.json()["details"]
    assert detail["location"] == location and problem in detail["message"]
    assert s.task(task) == before, "a refused complete changes nothing (B7)"
    # The reviewer fills the total in the platform's UI (no public operation edits annotations).
    world.update("tasks", task, pages=freeze([{"id": "page_1", "width": 2480, "height": 3508, "checkboxes": [], "segments": [],
                     "signatures": [], "annotations": [{"id": "ann_1", "entity_id": "total_amount",
                                                        "confidence": 1.0, "content": "$99.00",
                                                        "top": 1.0, "left_of_line": 1.0}]}]))
    assert s.act(task, "complete").json()["payload"]["status"] == "PROCESSING"


def test_validation_applies_only_at_the_extraction_step(story):
    s = story("proj_234567")  # task_contract0001 is at CLASSIFY without party_name
    assert s.act("task_contract0001", "complete").status_code == 200


def test_auto_process_runs_the_whole_pipeline_alone(story):
    s = story("proj_345678")  # processing 10 s, export 60 s, requires total_amount
    upload, (task,) = s.upload(("file", ("receipt.jpg", b"\xff\xd8", "image/jpeg")))
    s.clock.advance(10)   # read, predicted, valid: completed on its own
    assert s.state(task) == ("PROCESSING", "EXTRACT")
    assert s.task(task)["last_opened_at"] is None, "no person opened it"
    s.clock.advance(10)
    assert s.state(task) == ("COMPLETED", "EXTRACT")
    s.clock.advance(60)
    assert s.task(task)["exported_at"] is not None


def test_auto_process_leaves_an_invalid_task_to_a_person(story):
    s = story("proj_345678")
    s.clock.advance(3600)
    assert s.state("task_receipt00001") == ("REVIEWING", "EXTRACT")


@pytest.mark.parametrize("outcome", ["FAILED", "FILTERED"])
def test_a_fixture_outcome_ends_processing(story, world, outcome):
    world.update("tasks", "task_abcdef123456", outcome=outcome)  # as `outcome:` in a fixture
    s = story("proj_123456")
    assert s.act("task_abcdef123456", "complete").status_code == 200
    s.clock.advance(30)
    assert s.state("task_abcdef123456") == (outcome, "EXTRACT")


def test_seeded_processing_task_settles(story):
    s = story("proj_123456")
    s.clock.advance(30)
    assert s.state("task_email000att1") == ("REVIEWING", "EXTRACT")


def test_report_with_a_failing_tracker_is_207_and_stored(story, world):
    s = story("proj_567890")
    before = s.task("task_claim0000001")
    body = {"issues": [{"label": "Unreadable", "value": "poor_quality"}]}
    response = s.act("task_claim0000001", "report", json=body)
    assert response.status_code == 207
    assert response.json()["payload"] == before
    assert [e["system"] for e in response.json()["errors"]] == ["issue_tracker"]
    assert [list(r.issues) for r in world.records.tasks["task_claim0000001"].reports] == [body["issues"]]


def run(steps: list[float]) -> list[dict]:
    """Upload two files to the auto_process project, then let time pass in `steps`."""
    clock = Clock(now=parse_timestamp(NOW), frozen=True)
    with create_app(clock=clock).test_client() as client:
        s = Story(client, clock, "proj_345678")
        upload, tasks = s.upload(PDF, ("file", ("b.png", b"png", "image/png")))
        s.act(tasks[0], "report", json={"issues": [{"label": "x", "value": "y"}]})
        for step in steps:
            clock.advance(step)
            s.upload_status(upload)  # a call between steps applies what fell due so far
        return [s.task(t) for t in tasks] + [client.get(url("proj_345678", f"/upload/{upload}"),
                                                         headers=auth()).json()]


def test_one_jump_and_many_small_steps_reach_the_same_state():
    one_jump = run([500])
    assert one_jump == run([1] * 500)
    assert one_jump == run([7, 3, 0.5, 9.5, 80, 400])
    assert one_jump == run([0.1] * 250 + [475])  # steps not exact in binary land on the due times
    assert all(t["exported_at"] for t in one_jump[:2]), "the story must reach its end"


def test_due_transitions_apply_without_a_frozen_clock_or_a_thread():
    real = [parse_timestamp(NOW)]
    clock = Clock(source=lambda: real[0])   # follows "real" time, which we move by hand
    with create_app(clock=clock).test_client() as client:
        s = Story(client, clock, "proj_123456")
        assert s.act("task_abcdef123456", "complete").status_code == 200
        real[0] += 30
        assert s.state("task_abcdef123456") == ("COMPLETED", "EXTRACT")


def test_the_seeded_failing_claim_fails(story):
    s = story("proj_567890")
    assert s.act("task_claim0000002", "complete").status_code == 200
    s.clock.advance(30)
    assert s.state("task_claim0000002") == ("FAILED", "EXTRACT")
