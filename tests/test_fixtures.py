"""Fixtures (B13): the default world holds every case a client needs, and a bad record names file, record and field."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

from sandbox import errors, spec
from sandbox.app import create_app
from sandbox.domain.model import TASK_STATUSES
from sandbox.fixtures import default_dir, load_records
from tests.conftest import auth

REPO = Path(__file__).resolve().parents[1]
UPSTREAM = Path(__file__).resolve().parent / "upstream_examples"  # copied from shared/reference
TEAM, PROJECT, TASK, UPLOAD = "team_123456", "proj_123456", "task_abcdef123456", "upl_123456789"
ALL_SCOPES = frozenset(spec.load_public()["components"]["securitySchemes"]["bearerAuth"]["x-scopes"])


@pytest.fixture(scope="module")
def records():
    return load_records()


def upstream_task() -> dict:
    path = UPSTREAM / "task.get.response.json"
    return json.loads(path.read_text())["payload"]


def keys_where(r, team=TEAM, scopes=None, projects=None):
    return [k for k in r.keys.values() if k.team_id == team
            and (scopes is None or k.scopes == frozenset(scopes))
            and (projects is None or k.projects == frozenset(projects))]


WORLD = [
    pytest.param(lambda r: TEAM in r.teams, id="team team_123456"),
    pytest.param(lambda r: r.projects.get(PROJECT) and r.projects[PROJECT].team_id == TEAM,
                 id="project proj_123456 of team_123456"),
    pytest.param(lambda r: r.uploads.get(UPLOAD) and r.uploads[UPLOAD].project_id == PROJECT,
                 id="upload upl_123456789 in proj_123456"),
    pytest.param(lambda r: (lambda t: t and (t.status, t.step_type, t.upload_id, t.project_id)
                            == ("REVIEWING", "EXTRACT", UPLOAD, PROJECT))(r.tasks.get(TASK)),
                 id="task task_abcdef123456 REVIEWING EXTRACT in upl_123456789"),
    pytest.param(lambda r: (lambda k: k and k.team_id == TEAM and k.scopes == ALL_SCOPES
                            and PROJECT in k.projects)(r.keys.get("YOUR_API_KEY")),
                 id="YOUR_API_KEY has all six scopes on proj_123456"),
    pytest.param(lambda r: [k for k in keys_where(r, scopes=["task.read"]) if PROJECT in k.projects],
                 id="a task.read-only key"),
    pytest.param(lambda r: [k for k in keys_where(r, scopes=["task.edit"]) if PROJECT in k.projects],
                 id="a task.edit-only key"),
    pytest.param(lambda r: keys_where(r, scopes=ALL_SCOPES, projects=[]),
                 id="a key with every scope but no project grant"),
    pytest.param(lambda r: [k for k in r.keys.values() if k.team_id != TEAM and k.team_id in r.teams
                            and any(t.project_id in k.projects for t in r.tasks.values())],
                 id="a key of a second team that sees a task"),
    pytest.param(lambda r: [t for t in r.tasks.values() if t.status == "COMPLETED" and t.exported_at],
                 id="an exported COMPLETED task"),
    pytest.param(lambda r: [t for t in r.tasks.values() if t.status == "COMPLETED" and t.exported_at is None
                            and not r.uploads[t.upload_id].fully_processed],
                 id="an unlockable COMPLETED task"),
    pytest.param(lambda r: max(Counter(t.upload_id for t in r.tasks.values()).values()) > 1,
                 id="an upload with several tasks"),
]


@pytest.mark.parametrize("check", WORLD)
def test_default_world_has(records, check):
    assert check(records)


@pytest.mark.parametrize("status", TASK_STATUSES)
def test_default_project_has_a_task_in_each_status(records, status):
    assert [t for t in records.tasks.values() if t.status == status and t.project_id == PROJECT]


def test_default_task_has_the_upstream_pages(records):
    assert json.loads(json.dumps(records.tasks[TASK].pages)) == upstream_task()["pages"]


def test_default_task_is_the_upstream_example_verbatim(records):
    upstream = upstream_task()
    assert json.dumps(records.tasks[TASK].public()) == json.dumps(upstream)  # order matters too


# -- broken fixtures: one mutation each, the error names file, record and field --

def plain(doc):
    """Drop YAML aliases so a mutation touches one record only."""
    return json.loads(json.dumps(doc))


def edit(file, change):
    def apply(directory: Path):
        path = directory / file
        doc = plain(yaml.safe_load(path.read_text()))
        change(doc)
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return apply


def write(file, text):
    return lambda directory: (directory / file).write_text(text)


def task0(**changes):
    return edit("tasks.yaml", lambda d: d["tasks"][0].update(changes))


SECRET = "whsec_" + "A" * 32
NEGATIVE_WIDTH = edit("tasks.yaml", lambda d: d["tasks"][0]["pages"][0].update(width=-1))
T0, U0, K1 = "tasks[0] (task_abcdef123456)", "uploads[0] (upl_123456789)", "keys[1] (key_task_read_only)"

BROKEN = [  # (mutation, file, record label or None for file-level errors, field, text on the same line)
    pytest.param(task0(status="DONE"), "tasks.yaml", T0, "status", "'DONE'", id="task-status-DONE"),
    pytest.param(NEGATIVE_WIDTH, "tasks.yaml", T0, "pages[0].width", "-1", id="page-width-negative"),
    pytest.param(edit("tasks.yaml", lambda d: d["tasks"][0]["pages"][0]["annotations"][0].update(confidence=1.5)),
                 "tasks.yaml", T0, "pages[0].annotations[0].confidence", "1.5", id="confidence-above-1"),
    pytest.param(task0(colour="red"), "tasks.yaml", T0, "colour", "unknown field", id="task-unknown-field"),
    pytest.param(task0(created_at="yesterday"), "tasks.yaml", T0, "created_at", "yesterday", id="task-bad-time"),
    pytest.param(task0(created_at="2024-99-99T99:99:99Z"), "tasks.yaml", T0, "created_at", "2024-99-99",
                 id="task-impossible-time"),
    pytest.param(task0(upload_id=["upl_123456789"]), "tasks.yaml", T0, "upload_id", "no upload",
                 id="task-upload-id-not-a-string"),
    pytest.param(task0(outcome="DONE"), "tasks.yaml", T0, "outcome", "'DONE'", id="task-bad-outcome"),
    pytest.param(task0(step_type="CLASSIFY"), "tasks.yaml", T0, "step_type", "not a step of proj_123456",
                 id="task-step-not-in-project"),
    pytest.param(edit("tasks.yaml", lambda d: d["tasks"][7].update(status="REVIEWING")), "tasks.yaml",
                 "tasks[7] (task_filtered0001)", "status", "fully_processed", id="processed-upload-open-task"),
    pytest.param(edit("world.yaml", lambda d: d["projects"][0].update(steps=["EXTRACT", "EXTRACT"])),
                 "world.yaml", "projects[0] (proj_123456)", "steps", "non-unique", id="project-repeated-step"),
    pytest.param(edit("world.yaml", lambda d: d["projects"][0].update(automation="always")),
                 "world.yaml", "projects[0] (proj_123456)", "automation", "'always'", id="project-bad-automation"),
    pytest.param(lambda directory: (directory / "extra.yaml").write_bytes(b"teams: [{id: team_\xff}]\n"),
                 "extra.yaml", None, None, "not UTF-8", id="file-not-utf8"),
    pytest.param(task0(upload_id="upl_nope"), "tasks.yaml", T0, "upload_id", "upl_nope",
                 id="task-missing-upload"),
    pytest.param(task0(project_id="proj_234567"), "tasks.yaml", T0, "project_id", UPLOAD,
                 id="task-project-differs-from-upload"),
    pytest.param(task0(approved=True, disapproved=True), "tasks.yaml", T0, "disapproved", "approved",
                 id="task-approved-and-disapproved"),
    pytest.param(edit("tasks.yaml", lambda d: d["tasks"][1].update(id=TASK)),
                 "tasks.yaml", "tasks[1] (task_abcdef123456)", "id", "duplicate", id="duplicate-task-id"),
    pytest.param(edit("tasks.yaml", lambda d: d["tasks"].append("just a string")),
                 "tasks.yaml", "tasks[16]", "(record)", "mapping", id="task-not-a-mapping"),
    pytest.param(edit("tasks.yaml", lambda d: d["uploads"][0].update(status="IN_REVIEW")),
                 "tasks.yaml", U0, "status", "derived", id="upload-sets-status"),
    pytest.param(edit("tasks.yaml", lambda d: d["uploads"][0].update(project_id="proj_nope")),
                 "tasks.yaml", U0, "project_id", "proj_nope", id="upload-unknown-project"),
    pytest.param(edit("world.yaml", lambda d: d["keys"][1]["scopes"].append("task.delete")),
                 "world.yaml", K1, "scopes[1]", "task.delete", id="key-unknown-scope"),
    pytest.param(edit("world.yaml", lambda d: d["keys"][1]["projects"].append("proj_654321")),
                 "world.yaml", K1, "projects[1]", "proj_654321", id="key-other-teams-project"),
    pytest.param(edit("world.yaml", lambda d: d["keys"][1].pop("scopes")),
                 "world.yaml", K1, "(record)", "'scopes'", id="key-without-scopes"),
    pytest.param(edit("world.yaml", lambda d: d["projects"][1].update(team_id="team_nope")),
                 "world.yaml", "projects[1] (proj_234567)", "team_id", "team_nope", id="project-unknown-team"),
    pytest.param(write("zz_extra.yaml", "teams: [{id: team_123456, name: Again}]\n"),  # files load by name
                 "zz_extra.yaml", "teams[0] (team_123456)", "id", "duplicate", id="duplicate-across-files"),
    pytest.param(write("extra.yaml", "teams: [{id: acme, name: Acme}]\n"),
                 "extra.yaml", "teams[0] (acme)", "id", "'acme'", id="team-id-pattern"),
    pytest.param(write("tasks.yaml", "- not\n- a mapping\n"), "tasks.yaml", None, None,
                 "must be a mapping", id="file-not-a-mapping"),
    pytest.param(write("extra.yaml", "task: []\n"), "extra.yaml", None, None,
                 "unknown top-level key 'task'", id="unknown-kind"),
    pytest.param(write("extra.yaml", "tasks: {id: task_x}\n"), "extra.yaml", None, None,
                 "tasks must be a list", id="kind-not-a-list"),
    pytest.param(write("tasks.yaml", "tasks: [unclosed\n"), "tasks.yaml", None, None,
                 "not valid YAML", id="invalid-yaml"),
    pytest.param(write("zz_more.yaml", "folders: [{id: folder_x, project_id: proj_nope, name: Mine}]\n"),
                 "zz_more.yaml", "folders[0] (folder_x)", "project_id", "proj_nope", id="folder-unknown-project"),
    pytest.param(write("zz_more.yaml", "folders: [{id: folder_x, project_id: proj_123456}]\n"),
                 "zz_more.yaml", "folders[0] (folder_x)", "name", "needs a name", id="custom-folder-without-name"),
    pytest.param(write("zz_more.yaml", "folders: [{id: folder_x, project_id: proj_123456, name: X}]\n"),
                 "zz_more.yaml", "folders[0] (folder_x)", "name", "too short", id="folder-name-too-short"),
    pytest.param(write("zz_more.yaml", "folders: [{id: folder_x, project_id: proj_123456, name: Sixteen chars ok}]\n"),
                 "zz_more.yaml", "folders[0] (folder_x)", "name", "too long", id="folder-name-too-long"),
    pytest.param(write("zz_more.yaml", "folders: [{id: folder_x, project_id: proj_123456, name: bin}]\n"),
                 "zz_more.yaml", "folders[0] (folder_x)", "name", "a default folder's name", id="custom-folder-named-bin"),
    pytest.param(write("zz_more.yaml", "folders: [{id: folder_x, project_id: proj_123456, role: inbox}]\n"),
                 "zz_more.yaml", "folders[0] (folder_x)", "role", "inbox folder already", id="second-inbox"),
    pytest.param(write("zz_more.yaml", "folders: [{id: folder_x, project_id: proj_123456, name: finance}]\n"),
                 "zz_more.yaml", "folders[0] (folder_x)", "name", "named 'Finance' already", id="folder-name-taken"),
    pytest.param(edit("tasks.yaml", lambda d: d["uploads"][0].update(folder_id="folder_nope")),
                 "tasks.yaml", U0, "folder_id", "no folder 'folder_nope'", id="upload-unknown-folder"),
    pytest.param(edit("tasks.yaml", lambda d: d["uploads"][0].update(folder_id="folder_234567_inbox")),
                 "tasks.yaml", U0, "folder_id", "in proj_123456", id="upload-other-projects-folder"),
    pytest.param(write("hooks.yaml", "subscriptions: [{id: sub_1, project_id: proj_nope, url: 'http://127.0.0.1/h', "
                                     f"secret: {SECRET}}}]\n"),
                 "hooks.yaml", "subscriptions[0] (sub_1)", "project_id", "proj_nope", id="subscription-unknown-project"),
    pytest.param(write("hooks.yaml", "subscriptions: [{id: sub_1, project_id: proj_123456, url: 'http://127.0.0.1/h', "
                                     "secret: whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA}]\n"),
                 "hooks.yaml", "subscriptions[0] (sub_1)", "secret", "base64", id="subscription-bad-secret"),
    pytest.param(write("hooks.yaml", "subscriptions: [{id: sub_1, project_id: proj_123456, url: '/inbox', "
                                     f"secret: {SECRET}}}]\n"),
                 "hooks.yaml", "subscriptions[0] (sub_1)", "url", "does not match", id="subscription-relative-url"),
    pytest.param(write("hooks.yaml", "subscriptions: [{id: sub_1, project_id: proj_123456, url: 'http://127.0.0.1/h', "
                                     f"secret: {SECRET}, events: [upload.deleted]}}]\n"),
                 "hooks.yaml", "subscriptions[0] (sub_1)", "events[0]", "upload.deleted", id="subscription-bad-event"),
]
SUBSCRIPTION = {"id": "sub_erp", "project_id": "proj_123456", "url": "http://127.0.0.1:9/erp", "secret": SECRET,
                "events": ["upload.processed"]}


def test_subscriptions_load_from_fixtures_and_over_http(tmp_path, clock):
    directory = broken_copy(tmp_path, write("hooks.yaml", yaml.safe_dump({"subscriptions": [SUBSCRIPTION]})))
    with create_app(directory, clock=clock).test_client() as client:
        listed = client.get("/_sandbox/subscriptions").json()["payload"]
        assert [(s["id"], s["events"], s["enabled"]) for s in listed] == [("sub_erp", ["upload.processed"], True)]
    with create_app(clock=clock).test_client() as client:
        loaded = client.post("/_sandbox/fixtures", json={"subscriptions": [SUBSCRIPTION]})
        assert loaded.status_code == 201 and loaded.json()["payload"]["subscriptions"] == 1
        again = client.post("/_sandbox/fixtures", json={"subscriptions": [SUBSCRIPTION]})
        assert again.status_code == 400 and "duplicate" in again.text
        assert [s["id"] for s in client.get("/_sandbox/subscriptions").json()["payload"]] == ["sub_erp"]


def broken_copy(tmp_path: Path, mutate) -> Path:
    directory = tmp_path / "fixtures"
    shutil.copytree(default_dir(), directory)
    mutate(directory)
    return directory


def expected_line(file, record, field):
    """file:LINE: record: field F: (the line where the field, or the record, is), or file[:LINE]: for a file."""
    if record:
        return re.escape(file) + r":\d+: " + re.escape(f"{record}: field {field}: ")
    return re.escape(file) + r"(:\d+)?: "


@pytest.mark.parametrize("mutate, file, record, field, text", BROKEN)
def test_broken_fixture_names_file_line_record_and_field(tmp_path, mutate, file, record, field, text):
    directory = broken_copy(tmp_path, mutate)
    with pytest.raises(errors.FixtureError) as caught:
        load_records(directory)
    prefix = expected_line(file, record, field)
    lines = str(caught.value).splitlines()
    assert any(re.match(prefix, line.strip()) and text in line for line in lines), \
        f"no line starting {prefix!r} mentioning {text!r} in:\n{caught.value}"


def test_the_line_is_the_fields_own(tmp_path):
    directory = broken_copy(tmp_path, NEGATIVE_WIDTH)
    with pytest.raises(errors.FixtureError) as caught:
        load_records(directory)
    [problem] = caught.value.problems
    line = int(problem.split(":")[1])
    assert "width" in (directory / "tasks.yaml").read_text().splitlines()[line - 1]


def test_a_yaml_error_names_its_file_and_line(tmp_path):
    directory = broken_copy(tmp_path, write("zz.yaml", "teams: []\ntasks: [unclosed\n"))
    with pytest.raises(errors.FixtureError) as caught:
        load_records(directory)
    assert any(p.startswith("zz.yaml:3: not valid YAML") or p.startswith("zz.yaml:2: not valid YAML")
               for p in caught.value.problems), caught.value.problems
    assert "<unicode string>" not in str(caught.value)


LAYER = {"tasks": [{"id": "task_mine0000001", "name": "Mine", "created_at": "2024-03-01T00:00:00Z",
                    "status": "REVIEWING", "upload_id": "upl_123456789"}]}


def test_folders_layer_a_later_one_adding_files_and_replacing_same_named_ones(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "extra.yaml").write_text(yaml.safe_dump(LAYER))
    records = load_records(["shipped", mine])
    assert "task_mine0000001" in records.tasks and "task_abcdef123456" in records.tasks
    (mine / "world.yaml").write_text((default_dir() / "world.yaml").read_text().replace("Acme Corp", "Acme Layered"))
    assert load_records(["shipped", mine]).teams["team_123456"].name == "Acme Layered"  # replaced, not doubled
    with create_app([str(default_dir()), str(mine)]).test_client() as client:
        answer = client.get("/v2/team_123456/project/proj_123456/task/task_mine0000001", headers=auth())
        assert answer.status_code == 200
        assert [s["name"] for s in client.get("/_sandbox/scenarios").json()["payload"]][0] == "default"


@pytest.mark.parametrize("given, says", [
    ("nope", "no such folder"), ("world.yaml", "a file, not a folder; to add one file to the shipped fixtures"),
])
def test_a_fixtures_path_that_is_no_folder_says_so(tmp_path, given, says):
    (tmp_path / "world.yaml").write_text("teams: []\n")
    done = subprocess.run([sys.executable, "-m", "sandbox", "check", "--fixtures", str(tmp_path / given)],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and says in done.stdout and "1 problem(s) found" in done.stdout


@pytest.mark.parametrize("content", [{}, {"world.yml": "teams: []\n"}], ids=["empty", "only-yml"])
def test_directory_without_fixture_files_fails_clearly(tmp_path, content):
    for name, text in content.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(errors.FixtureError, match=r"no fixture files \(\*\.yaml\) found") as caught:
        load_records(tmp_path)
    assert str(tmp_path) in str(caught.value)


def test_serve_with_broken_fixtures_exits_2_naming_the_problem(tmp_path):
    directory = broken_copy(tmp_path, NEGATIVE_WIDTH)
    done = subprocess.run([sys.executable, "-m", "sandbox", "serve", "--fixtures", str(directory),
                           "--port", "0"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert re.search(re.escape("tasks.yaml:") + r"\d+: " + re.escape(f"{T0}: field pages[0].width: "), done.stderr)
    assert "Traceback" not in done.stderr


CUSTOM = """
teams: [{id: team_custom, name: Custom}]
projects: [{id: proj_custom, team_id: team_custom, name: Custom project}]
keys: [{key: key_custom, team_id: team_custom, projects: [proj_custom], scopes: [task.read]}]
uploads: [{id: upl_custom, project_id: proj_custom, name: Custom upload, created_at: "2025-01-01T00:00:00Z"}]
tasks: [{id: task_custom, name: Custom task, created_at: "2025-01-01T00:00:01Z", status: REVIEWING,
         upload_id: upl_custom}]
