"""The proxy's recorder: a sandbox's answers, recorded, check clean and are answered again the same."""
from __future__ import annotations

import json
import logging

import orjson
import pytest

from sandbox import spec
from sandbox.app import create_app
from sandbox.domain.clock import Clock, parse_timestamp
from sandbox.proxy.recorder import Recorder
from sandbox.proxy.recording import KEY, PLACEHOLDER_TEAM
from sandbox.tools import check
from tests.conftest import NOW

CONTRACT = spec.Contract(spec.load_public())
ACME, GLOBEX = "team_123456", "team_654321"
KEYS = {ACME: "YOUR_API_KEY", GLOBEX: "key_other_team"}
TEN_YEARS = 10 * 365 * 86400


def path(team: str, project: str, rest: str = "") -> str:
    return f"/v2/{team}/project/{project}{rest}"


class Upstream:
    """A sandbox of the shipped fixtures standing in for the real API, each answer fed to a
    recorder as the proxy would: operationId and path parameters from the contract."""

    def __init__(self, client, recorder: Recorder):
        self.client, self.recorder = client, recorder
        self.tasks: dict[str, dict] = {}    # id -> the task as last answered, by any operation
        self.uploads: dict[str, dict] = {}  # id -> the upload as last answered
        self.where: dict[str, tuple[str, str]] = {}  # id -> (team, project) it was answered in

    def call(self, method: str, team: str, project: str, rest: str, **kwargs) -> dict:
        url = path(team, project, rest)
        response = self.client.request(method, url, headers={"Authorization": f"Bearer {KEYS[team]}"}, **kwargs)
        assert 200 <= response.status_code < 300, response.text
        operation, params = CONTRACT.operation(method, url.split("?")[0])
        body = response.json()
        self.recorder.observe(operation, response.status_code, body, params=params)
        inner = body.get("payload", body)
        for task in inner if operation == "listTasks" else [inner] if "step_type" in inner else []:
            self.tasks[task["id"]], self.where[task["id"]] = task, (team, project)
        if operation in ("getUpload", "moveUpload"):
            self.uploads[inner["id"]], self.where[inner["id"]] = inner, (team, project)
        return body


def record_a_session(upstream: Upstream) -> None:
    """State changes first, then reads: what is compared is the state the reads last showed."""
    post, get = (lambda *args, **kw: upstream.call("POST", *args, **kw)), (lambda *args: upstream.call("GET", *args))
    post(ACME, "proj_123456", "/task/task_email000att2/unlock")      # COMPLETED -> REVIEWING
    post(ACME, "proj_123456", "/task/task_abcdef123456/complete")    # REVIEWING -> PROCESSING
    post(ACME, "proj_123456", "/task/task_invalid000002/discard")
    post(ACME, "proj_234567", "/task/task_contract0001/approve")
    post(ACME, "proj_567890", "/task/task_claim0000001/report", json={"issues": [{"label": "Blurry", "value": "blurry"}]})
    post(ACME, "proj_123456", "/upload/upl_email0001/move/folder_789012")
    created = post(ACME, "proj_123456", "/upload", files=[("file", ("note.pdf", b"%PDF-1.4 tiny", "application/pdf"))],
                   data={"meta": json.dumps([{"name": "source", "value": "recorder test"}])})
    get(ACME, "proj_123456", "/task?limit=100")
    get(ACME, "proj_123456", f"/task?upload_id={created['id']}")
    for team, project, task in [(ACME, "proj_123456", "task_abcdef123456"), (ACME, "proj_123456", "task_email000att1"),
                                (ACME, "proj_123456", "task_exported0001"), (ACME, "proj_123456", "task_filtered0001"),
                                (ACME, "proj_234567", "task_contract0001"), (ACME, "proj_567890", "task_claim0000001"),
                                (GLOBEX, "proj_654321", "task_globex000001")]:
        get(team, project, f"/task/{task}")
    for team, project, upload in [(ACME, "proj_123456", "upl_123456789"), (ACME, "proj_123456", "upl_email0001"),
                                  (ACME, "proj_123456", "upl_archived01"), (ACME, "proj_123456", created["id"]),
                                  (ACME, "proj_234567", "upl_contract01"), (ACME, "proj_567890", "upl_claim00001"),
                                  # its task is never read: IN_REVIEW needs a placeholder task
                                  (ACME, "proj_345678", "upl_receipt001"), (GLOBEX, "proj_654321", "upl_globex0001")]:
        get(team, project, f"/upload/{upload}")


