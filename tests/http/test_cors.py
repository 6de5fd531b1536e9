"""CORS for a browser frontend at http://localhost:3000, and OPTIONS without a preflight."""
from __future__ import annotations

import pytest

from sandbox.app import create_app
from tests.conftest import BASE, auth

FRONTEND = "http://localhost:3000"
EVIL = "http://evil.example"
TASK = f"{BASE}/task/task_abcdef123456"


def preflight(client, path: str, method: str = "POST", origin: str = FRONTEND,
              request_headers: str = "authorization,content-type"):
    return client.options(path, headers={
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": request_headers,
    })


def header_set(response, name: str) -> set[str]:
    return {part.strip().lower() for part in response.headers.get(name, "").split(",") if part.strip()}


def assert_envelope(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert {"error", "code"} <= set(body) <= {"error", "code", "details"}
    assert isinstance(body["error"], str) and isinstance(body["code"], str)
    assert code is None or body["code"] == code, body
    return body


@pytest.fixture
def restricted():
    """An app that admits only the frontend's origin."""
    with create_app(cors_origins=[FRONTEND]).test_client() as c:
        yield c


# -- preflight (default app: any origin) --

@pytest.mark.parametrize("method, path", [
    ("POST", f"{TASK}/complete"),
    ("POST", f"{TASK}/report"),
    ("POST", f"{TASK}/unlock"),
    ("GET", TASK),
    ("GET", f"{BASE}/task"),
    ("GET", f"{BASE}/upload/upl_123456789"),
])
def test_preflight_admits_the_frontend(client, method, path):
    response = preflight(client, path, method)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] in ("*", FRONTEND)
    assert {"authorization", "content-type"} <= header_set(response, "access-control-allow-headers")
    assert method.lower() in header_set(response, "access-control-allow-methods")


def test_preflight_does_not_run_the_operation(client):
    assert preflight(client, f"{TASK}/complete").status_code == 200
    task = client.get(TASK, headers=auth()).json()["payload"]
    assert task["status"] == "REVIEWING"


# -- actual responses carry CORS headers, errors included --

ACTUAL = [
    pytest.param("GET", TASK, auth(), 200, None, id="get-200"),
    pytest.param("POST", f"{TASK}/complete", auth(), 200, None, id="complete-200"),
    pytest.param("GET", TASK, {}, 401, "missing_api_key", id="no-key-401"),
    pytest.param("GET", TASK, auth("key_task_edit_only"), 403, "insufficient_scope", id="scope-403"),
    pytest.param("GET", f"{BASE}/task/task_doesnotexist", auth(), 404, "task_not_found", id="unknown-task-404"),
    pytest.param("GET", "/v2/nowhere", auth(), 404, "route_not_found", id="unknown-route-404"),
    pytest.param("PUT", f"{TASK}/unlock", auth(), 405, "method_not_allowed", id="put-405"),
    pytest.param("GET", f"{BASE}/task?limit=0", auth(), 400, "invalid_request", id="bad-query-400"),
]


@pytest.mark.parametrize("method, path, headers, status, code", ACTUAL)
def test_responses_carry_allow_origin(client, method, path, headers, status, code):
    response = client.request(method, path, headers={**headers, "Origin": FRONTEND})
    assert response.status_code == status, response.text
    if code is not None:
        assert_envelope(response, status, code)
    assert response.headers["access-control-allow-origin"] in ("*", FRONTEND)


@pytest.mark.parametrize("method, path, headers, exposed", [
    pytest.param("GET", TASK, {}, "www-authenticate", id="401-challenge"),
    pytest.param("PUT", f"{TASK}/unlock", auth(), "allow", id="405-allow"),
])
def test_error_headers_are_readable_by_the_frontend(client, method, path, headers, exposed):
    response = client.request(method, path, headers={**headers, "Origin": FRONTEND})
    assert exposed in {h.lower() for h in response.headers}
    assert exposed in header_set(response, "access-control-expose-headers")


# -- restricted origins --

def test_restricted_preflight_admits_only_the_listed_origin(restricted):
    allowed = preflight(restricted, f"{TASK}/complete", origin=FRONTEND)
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == FRONTEND
    assert {"authorization", "content-type"} <= header_set(allowed, "access-control-allow-headers")

    refused = preflight(restricted, f"{TASK}/complete", origin=EVIL)
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers


@pytest.mark.parametrize("origin, allow_origin", [(FRONTEND, FRONTEND), (EVIL, None)])
@pytest.mark.parametrize("headers, status", [(auth(), 200), ({}, 401)], ids=["200", "401"])
def test_restricted_actual_responses(restricted, origin, allow_origin, headers, status):
    response = restricted.get(TASK, headers={**headers, "Origin": origin})
    assert response.status_code == status
    assert response.headers.get("access-control-allow-origin") == allow_origin
    assert "origin" in header_set(response, "vary")