"""


def test_app_serves_a_custom_fixture_directory(tmp_path):
    (tmp_path / "world.yaml").write_text(CUSTOM)
    app = create_app(fixtures_dir=tmp_path)
    with app.test_client() as client:
        got = client.get("/v2/team_custom/project/proj_custom/task/task_custom",
                         headers={"Authorization": "Bearer key_custom"})
        default_key = client.get(f"/v2/{TEAM}/project/{PROJECT}/task/{TASK}",
                                 headers={"Authorization": "Bearer YOUR_API_KEY"})
    assert got.status_code == 200, got.text
    assert got.json() == {"payload": {
        "id": "task_custom", "name": "Custom task", "created_at": "2025-01-01T00:00:01Z", "meta": [],
        "status": "REVIEWING", "step_type": "EXTRACT", "upload_id": "upl_custom",
        "project_id": "proj_custom", "approved": False, "exported_at": None, "export_failed_at": None,
        "last_opened_at": None, "pages": []}}
    assert default_key.status_code == 401  # the custom world replaces the default one


def test_a_fixture_file_may_be_written_as_json(tmp_path):
    """JSON is YAML, and parses much faster: generated worlds are best written as JSON."""
    directory = tmp_path / "fixtures"
    shutil.copytree(default_dir(), directory)
    path = directory / "tasks.yaml"
    path.write_text(json.dumps(yaml.safe_load(path.read_text())))
    records = load_records(directory)
    assert records.tasks.get(TASK).public() == load_records().tasks.get(TASK).public()
    bad = json.loads(path.read_text())
    bad["tasks"][0]["status"] = "DONE"
    path.write_text(json.dumps(bad))
    with pytest.raises(errors.FixtureError, match=r"tasks.yaml:\d+: tasks\[0\] \(task_abcdef123456\): field status"):
        load_records(directory)


ONE_OF_EACH = """\
teams:
  - {id: team_onepass, name: 7}
  - {id: team_onepass, name: Again}
  - {id: acme, name: Acme}