def frozen_clock() -> Clock:
    return Clock(now=parse_timestamp(NOW), frozen=True)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    directory = tmp_path_factory.mktemp("recording")
    with create_app(clock=frozen_clock()).test_client() as client, Recorder(directory) as recorder:
        upstream = Upstream(client, recorder)
        record_a_session(upstream)
    return directory, upstream


@pytest.fixture(scope="module")
def served(recorded):
    """The recording served, ten years on: nothing it holds may have moved by itself."""
    clock = frozen_clock()
    with create_app(recorded[0], clock=clock).test_client() as client:
        clock.advance(TEN_YEARS)
        yield client


def load(directory) -> dict:
    out: dict = {}
    for name in ("world.yaml", "tasks.yaml"):
        out.update(orjson.loads((directory / name).read_bytes()))
    return out


def test_check_accepts_the_recording(recorded, capsys):
    assert check.run(fixtures_dir=[str(recorded[0])]) == 0, capsys.readouterr().out


def served_key(team: str) -> str:
    return KEY if team == ACME else f"{KEY}_{team}"  # ACME sorts first: it has the plain key


def test_the_served_recording_answers_every_task_and_upload_as_recorded(recorded, served):
    _, upstream = recorded
    assert len(upstream.tasks) == 14 and len(upstream.uploads) == 8  # the session was recorded in full
    statuses = {t["status"] for t in upstream.tasks.values()}
    assert statuses >= {"PROCESSING", "REVIEWING", "COMPLETED", "DISCARDED", "FAILED", "FILTERED"}
    for kind, answered in (("task", upstream.tasks), ("upload", upstream.uploads)):
        for ident, expected in answered.items():
            team, project = upstream.where[ident]
            response = served.get(path(team, project, f"/{kind}/{ident}"),
                                  headers={"Authorization": f"Bearer {served_key(team)}"})
            assert response.status_code == 200, (ident, response.text)
            assert response.json()["payload"] == expected, ident


def test_an_upload_whose_tasks_were_not_seen_gets_one_placeholder_task(recorded):
    tasks = {t["id"]: t for t in load(recorded[0])["tasks"]}
    assert tasks["task_unseen_upl_receipt001"]["status"] == "REVIEWING"
    assert [i for i in tasks if i.startswith("task_unseen_")] == ["task_unseen_upl_receipt001"]


