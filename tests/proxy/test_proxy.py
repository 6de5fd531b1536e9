"""task-sandbox proxy over real loopback servers: a sandbox as the upstream, an upstream that breaks the
contract, one that is down or slow, and clients that break it."""
from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from starlette.responses import Response

from sandbox.app import create_app
from sandbox.domain.clock import Clock, parse_timestamp
from sandbox.http.server import ServerThread
from sandbox.proxy.app import create_proxy_app
from tests.conftest import BASE, NOW, auth
from tests.redis_server import free_port
from tests.upstreams import Upstream, json_answer

SESSION = {"X-Sandbox-Session": "suite"}
REPORT = {"message": "Blurry.", "issues": [{"label": "Poor Document Quality", "value": "poor_quality"}]}
TASK = "task_abcdef123456"
# A client's suite: every operation, answers of every kind (successes, refusals, a missing task).
SUITE = [
    ("GET", f"{BASE}/task", {}),
    ("GET", f"{BASE}/task?status=REVIEWING&limit=2", {}),
    ("GET", f"{BASE}/task/{TASK}", {}),
    ("GET", f"{BASE}/task/task_missing00001", {}),
    ("POST", f"{BASE}/task/{TASK}/report", {"json": REPORT}),
    ("POST", f"{BASE}/task/task_invalid000001/complete", {}),
    ("POST", f"{BASE}/task/{TASK}/complete", {}),
    ("POST", f"{BASE}/task/{TASK}/unlock", {}),
    ("POST", f"{BASE}/task/task_email000att2/approve", {}),
    ("POST", f"{BASE}/task/task_email000att2/disapprove", {}),
    ("POST", f"{BASE}/task/task_invalid000002/discard", {}),
    ("POST", f"{BASE}/upload", {"files": {"file": ("scan.pdf", b"%PDF-1.4 scan", "application/pdf")},
                                "data": {"name": "Scan", "meta": json.dumps([{"name": "ref", "value": "A-1"}])}}),
    ("GET", f"{BASE}/upload/upl_123456789", {}),
    ("POST", f"{BASE}/upload/upl_123456789/move/folder_789012", {}),
    ("GET", "/v2/team_654321/project/proj_654321/task", {}),
]


def sandbox() -> ServerThread:
    return ServerThread(create_app(clock=Clock(now=parse_timestamp(NOW), frozen=True)))


@pytest.fixture
def upstream():
    with sandbox() as server:
        yield server


def report(proxy: ServerThread, session: str = "suite") -> dict:
    answer = httpx.get(proxy.url + "/_sandbox/report", params={"session": session})
    assert answer.status_code == 200, answer.text
    return answer.json()["payload"]


def test_a_clients_suite_answers_through_the_proxy_as_it_does_direct_and_its_report_is_clean():
    with sandbox() as direct, sandbox() as behind, ServerThread(create_proxy_app(behind.url)) as proxy:
        for method, path, options in SUITE:
            mine = httpx.request(method, direct.url + path, headers=auth(), **options)
            theirs = httpx.request(method, proxy.url + path, headers={**auth(), **SESSION}, **options)
            assert (theirs.status_code, theirs.headers.get("content-type"), theirs.content) == \
                   (mine.status_code, mine.headers.get("content-type"), mine.content), f"{method} {path}"
        found = report(proxy)
        assert found["requests"] == len(SUITE)
        assert found["violations"]["count"] == 0 and found["violations"]["by_side"] == {"client": 0, "upstream": 0}
        # the upstream's own report saw the same answers: the proxy's coverage is the client's against it
        own = httpx.get(behind.url + "/_sandbox/report").json()["payload"]
        assert found["coverage"] == own["coverage"] and found["refusals"]["by"] == own["refusals"]["by"]


GOOD_TASK = None  # filled from the sandbox below: an answer that keeps the contract


def good_task() -> dict:
    global GOOD_TASK
    if GOOD_TASK is None:
        with create_app().test_client() as client:
            GOOD_TASK = client.get(f"{BASE}/task/{TASK}", headers=auth()).json()
    return GOOD_TASK


