"""`task-sandbox check`: clean on the shipped files, each planted problem reported with its place."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sandbox import fixtures, spec

ROOT = Path(__file__).resolve().parents[2]


def check(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sandbox", "check", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def test_the_shipped_files_are_clean():
    out = check()
    assert out.returncode == 0, out.stdout + out.stderr
    assert "clean" in out.stdout and "examples" in out.stdout


def copy_spec(tmp_path: Path, change) -> Path:
    document = yaml.safe_load(spec.resource_path("openapi.yaml").read_text())
    change(document)
    path = tmp_path / "openapi.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def task_example(d):
    return d["components"]["examples"]["TaskReviewingEnvelope"]["value"]["payload"]


@pytest.mark.parametrize("change,expected", [
    (lambda d: task_example(d).update(status="DONE"),
     ["paths./v2/{team_id}/project/{project_id}/task/{task_id}.get.responses.200.content.application/json"
      ".examples.TaskReviewingEnvelope", "payload.status", "'DONE'"]),
    (lambda d: d["paths"]["/v2/{team_id}/project/{project_id}/upload/{upload_id}"]["get"]["responses"]["200"]
     ["content"]["application/json"]["example"]["payload"].pop("name"),
     ["upload/{upload_id}.get.responses.200.content.application/json.example", "'name' is a required property"]),
    (lambda d: d["components"]["schemas"]["Task"].update(type="thing"),
     ["openapi.yaml: at components.schemas.Task"]),
    (lambda d: d.pop("info"), ["openapi.yaml", "info", "is a required property"]),
], ids=["example-bad-status", "inline-example-missing-field", "schema-bad-type", "no-info"])
def test_a_broken_spec_is_reported_where_it_breaks(tmp_path, change, expected):
    out = check("--spec", str(copy_spec(tmp_path, change)))
    assert out.returncode == 1
    line = next((l for l in out.stdout.splitlines() if expected[0] in l), None)
    assert line is not None, out.stdout
    assert all(text in line for text in expected), line


def test_a_broken_control_spec_is_reported(tmp_path):
    document = yaml.safe_load((spec.PACKAGE_DIR / "control" / "openapi.yaml").read_text())
    document["paths"]["/clock"]["get"]["responses"]["200"] = {"content": {}}
    path = tmp_path / "control.yaml"
    path.write_text(yaml.safe_dump(document))
    out = check("--control-spec", str(path))
    assert out.returncode == 1 and "control.yaml: at paths./clock.get.responses.200" in out.stdout


@pytest.mark.parametrize("target,change,expected", [
    ("tasks.yaml", lambda d: d["tasks"][0]["pages"][0].update(width=-1),
     "tasks.yaml:{line}: tasks[0] (task_abcdef123456): field pages[0].width"),
    ("world.yaml", lambda d: d["keys"][0]["scopes"].append("task.fly"),
     "world.yaml:{line}: keys[0] (YOUR_API_KEY): field scopes[6]"),
    ("scenarios/busy-review/batch.yaml", lambda d: d["tasks"][0].update(status="NOPE"),
     "batch.yaml:{line}: tasks[0] (task_batch000001): field status"),
], ids=["fixture-task", "fixture-key", "scenario-task"])
def test_a_broken_fixture_is_reported_with_file_record_and_field(tmp_path, target, change, expected):
    directory = tmp_path / "fixtures"
    shutil.copytree(fixtures.default_dir(), directory)
    path = directory / target
    document = yaml.safe_load(path.read_text())
    change(document)
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    out = check("--fixtures", str(directory))
    assert out.returncode == 1
    found = re.search(re.escape(expected).replace(re.escape("{line}"), r"(\d+)"), out.stdout)
    assert found, out.stdout
    on_line = {"tasks.yaml": "width: -1", "world.yaml": "task.fly", "scenarios/busy-review/batch.yaml": "NOPE"}[target]
    assert on_line in path.read_text().splitlines()[int(found.group(1)) - 1]  # the line holds the bad value
    problems = [line for line in out.stdout.splitlines() if not line.startswith("task-sandbox check:")]
    assert f"{len(problems)} problem(s) found" in out.stdout  # each problem counted once


def test_every_problem_is_listed_not_just_the_first(tmp_path):
    def two(d):
        task_example(d).update(status="DONE", approved="yes")
    out = check("--spec", str(copy_spec(tmp_path, two)))
    lines = [l for l in out.stdout.splitlines() if "getTask" in l or ".get.responses.200" in l and "/task/{task_id}.get" in l]
    assert any("payload.status" in l for l in lines) and any("payload.approved" in l for l in lines), out.stdout


@pytest.mark.parametrize("change,expected", [
    (lambda d: d["components"]["parameters"]["TeamId"].update(example=12345),
     "components.parameters.TeamId.example"),
    (lambda d: d["components"]["schemas"]["Timestamp"].update(example="not a timestamp"),
     "components.schemas.Timestamp.example"),
    (lambda d: d["paths"]["/v2/{team_id}/project/{project_id}/task/{task_id}"]["get"]["responses"]["200"]
     ["content"]["application/json"]["examples"].update(Gone={"$ref": "#/components/examples/Missing"}),
     "unresolvable $ref #/components/examples/Missing"),
    (lambda d: d["components"]["securitySchemes"]["bearerAuth"].pop("x-scopes"), "the contract lacks"),
], ids=["parameter-example", "schema-example", "missing-example-ref", "no-scopes"])
def test_more_problems_are_located_never_a_traceback(tmp_path, change, expected):
    out = check("--spec", str(copy_spec(tmp_path, change)))
    assert out.returncode == 1 and "Traceback" not in out.stdout + out.stderr
    assert expected in out.stdout, out.stdout


def test_a_spec_that_is_a_list_is_named_as_such(tmp_path):
    path = tmp_path / "openapi.yaml"
    path.write_text("- just\n- a list\n")
    out = check("--spec", str(path))
    assert out.returncode == 1 and "top level is a list" in out.stdout