def test_the_placeholder_key_works_and_others_do_not(served):
    url = path(ACME, "proj_123456", "/task/task_abcdef123456")
    assert served.get(url, headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
    assert served.get(url, headers={"Authorization": "Bearer YOUR_API_KEY"}).status_code == 401  # not recorded
    assert served.get(path(GLOBEX, "proj_654321", "/task/task_globex000001"),
                      headers={"Authorization": f"Bearer {KEY}_{GLOBEX}"}).status_code == 200


def a_task(ident: str = "task_one", **changes) -> dict:
    return {"id": ident, "name": "One", "created_at": "2024-01-15T10:30:00Z", "meta": [], "status": "REVIEWING",
            "step_type": "EXTRACT", "upload_id": "upl_one", "project_id": "proj_one", "approved": False,
            "exported_at": None, "export_failed_at": None, "last_opened_at": None, "pages": [], **changes}


PAGE = {"id": "p", "width": 1, "height": 1, "annotations": [], "checkboxes": [], "segments": [], "signatures": []}


def recorded_tasks(directory) -> dict[str, dict]:
    return {t["id"]: t for t in load(directory)["tasks"] if not t["id"].startswith("task_unseen_")}


@pytest.mark.parametrize("first, second", [
    (("getTask", {"payload": a_task(name="Old")}), ("getTask", {"payload": a_task(name="New")})),
    (("getTask", {"payload": a_task(name="Old")}), ("listTasks", {"payload": [a_task(name="New")]})),
    (("listTasks", {"payload": [a_task(name="Old")]}), ("completeTask", {"payload": a_task(name="New"),
                                                                         "message": "Task processing started"})),
], ids=["get-then-get", "get-then-list", "list-then-complete"])
def test_the_newest_answer_about_an_id_wins(tmp_path, first, second):
    with Recorder(tmp_path) as recorder:
        recorder.observe(first[0], 200, first[1])
        recorder.observe(second[0], 200, second[1])
    assert [t["name"] for t in recorded_tasks(tmp_path).values()] == ["New"]
    assert check.run(fixtures_dir=[str(tmp_path)]) == 0


class Exploding(dict):
    def get(self, *args):
        raise RuntimeError("a payload nobody expected")


@pytest.mark.parametrize("operation, status, payload, kept", [
    ("getTask", 200, {"payload": a_task()}, True),  # the table's control: a good answer is kept
    ("getTask", 404, {"error": "Task not found", "code": "task_not_found"}, False),
    ("getTask", 500, {"payload": a_task()}, False),
    ("getTask", 302, {"payload": a_task()}, False),
    ("getTask", "200", {"payload": a_task()}, False),
    ("getTask", True, {"payload": a_task()}, False),
    ("getTask", 200, None, False),
    ("getTask", 200, "not json", False),
    ("getTask", 200, [a_task()], False),
    ("getTask", 200, a_task(), False),  # no envelope
    ("getTask", 200, {"payload": None}, False),
    ("getTask", 200, {"payload": {k: v for k, v in a_task().items() if k != "status"}}, False),
    ("getTask", 200, {"payload": a_task(status="DONE")}, False),
    ("getTask", 200, {"payload": a_task(created_at="2024-01-15 10:30")}, False),
    ("getTask", 200, {"payload": a_task(secret="x")}, False),  # not in the contract: check would refuse it
    ("getTask", 200, {"payload": a_task(project_id="project-1")}, False),  # no fixture project can have that id
    ("getTask", 200, {"payload": a_task(pages=[{**PAGE, "width": 2 ** 70}])}, False),
    ("getTask", 200, Exploding(payload=a_task()), False),
    ("listTasks", 200, {"payload": "tasks"}, False),
    ("listTasks", 200, {"payload": [1, None, "x"]}, False),
    ("getUpload", 200, {"payload": {"id": "upl_one", "name": "One"}}, False),
    ("createUpload", 201, {"id": "upl_one", "name": "One"}, False),
    ("deleteEverything", 200, {"payload": a_task()}, False),
    (None, 200, {"payload": a_task()}, False),
    ("listTasks", 200, {"count": 0, "more": False, "paginationToken": None, "payload": [a_task()]}, True),
])
def test_what_is_not_a_good_2xx_answer_is_ignored_and_never_raises(tmp_path, operation, status, payload, kept):
    with Recorder(tmp_path, every=0) as recorder:
        recorder.observe(operation, status, payload, params={"team_id": ACME, "project_id": "proj_one"})
    assert list(recorded_tasks(tmp_path)) == (["task_one"] if kept else [])
    assert [p["id"] for p in load(tmp_path)["projects"]] == (["proj_one"] if kept else [])  # nor its path
    assert load(tmp_path)["uploads"] == ([{"id": "upl_one", "name": "unseen upload (recorded)", "project_id": "proj_one",
                                           "created_at": "2024-01-15T10:30:00Z", "files": {}, "meta": [],
                                           "folder_id": None, "pinned": True}] if kept else [])


@pytest.mark.parametrize("params", [None, "team_123456", {"team_id": 5, "project_id": []},
                                    {"team_id": "team 1", "project_id": "proj_one"}])
def test_path_parameters_that_name_no_fixture_team_are_left_out(tmp_path, params):
    with Recorder(tmp_path) as recorder:
        recorder.observe("getTask", 200, {"payload": a_task()}, params=params)
    world = load(tmp_path)
    assert list(recorded_tasks(tmp_path)) == ["task_one"]
    assert [(p["id"], p["team_id"]) for p in world["projects"]] == [("proj_one", PLACEHOLDER_TEAM)]
    assert check.run(fixtures_dir=[str(tmp_path)]) == 0


def test_an_empty_listing_records_its_project(tmp_path):
    empty = {"count": 0, "more": False, "paginationToken": None, "payload": []}
    with Recorder(tmp_path) as recorder:
        recorder.observe("listTasks", 200, empty, params={"team_id": GLOBEX, "project_id": "proj_empty"})
    with create_app(tmp_path).test_client() as client:
        response = client.get(path(GLOBEX, "proj_empty", "/task"), headers={"Authorization": f"Bearer {KEY}"})
    assert response.status_code == 200 and response.json() == empty


def test_past_max_records_new_ids_are_not_recorded_and_one_warning_says_so(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="sandbox"), Recorder(tmp_path, max_records=3) as recorder:
        for n in range(6):
            recorder.observe("getTask", 200, {"payload": a_task(f"task_{n}")})
        recorder.observe("getTask", 200, {"payload": a_task("task_0", name="Still updated")})
    assert {i: t["name"] for i, t in recorded_tasks(tmp_path).items()} == {
        "task_0": "Still updated", "task_1": "One", "task_2": "One"}
    assert [r.getMessage() for r in caplog.records if "max_records" in r.getMessage()] != []
    assert len([r for r in caplog.records if r.name == "sandbox"]) == 1


def test_observe_writes_at_most_once_per_every_seconds(tmp_path):
    slow, fast = tmp_path / "slow", tmp_path / "fast"
    held = Recorder(slow, every=3600)
    held.observe("getTask", 200, {"payload": a_task()})
    assert not (slow / "tasks.yaml").exists()  # within the hour: flush or close writes it
    held.flush()
    assert list(recorded_tasks(slow)) == ["task_one"]
    eager = Recorder(fast, every=0)
    eager.observe("getTask", 200, {"payload": a_task()})
    assert list(recorded_tasks(fast)) == ["task_one"]
    eager.close()
    eager.observe("getTask", 200, {"payload": a_task("task_after_close")})
    eager.flush()
    assert list(recorded_tasks(fast)) == ["task_one"]


def test_the_same_answers_in_another_order_write_the_same_bytes(tmp_path):
    answers = [("getTask", {"payload": a_task(f"task_{n}", upload_id=f"upl_{n % 2}")}) for n in range(4)]
    answers.append(("getUpload", {"payload": {"id": "upl_0", "name": "Zero", "status": "IN_REVIEW", "files": {},
                                              "meta": [], "folder_id": "folder_x", "created_at": NOW}}))
    for name, order in (("a", answers), ("b", answers[::-1])):
        with Recorder(tmp_path / name) as recorder:
            for operation, payload in order:
                recorder.observe(operation, 200, payload, params={"team_id": ACME, "project_id": "proj_one"})
    for name in ("world.yaml", "tasks.yaml"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert [t["id"] for t in load(tmp_path / "a")["tasks"]] == [f"task_{n}" for n in range(4)]


def test_without_path_parameters_projects_go_to_the_placeholder_team(tmp_path):
    """And an upload no answer placed in a project is held back until one does."""
    with Recorder(tmp_path) as recorder:
        recorder.observe("getTask", 200, {"payload": a_task()})
        recorder.observe("getUpload", 200, {"payload": {"id": "upl_elsewhere", "name": "?", "status": "COMPLETED",
                                                        "files": {}, "meta": [], "folder_id": None, "created_at": NOW}})
    assert check.run(fixtures_dir=[str(tmp_path)]) == 0
    with create_app(tmp_path).test_client() as client:
        response = client.get(path(PLACEHOLDER_TEAM, "proj_one", "/task/task_one"),
                              headers={"Authorization": f"Bearer {KEY}"})
    assert response.status_code == 200 and response.json()["payload"] == a_task()
    assert [u["id"] for u in load(tmp_path)["uploads"]] == ["upl_one"]


def test_an_exported_upload_stays_fully_processed(served):
    """Its tasks are refused unlock (B5), as upstream refuses an exported upload's."""
    response = served.post(path(ACME, "proj_123456", "/task/task_filtered0001/unlock"),
                           headers={"Authorization": f"Bearer {KEY}"})
    assert response.status_code == 400 and response.json()["code"] == "upload_processed", response.text


def test_an_upload_answered_in_no_folder_is_served_in_none(tmp_path):
    """The sandbox files a folderless upload by its status unless it is pinned (B15)."""
    upload = {"id": "upl_one", "name": "One", "status": "IN_REVIEW", "files": {}, "meta": [], "folder_id": None,
              "created_at": NOW}
    with Recorder(tmp_path) as recorder:
        recorder.observe("getTask", 200, {"payload": a_task()})
        recorder.observe("getUpload", 200, {"payload": upload}, params={"team_id": ACME, "project_id": "proj_one"})
    with create_app(tmp_path).test_client() as client:
        response = client.get(path(ACME, "proj_one", "/upload/upl_one"), headers={"Authorization": f"Bearer {KEY}"})
    assert response.status_code == 200 and response.json()["payload"] == upload
