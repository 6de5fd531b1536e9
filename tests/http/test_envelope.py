"""Every error source answers the one envelope (B2) with the right status and code (B3)."""
from __future__ import annotations

import pytest
from openapi_schema_validator import OAS30Validator

from sandbox import spec
from sandbox.domain import world
from sandbox.app import create_app
from tests.conftest import BASE, auth

TASK_URL = f"{BASE}/task/task_abcdef123456"
REPORT_URL = f"{TASK_URL}/report"
JSON = {"Content-Type": "application/json"}


def assert_envelope(response, status, code):
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    document = spec.load_public()
    OAS30Validator({"$ref": "#/components/schemas/Error", "components": document["components"]}).validate(body)
    assert body["code"] == code, body
    assert "Traceback" not in response.text and 'File "' not in response.text
    return body


# (name, method, path, request kwargs, status, code, detail locations)
CASES = [
    ("malformed JSON", "post", REPORT_URL, {"content": b'{"issues": [', "headers": JSON}, 400, "invalid_json", ["body"]),
    ("not UTF-8", "post", REPORT_URL, {"content": b'{"issues": "\xff\xfe"}', "headers": JSON}, 400, "invalid_json", ["body"]),
    ("empty body", "post", REPORT_URL, {"content": b"", "headers": JSON}, 400, "invalid_request", ["body"]),
    ("issues missing", "post", REPORT_URL, {"json": {"message": "hi"}}, 400, "invalid_request", ["body.issues"]),
    ("no issue", "post", REPORT_URL, {"json": {"issues": []}}, 400, "invalid_request", ["body.issues"]),
    ("issue without value", "post", REPORT_URL, {"json": {"issues": [{"label": "x"}]}}, 400, "invalid_request",
     ["body.issues[0].value"]),
    ("every problem listed", "post", REPORT_URL,
     {"json": {"issues": [{"label": 1, "value": "v"}, {"value": "v"}], "extra": True}}, 400, "invalid_request",
     ["body", "body.issues[0].label", "body.issues[1].label"]),
    ("body not an object", "post", REPORT_URL, {"json": ["issues"]}, 400, "invalid_request", ["body"]),
    ("wrong content type", "post", REPORT_URL, {"content": b"issues", "headers": {"Content-Type": "text/plain"}},
     415, "unsupported_media_type", None),
    ("unknown query parameter", "get", f"{BASE}/task", {"params": {"stauts": "REVIEWING"}}, 400,
     "invalid_request", ["query.stauts"]),
    ("unknown route", "get", "/v2/nowhere", {}, 404, "route_not_found", None),
    ("unknown task", "get", f"{BASE}/task/task_000000000000", {}, 404, "task_not_found", None),
    ("control character in id", "get", f"{BASE}/task/a%0Ab", {}, 404, "route_not_found", None),
    ("missing key", "get", TASK_URL, {"headers": {"Authorization": ""}}, 401, "missing_api_key", None),
    ("unknown key", "get", TASK_URL, {"headers": auth("nope")}, 401, "invalid_api_key", None),
    ("basic auth", "get", TASK_URL, {"headers": {"Authorization": "Basic dXNlcjpwYXNz"}}, 401, "missing_api_key", None),
    ("body without Content-Type", "post", REPORT_URL, {"content": b'{"issues": [{"label": "x", "value": "y"}]}'},
     415, "unsupported_media_type", None),
    ("charset other than UTF-8", "post", REPORT_URL,
     {"content": b'{"issues": [{"label": "caf\xe9", "value": "y"}]}',
      "headers": {"Content-Type": "application/json; charset=latin-1"}}, 415, "unsupported_media_type", None),
    ("JSON nested too deeply", "post", REPORT_URL, {"content": b"[" * 5000 + b"]" * 5000, "headers": JSON},
     400, "invalid_json", ["body"]),
    ("empty path segment", "get", "/v2//team_123456/project/proj_123456/task", {}, 404, "route_not_found", None),
    ("empty segment before an action", "post", f"{TASK_URL}//approve", {}, 404, "route_not_found", None),
    ("trailing slash", "get", f"{TASK_URL}/", {}, 404, "route_not_found", None),
    ("parameter given twice", "get", f"{BASE}/task", {"params": [("limit", "abc"), ("limit", "2")]}, 400,
     "invalid_request", ["query.limit"]),
    ("key without a scheme", "get", TASK_URL, {"headers": {"Authorization": "YOUR_API_KEY"}}, 401,
     "missing_api_key", None),
    ("Bearer without a key", "get", TASK_URL, {"headers": {"Authorization": "Bearer "}}, 401, "missing_api_key", None),
    ("another scheme", "get", TASK_URL, {"headers": {"Authorization": "Token abc"}}, 401, "missing_api_key", None),
    ("missing scope", "get", TASK_URL, {"headers": auth("key_task_edit_only")}, 403, "insufficient_scope", None),
    ("project not granted", "get", TASK_URL, {"headers": auth("key_no_project")}, 403, "project_not_granted", None),
]


@pytest.mark.parametrize("name,method,path,kwargs,status,code,locations", CASES, ids=[c[0] for c in CASES])
def test_error_sources_answer_the_envelope(client, name, method, path, kwargs, status, code, locations):
    headers = {**auth(), **kwargs.pop("headers", {})}
    response = getattr(client, method)(path, headers=headers, **kwargs)
    body = assert_envelope(response, status, code)
    if locations is not None:
        assert sorted(d["location"] for d in body["details"]) == sorted(locations)