tasks:
  - {id: task_onepass0001, name: A, created_at: yesterday, status: DONE, upload_id: upl_nope,
     pages: [{id: p1, width: -1, height: 1, annotations: [], checkboxes: [], segments: [], signatures: []}]}
  - {name: No id, created_at: "2024-01-01T00:00:00Z", status: REVIEWING, upload_id: upl_123456789}
  - {id: task_onepass0002, name: Unquoted time, created_at: 2024-01-15T10:00:00Z, status: REVIEWING,
     upload_id: upl_123456789, colour: red}
  - {id: task_onepass0002, name: Again, created_at: "2024-01-15T10:00:00Z", status: REVIEWING,
     upload_id: upl_123456789}
  - {id: task_onepass0003, name: A date, created_at: 2024-01-15, status: REVIEWING, upload_id: upl_123456789}
"""
P0, P2 = "tasks[0] (task_onepass0001)", "tasks[2] (task_onepass0002)"
ONE_PASS = [  # every problem of every record, each once: (record, field, text)
    ("teams[0] (team_onepass)", "name", "7 is not of type 'string'"),
    ("teams[1] (team_onepass)", "id", "duplicate 'team_onepass', first defined at one.yaml: teams[0] (team_onepass)"),
    ("teams[2] (acme)", "id", "'acme'"),
    (P0, "upload_id", "no upload 'upl_nope'"),
    (P0, "created_at", "yesterday"),
    (P0, "status", "'DONE'"),
    (P0, "pages[0].width", "-1"),
    ("tasks[1]", "id", "missing: every record of tasks has its id"),
    (P2, "colour", "unknown field"),
    ("tasks[3] (task_onepass0002)", "id", "duplicate 'task_onepass0002'"),
    ("tasks[4] (task_onepass0003)", "created_at", "is a date, not an instant: quote it"),
]


@pytest.fixture
def one_pass(tmp_path) -> list[str]:
    directory = broken_copy(tmp_path, write("one.yaml", ONE_OF_EACH))
    with pytest.raises(errors.FixtureError) as caught:
        load_records(directory)
    return [line.strip() for line in str(caught.value).splitlines()[1:]]


@pytest.mark.parametrize("record, field, text", ONE_PASS, ids=[f"{r.split(' ')[0]}-{f}" for r, f, _ in ONE_PASS])
def test_one_pass_reports_every_problem_of_every_record_once(one_pass, record, field, text):
    found = [line for line in one_pass if re.match(r"one\.yaml:\d+: " + re.escape(f"{record}: field {field}: "), line)]
    assert len(found) == 1 and text in found[0], "\n".join(one_pass)


def test_one_pass_says_nothing_else(one_pass):
    assert len(one_pass) == len(ONE_PASS), "\n".join(one_pass)  # an unquoted instant is taken, not refused


def test_the_control_plane_reports_the_same_problems_at_once(client):
    answer = client.post("/_sandbox/fixtures", json={"tasks": [
        {"id": "task_http0000001", "name": "A", "created_at": "yesterday", "status": "DONE", "upload_id": "upl_nope"},
        {"name": "No id", "created_at": "2024-01-01T00:00:00Z", "status": "REVIEWING", "upload_id": "upl_123456789"}]})
    assert answer.status_code == 400 and answer.json()["code"] == "invalid_fixture"
    where = {(d["location"], d["message"].split(":")[0]) for d in answer.json()["details"]}
    assert {loc for loc, _ in where} == {"body.tasks[0].upload_id", "body.tasks[0].created_at", "body.tasks[0].status",
                                          "body.tasks[1].id"}