@pytest.mark.parametrize("make, kind, location", [
    pytest.param(lambda: json_answer(418, {"error": "teapot", "code": "teapot"}), "undeclared_status", "status",
                 id="undeclared-status"),
    pytest.param(lambda: json_answer(200, {"payload": {**good_task()["payload"], "status": "SLEEPING"}}),
                 "response_body", "body.payload.status", id="body-off-its-schema"),
    pytest.param(lambda: json_answer(200, {"payload": {k: v for k, v in good_task()["payload"].items() if k != "name"}}),
                 "response_body", "body.payload.name", id="body-missing-a-field"),
    pytest.param(lambda: json_answer(200, b"{not json"), "response_body", "body", id="body-not-json"),
    pytest.param(lambda: json_answer(200, good_task(), media=None), "missing_header", "header.Content-Type",
                 id="no-content-type"),
    pytest.param(lambda: json_answer(200, good_task(), media="text/html"), "response_body", "header.Content-Type",
                 id="wrong-content-type"),
])
def test_an_upstream_that_breaks_the_contract_is_reported_on_its_side_and_answered_unchanged(make, kind, location):
    broken = Upstream(make())
    with ServerThread(broken.app) as server, ServerThread(create_proxy_app(server.url)) as proxy:
        answer = httpx.get(proxy.url + f"{BASE}/task/{TASK}", headers={**auth(), **SESSION})
        direct = httpx.get(server.url + f"{BASE}/task/{TASK}", headers=auth())
        assert (answer.status_code, answer.content) == (direct.status_code, direct.content)
        assert answer.headers.get("content-type") == direct.headers.get("content-type")
        found = report(proxy)
    violations = found["violations"]
    assert violations["by_side"] == {"client": 0, "upstream": 1} and violations["by"][kind] == 1
    [entry] = violations["entries"]
    assert (entry["side"], entry["kind"], entry["operation"]) == ("upstream", kind, "getTask")
    assert location in [p["location"] for p in entry["problems"]]
    assert found["requests"] == 1, "an upstream's break is not another request"


CLIENT_BREAKS = [
    pytest.param("GET", f"{BASE}/task?limit=0", {}, auth(), 400, "invalid_request", "query.limit", id="bad-parameter"),
    pytest.param("GET", f"{BASE}/task?colour=red", {}, auth(), 400, "invalid_request", "query.colour", id="unknown-parameter"),
    pytest.param("POST", f"{BASE}/task/{TASK}/report", {"json": {"message": 5}}, auth(), 400, "invalid_request",
                 "body.message", id="bad-body"),
    pytest.param("POST", f"{BASE}/task/{TASK}/report", {"content": b"{", "headers": {"content-type": "application/json"}},
                 auth(), 400, "invalid_request", "body", id="not-json"),
    pytest.param("GET", f"{BASE}/task", {}, {}, 401, "auth", None, id="no-key"),
    pytest.param("GET", f"{BASE}/task", {}, {"Authorization": "Basic dXNlcjpwYXNz"}, 401, "auth", None, id="other-scheme"),
    pytest.param("GET", f"{BASE}/tasks", {}, auth(), 404, "unknown_route", None, id="unknown-route"),
    pytest.param("DELETE", f"{BASE}/task/{TASK}", {}, auth(), 405, "wrong_method", None, id="wrong-method"),
    pytest.param("POST", f"{BASE}/upload", {"files": {"name": (None, "no file")}}, auth(), 400, "invalid_request",
                 "body.file", id="upload-without-a-file"),
]


def requests_seen(server: ServerThread) -> int:
    """How many requests the upstream sandbox got: journalled, or refused before any session."""
    found = httpx.get(server.url + "/_sandbox/report").json()["payload"]
    return found["requests"] + found["unauthenticated"]["requests"]


@pytest.mark.parametrize("method, path, options, headers, status, kind, location", CLIENT_BREAKS)
def test_a_client_that_breaks_the_contract_is_reported_on_its_side_and_still_forwarded(
        upstream, method, path, options, headers, status, kind, location):
    options = dict(options)
    extra = options.pop("headers", {})
    with ServerThread(create_proxy_app(upstream.url)) as proxy:
        answer = httpx.request(method, proxy.url + path, headers={**headers, **extra, **SESSION}, **options)
        found = report(proxy)
    assert answer.status_code == status and requests_seen(upstream) == 1, "forwarded: the upstream answered"
    violations = found["violations"]
    assert violations["by_side"] == {"client": 1, "upstream": 0} and violations["by"][kind] == 1
    [entry] = violations["entries"]
    assert entry["side"] == "client" and entry["kind"] == kind
    if location:
        assert location in [p["location"] for p in entry["problems"]]