def test_401_carries_www_authenticate(client):
    response = client.get(TASK_URL)
    assert_envelope(response, 401, "missing_api_key")
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("method,path,allow", [
    ("put", f"{TASK_URL}/unlock", "POST"),      # the workflow prose says PUT; the API says POST (B3)
    ("put", f"{TASK_URL}/discard", "POST"),
    ("delete", TASK_URL, "GET"),
    ("patch", f"{TASK_URL}/complete", "POST"),
    ("post", f"{BASE}/task", "GET"),
])
def test_wrong_method_is_405_naming_the_right_one(client, method, path, allow):
    response = client.request(method.upper(), path, headers=auth())
    body = assert_envelope(response, 405, "method_not_allowed")
    assert response.headers["allow"] == allow
    assert allow in body["error"]


def test_body_over_the_limit_is_413():
    with create_app(max_body_bytes=200).test_client() as client:
        big = {"issues": [{"label": "x" * 150, "value": "y" * 150}]}
        assert_envelope(client.post(REPORT_URL, headers=auth(), json=big), 413, "payload_too_large")


def test_streamed_body_over_the_limit_is_413():
    def chunks():  # no Content-Length: the limit must hold while reading
        yield b'{"issues": [{"label": "'
        for _ in range(50):
            yield b"x" * 10
        yield b'", "value": "v"}]}'

    with create_app(max_body_bytes=200).test_client() as client:
        response = client.post(REPORT_URL, headers={**auth(), **JSON}, content=chunks())
        assert_envelope(response, 413, "payload_too_large")


def test_a_bug_is_a_500_envelope_without_trace(app, client, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(world, "get_task", broken)
    response = client.get(TASK_URL, headers=auth())
    assert_envelope(response, 500, "internal_error")
    assert "secret internals" not in response.text


@pytest.mark.parametrize("method, domain_call, url", [
    ("GET", "get_task", TASK_URL),
    ("GET", "list_tasks", TASK_URL.rsplit("/", 1)[0]),
    ("GET", "get_upload", TASK_URL.split("/task/")[0] + "/upload/upl_123456789"),
    ("POST", "act", TASK_URL + "/approve"),
])
def test_a_response_breaking_the_contract_is_caught(app, client, monkeypatch, method, domain_call, url):
    # Every answer a handler gives is validated (B1), whichever operation gives it.
    monkeypatch.setattr(world, domain_call, lambda *a, **k: {"id": "task_x"})
    response = client.request(method, url, headers=auth())
    body = assert_envelope(response, 500, "internal_error")
    assert "contract" in body["error"]


def test_a_streamed_body_within_the_limit_is_accepted(client):
    def chunks():  # chunked transfer, no Content-Length
        yield b'{"issues": [{"label": "Blurry", '
        yield b'"value": "poor_quality"}]}'

    response = client.post(REPORT_URL, headers={**auth(), **JSON}, content=chunks())
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("path,allow", [(TASK_URL, "GET"), (f"{BASE}/task", "GET"),
                                        (f"{BASE}/upload/upl_123456789", "GET")])
def test_head_is_405_not_a_broken_get(client, path, allow):
    response = client.head(path, headers=auth())
    assert (response.status_code, response.headers["allow"]) == (405, allow)


def test_405_outside_the_contract_still_names_the_methods(client):
    response = client.post("/openapi.json", headers=auth())
    assert_envelope(response, 405, "method_not_allowed")
    assert "GET" in response.headers["allow"]


def test_a_get_with_a_large_body_is_not_refused(client):
    # GET bodies are never read; the contract declares no 413 on GETs.
    response = client.request("GET", TASK_URL, headers=auth(), content=b"x" * (2 * 1024 * 1024))
    assert response.status_code == 200


def test_error_bodies_do_not_echo_huge_input(client):
    response = client.post(REPORT_URL, headers=auth(), json={"issues": "a" * 1_000_000})
    assert_envelope(response, 400, "invalid_request")
    assert len(response.content) < 2000


def test_415_names_what_the_operation_takes(client):
    response = client.post(f"{BASE}/upload", headers={**auth(), **JSON}, content=b"{}")
    body = assert_envelope(response, 415, "unsupported_media_type")
    assert "multipart/form-data" in body["error"]


def test_media_types_are_case_insensitive(client):
    response = client.post(REPORT_URL, headers={**auth(), "Content-Type": "Application/JSON"},
                           content=b'{"issues": [{"label": "x", "value": "y"}]}')
    assert response.status_code == 201, response.text
    bad = client.post(REPORT_URL, headers={**auth(), "Content-Type": "Application/JSON"}, content=b'{"issues": []}')
    assert_envelope(bad, 400, "invalid_request")  # and validated, not waved through


def test_a_number_too_large_for_any_answer_is_invalid_json(client):
    # 1e400 parses to infinity, which no JSON answer can carry back (B1).
    response = client.post(f"{TASK_URL}/report", headers={**auth(), **JSON},
                           content=b'{"issues": [{"label": "x", "value": "y"}], "n": 1e400}')
    assert_envelope(response, 400, "invalid_json")


def test_an_integer_past_64_bits_in_the_world_is_served(client):
    # orjson refuses integers past 64 bits; the answer must still go out, and conform.
    task = {"id": "task_bigwidth001", "name": "Huge page", "created_at": "2024-03-01T00:00:00Z",
            "status": "REVIEWING", "upload_id": "upl_123456789",
            "pages": [{"id": "page_1", "width": 10**20, "height": 1, "annotations": [], "checkboxes": [],
                       "segments": [], "signatures": []}]}
    assert client.post("/_sandbox/fixtures", json={"tasks": [task]}).status_code == 201
    response = client.get(TASK_URL.replace("task_abcdef123456", "task_bigwidth001"), headers=auth())
    assert response.status_code == 200, response.text
    assert response.json()["payload"]["pages"][0]["width"] == 10**20