def test_refused_preflight_is_an_enveloped_error(restricted):
    body = assert_envelope(preflight(restricted, f"{TASK}/complete", origin=EVIL), 400)
    assert body["code"] == "cors_preflight_refused"
    assert f"--cors-origin {EVIL}" in body["error"]


def test_a_refused_method_does_not_blame_the_origin(client):
    body = assert_envelope(preflight(client, f"{TASK}/complete", method="PATCH"), 400)
    assert "method" in body["error"].lower() and "--cors-origin" not in body["error"]


# -- OPTIONS without a preflight: the sandbox's documented 405 --

@pytest.mark.parametrize("path, allow", [
    (f"{TASK}/complete", {"POST"}),
    (f"{TASK}/report", {"POST"}),
    (TASK, {"GET"}),
    (f"{BASE}/task", {"GET"}),
    (f"{BASE}/upload/upl_123456789", {"GET"}),
])
@pytest.mark.parametrize("headers", [{}, {"Origin": FRONTEND}], ids=["plain", "origin-only"])
def test_plain_options_is_405_with_the_spec_methods(client, path, allow, headers):
    response = client.options(path, headers=headers)
    assert_envelope(response, 405, "method_not_allowed")
    assert {m.strip() for m in response.headers["allow"].split(",")} == allow


@pytest.mark.parametrize("sent", [
    "sentry-trace,baggage", "traceparent,tracestate", "x-request-id", "authorization,x-made-up-header",
])
def test_preflight_admits_the_headers_libraries_add(client, sent):
    # Sentry and OpenTelemetry add these by themselves; a refusal would block the whole app.
    response = preflight(client, TASK, method="GET", request_headers=sent)
    assert response.status_code == 200
    assert set(sent.split(",")) <= header_set(response, "access-control-allow-headers")


def test_a_refused_preflight_names_the_method_and_the_origin(restricted):
    body = assert_envelope(preflight(restricted, f"{TASK}/complete", origin=EVIL, method="PATCH"), 400)
    assert "PATCH" in body["error"] and EVIL in body["error"] and f"--cors-origin {EVIL}" in body["error"]


# -- the control plane: no CORS unless origins are named for it --

CONTROL = [("GET", "/_sandbox/journal"), ("GET", "/_sandbox/session"), ("POST", "/_sandbox/reset"),
           ("DELETE", "/_sandbox/session"), ("PATCH", "/_sandbox/world")]


@pytest.mark.parametrize("origin", [FRONTEND, EVIL])
@pytest.mark.parametrize("path", ["/_sandbox/journal", "/_sandbox/session", "/_sandbox/"])
def test_the_control_plane_answers_no_cors_to_another_origin(client, origin, path):
    response = client.get(path, headers={"Origin": origin})
    assert response.status_code == 200
    assert not [h for h in response.headers if h.lower().startswith("access-control-")], response.headers


@pytest.mark.parametrize("method, path", CONTROL)
def test_a_preflight_to_the_control_plane_is_refused(client, method, path):
    response = preflight(client, path, method, origin=FRONTEND, request_headers="content-type,x-sandbox-session")
    body = assert_envelope(response, 400, "cors_preflight_refused")
    assert f"--control-cors-origin {FRONTEND}" in body["error"]
    assert not [h for h in response.headers if h.lower().startswith("access-control-")]


@pytest.fixture
def control_cors():
    with create_app(control_cors_origins=[FRONTEND]).test_client() as c:
        yield c


@pytest.mark.parametrize("method, path", CONTROL)
def test_a_named_origin_may_call_the_control_plane(control_cors, method, path):
    allowed = preflight(control_cors, path, method, request_headers="content-type,x-sandbox-session")
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == FRONTEND
    assert method.lower() in header_set(allowed, "access-control-allow-methods")
    body = assert_envelope(preflight(control_cors, path, method, origin=EVIL), 400, "cors_preflight_refused")
    assert f"--control-cors-origin {EVIL}" in body["error"]


@pytest.mark.parametrize("origin, allow_origin", [(FRONTEND, FRONTEND), (EVIL, None)])
def test_a_named_origin_reads_the_control_plane_and_no_other(control_cors, origin, allow_origin):
    response = control_cors.get("/_sandbox/journal", headers={"Origin": origin})
    assert response.status_code == 200
    assert response.headers.get("access-control-allow-origin") == allow_origin


@pytest.mark.parametrize("path", [TASK, "/openapi.json", "/ui/"])
@pytest.mark.parametrize("make", [dict, lambda: {"control_cors_origins": [FRONTEND]}], ids=["default", "control-named"])
def test_the_public_apis_cors_is_unchanged_by_the_control_planes(make, path):
    with create_app(**make()).test_client() as c:
        response = c.get(path, headers={**auth(), "Origin": EVIL})
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == "*"
        assert preflight(c, TASK, "GET", origin=EVIL).headers["access-control-allow-origin"] == "*"
