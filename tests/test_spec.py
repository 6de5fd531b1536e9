"""The contract itself: openapi.yaml is valid, self-consistent, upstream-shaped and public-only (B1, B12)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate

from sandbox.spec import SAFE_LOADER

ROOT = Path(__file__).resolve().parents[1]
SPEC = yaml.load((ROOT / "openapi.yaml").read_text(encoding="utf-8"), Loader=SAFE_LOADER)  # as the app parses it
COMPONENTS = SPEC["components"]
UPSTREAM = Path(__file__).resolve().parent / "upstream_examples"  # copied from shared/reference
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
UPSTREAM_TASK_FIELDS = ["id", "name", "created_at", "meta", "status", "step_type", "upload_id",
                        "project_id", "approved", "exported_at", "export_failed_at",
                        "last_opened_at", "pages"]


def resolve(node):
    while isinstance(node, dict) and "$ref" in node:
        target = SPEC
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def operations():
    """(path, method, path item, operation) for every operation in the spec."""
    for path, item in SPEC["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item, item[method]


OPS = {op["operationId"]: (path, method, item, op) for path, method, item, op in operations()}


def errors_of(schema: dict, instance) -> list[str]:
    validator = OAS30Validator({**schema, "components": COMPONENTS})
    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
            for e in validator.iter_errors(instance)]


def schema_ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def media_examples():
    """(operationId, status or 'requestBody', example name, schema, value) for every example."""
    for op_id, (_, _, _, op) in OPS.items():
        bodies = [("requestBody", resolve(op["requestBody"]))] if "requestBody" in op else []
        bodies += [(status, resolve(resp)) for status, resp in op["responses"].items()]
        for where, body in bodies:
            for media_type, media in body.get("content", {}).items():
                if "example" in media:
                    yield op_id, where, f"{media_type} example", media["schema"], media["example"]
                for name, example in media.get("examples", {}).items():
                    yield op_id, where, f"{media_type} {name}", media["schema"], resolve(example)["value"]


EXAMPLES = list(media_examples())


def test_spec_is_valid_openapi():
    validate(SPEC)


def test_spec_has_examples_to_check():
    # Guards the parametrised test below against silently checking nothing.
    names = {name for _, _, name, _, _ in EXAMPLES}
    assert {"application/json TaskReviewingEnvelope", "application/json TaskListPage",
            "application/json CompleteEnvelope"} <= names


@pytest.mark.parametrize("op_id, where, name, schema, value",
                         EXAMPLES, ids=[f"{o}-{w}-{n}" for o, w, n, _, _ in EXAMPLES])
def test_every_example_matches_its_schema(op_id, where, name, schema, value):
    assert errors_of(schema, value) == [], f"{op_id} {where} {name} does not match its schema"


@pytest.mark.parametrize("op_id", sorted(OPS))
def test_operation_declares_the_common_statuses(op_id):
    _, method, _, op = OPS[op_id]
    statuses = set(op["responses"])
    expected = {"400", "401", "403", "404"} | ({"413"} if method == "post" else set())
    expected |= {"415"} if op_id == "reportTask" else set()
    assert expected <= statuses, f"{op_id} lacks {sorted(expected - statuses)}"
    assert any(s.startswith("2") for s in statuses), f"{op_id} declares no 2xx response"


@pytest.mark.parametrize("op_id", sorted(OPS))
def test_operation_requires_known_scopes(op_id):
    known = set(COMPONENTS["securitySchemes"]["bearerAuth"]["x-scopes"])
    scopes = OPS[op_id][3].get("x-required-scopes")
    assert scopes, f"{op_id} has no x-required-scopes"
    assert set(scopes) <= known, f"{op_id} needs scopes missing from x-scopes: {set(scopes) - known}"


def links():
    for op_id, (_, _, _, op) in OPS.items():
        for status, resp in op["responses"].items():
            for name, link in resolve(resp).get("links", {}).items():
                yield op_id, status, name, resolve(link)


LINKS = list(links())


def parameters_of(op_id: str) -> set[tuple[str, str]]:
    _, _, item, op = OPS[op_id]
    params = [resolve(p) for p in item.get("parameters", []) + op.get("parameters", [])]
    return {(p["in"], p["name"]) for p in params}


def test_spec_has_links_to_check():
    assert {name for _, _, name, _ in LINKS} >= {"GetFirstTask", "GetUpload", "ListUploadTasks"}


@pytest.mark.parametrize("op_id, status, name, link", LINKS,
                         ids=[f"{o}-{s}-{n}" for o, s, n, _ in LINKS])
def test_link_targets_an_operation_and_its_parameters(op_id, status, name, link):
    assert link["operationId"] in OPS, f"link {name} targets unknown operation {link['operationId']}"
    target = {(where, p) for where, p in parameters_of(link["operationId"]) if where in ("path", "query")}
    for param in link.get("parameters", {}):
        where, _, bare = param.rpartition(".")
        matches = {t for t in target if t[1] == bare and (not where or t[0] == where)}
        assert matches, f"link {name}: {param} is no path/query parameter of {link['operationId']}"


@pytest.mark.parametrize("keyword", ["required", "properties"])
def test_task_schema_has_the_upstream_fields_in_upstream_order(keyword):
    assert list(COMPONENTS["schemas"]["Task"][keyword]) == UPSTREAM_TASK_FIELDS


UPSTREAM_CASES = [
    ("task.get.response.json", "TaskEnvelope"),
    ("task.complete.response.json", "CompleteEnvelope"),
    ("task.discard.response.json", "TaskEnvelope"),
    ("task.approve.response.json", "TaskEnvelope"),
    ("task.disapprove.response.json", "TaskEnvelope"),
    ("upload.get.response.json", "UploadEnvelope"),
    ("task.report.request.json", "ReportRequest"),
]


@pytest.mark.parametrize("file, schema", UPSTREAM_CASES, ids=[f for f, _ in UPSTREAM_CASES])
def test_upstream_example_matches_the_spec(file, schema):
    value = json.loads((UPSTREAM / file).read_text())
    assert errors_of(schema_ref(schema), value) == []


@pytest.mark.parametrize("file, schema, mutate", [
    ("task.get.response.json", "TaskEnvelope", lambda v: v["payload"].update(status="DONE")),
    ("task.get.response.json", "TaskEnvelope", lambda v: v["payload"].pop("pages")),
    ("task.complete.response.json", "CompleteEnvelope", lambda v: v.pop("message")),
    ("task.report.request.json", "ReportRequest", lambda v: v.update(issues=[])),
], ids=["bad-status", "missing-pages", "complete-without-message", "report-without-issues"])
def test_spec_schemas_reject_broken_upstream_shapes(file, schema, mutate):
    """The upstream check above is only meaningful if the schemas can fail."""
    value = json.loads((UPSTREAM / file).read_text())
    mutate(value)
    assert errors_of(schema_ref(schema), value) != []


def header_parameters():
    params = list(COMPONENTS.get("parameters", {}).values())
    for _, _, item, op in operations():
        params += item.get("parameters", []) + op.get("parameters", [])
    return [resolve(p) for p in params]


def test_no_sandbox_paths_in_the_public_spec():
    assert [p for p in SPEC["paths"] if p.startswith("/_sandbox")] == []


def test_no_sandbox_headers_in_the_public_spec():
    assert header_parameters(), "no parameters found at all"
    assert [p["name"] for p in header_parameters()
            if p["in"] == "header" and p["name"].lower().startswith("x-sandbox")] == []


def test_trusting_its_own_specs_leaves_every_other_spec_validated():
    """The sandbox skips Connexion's second validation of its own two specs only (sandbox/http/stack.py)."""
    from connexion.exceptions import InvalidSpecification
    from connexion.spec import Specification

    from sandbox.app import create_app

    create_app()
    with pytest.raises(InvalidSpecification):
        Specification.from_dict({"openapi": "3.0.3", "info": {"title": "x", "version": "1"}, "paths": {"/x": 1}})


def test_the_control_plane_has_its_own_valid_spec():
    control = yaml.load((ROOT / "sandbox" / "control" / "openapi.yaml").read_text(encoding="utf-8"), Loader=SAFE_LOADER)
    validate(control)
    assert all(not path.startswith("/v2") for path in control["paths"])
    public_ids = {op["operationId"] for _, _, _, op in operations()}
    control_ids = {op["operationId"] for item in control["paths"].values() for op in item.values()
                   if isinstance(op, dict) and "operationId" in op}
    assert control_ids and not control_ids & public_ids


def test_the_control_plane_serves_its_spec_and_swagger_ui(client):
    assert client.get("/_sandbox/openapi.json").json()["info"]["title"] == "Task API Sandbox control plane"
    ui = client.get("/_sandbox/ui/")
    assert ui.status_code == 200 and "swagger" in ui.text.lower()