@pytest.mark.parametrize("method, path, options, headers, status, kind, location", CLIENT_BREAKS)
def test_strict_answers_a_request_that_breaks_the_contract_as_the_sandbox_would_and_forwards_nothing(
        upstream, method, path, options, headers, status, kind, location):
    options = dict(options)
    extra = options.pop("headers", {})
    with ServerThread(create_proxy_app(upstream.url, strict=True)) as proxy, sandbox() as direct:
        answer = httpx.request(method, proxy.url + path, headers={**headers, **extra, **SESSION}, **options)
        own = httpx.request(method, direct.url + path, headers={**headers, **extra}, **options)
        found = report(proxy)
    assert (answer.status_code, answer.json()) == (own.status_code, own.json()) and answer.status_code == status
    assert requests_seen(upstream) == 0, "nothing reached the upstream"
    assert found["violations"]["by"][kind] == 1 and found["violations"]["entries"][0]["side"] == "client"


def test_the_session_header_stays_with_the_proxy_and_every_other_header_and_the_body_go_up_unchanged():
    seen = Upstream(json_answer(201, good_task()))
    headers = {**auth(), **SESSION, "X-Trace-Id": "abc-123", "Prefer": "code=500", "User-Agent": "partner/1.0",
               "Content-Type": "application/json"}
    body = json.dumps(REPORT).encode()
    with ServerThread(seen.app) as server, ServerThread(create_proxy_app(server.url)) as proxy:
        httpx.post(proxy.url + f"{BASE}/task/{TASK}/report?x=1", headers=headers, content=body)
    [got] = seen.seen
    assert "x-sandbox-session" not in got["headers"]
    for name in ("authorization", "x-trace-id", "prefer", "user-agent", "content-type"):
        assert got["headers"][name] == headers[{k.lower(): k for k in headers}[name]]
    assert "accept-encoding" in got["headers"] and got["body"] == body[:100]
    assert got["path"] == f"{BASE}/task/{TASK}/report"


def test_an_upstream_that_cannot_be_reached_is_a_502_and_one_too_slow_a_504():
    closed = f"http://127.0.0.1:{free_port()}"

    async def slow(_request):
        await asyncio.sleep(3)
        return Response(b"{}", media_type="application/json")

    late = Upstream(slow)
    with ServerThread(create_proxy_app(closed)) as down, ServerThread(late.app) as server, \
            ServerThread(create_proxy_app(server.url, upstream_timeout=0.5)) as waiting:
        unreachable = httpx.get(down.url + f"{BASE}/task", headers={**auth(), **SESSION})
        timed_out = httpx.get(waiting.url + f"{BASE}/task", headers={**auth(), **SESSION})
        journal = httpx.get(down.url + "/_sandbox/journal", headers=SESSION).json()["payload"]
    assert (unreachable.status_code, unreachable.json()["code"]) == (502, "upstream_unreachable")
    assert (timed_out.status_code, timed_out.json()["code"]) == (504, "upstream_timeout")
    assert set(unreachable.json()) >= {"error", "code"} and "--upstream-timeout" in timed_out.json()["error"]
    assert [(e["status"], e["code"], e["verdicts"]["upstream"]) for e in journal] == [(502, "upstream_unreachable", None)]


def test_the_proxy_control_plane_answers_journals_and_reports_only(upstream):
    with ServerThread(create_proxy_app(upstream.url)) as proxy:
        for path in ("/_sandbox/clock", "/_sandbox/faults", "/_sandbox/world"):
            answer = httpx.get(proxy.url + path)
            assert answer.status_code == 404 and "a proxy keeps journals and reports only" in answer.json()["error"]
        httpx.get(proxy.url + f"{BASE}/task", headers={**auth(), **SESSION})
        assert httpx.get(proxy.url + "/_sandbox/journal", headers=SESSION).json()["count"] == 1
        assert httpx.post(proxy.url + "/_sandbox/reset", headers={**SESSION, "X-Sandbox-Client": "test"}).status_code == 200
        assert httpx.get(proxy.url + "/_sandbox/journal", headers=SESSION).json()["count"] == 0
        bad = httpx.get(proxy.url + f"{BASE}/task", headers={**auth(), "X-Sandbox-Session": "no spaces"})
        assert (bad.status_code, bad.json()["code"]) == (400, "invalid_session")
