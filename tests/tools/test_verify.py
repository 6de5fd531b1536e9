"""`task-sandbox verify` against a server that breaks the contract on purpose."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import httpx
import pytest

from sandbox.app import create_app
from sandbox.http.server import ServerThread

ROOT = Path(__file__).resolve().parents[2]
LIST = re.compile(r"^/v2/[^/]+/project/[^/]+/task$")
UPLOAD = re.compile(r"^/v2/[^/]+/project/[^/]+/upload/[^/]+$")


def broken_server():
    """The sandbox, except listTasks answers an undeclared 418 and getUpload a body that
    breaks its schema."""
    inner = create_app()

    async def app(scope, receive, send):
        if scope["type"] == "http" and scope["method"] == "GET":
            if LIST.match(scope["path"]):
                return await _answer(send, 418, b'{"error": "I am a teapot", "code": "teapot"}')
            if UPLOAD.match(scope["path"]):
                return await _answer(send, 200, b'{"payload": {"id": 42}}')
        await inner(scope, receive, send)

    return app


async def _answer(send, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def verify(url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sandbox", "verify", "--base-url", url, *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def broken():
    with ServerThread(broken_server()) as server:
        yield server.url


@pytest.fixture(scope="module")
def broken_run(broken, tmp_path_factory):
    folder = tmp_path_factory.mktemp("verify")
    report, summary = folder / "report.xml", folder / "summary.json"
    out = verify(broken, "--phases", "examples,fuzzing", "--max-examples", "5", "--junit-xml", str(report),
                 "--json", str(summary))
    return out, report, summary


def test_violations_fail_the_run(broken_run):
    out, _, _ = broken_run
    assert out.returncode == 1, out.stdout[-3000:] + out.stderr[-2000:]


@pytest.mark.parametrize("operation,evidence", [
    ("GET /v2/{team_id}/project/{project_id}/task", ["Undocumented status code", "418"]),
    ("GET /v2/{team_id}/project/{project_id}/upload/{upload_id}", ["Response violates schema"]),
])
def test_each_violation_is_reported_with_its_operation_check_and_curl(broken_run, operation, evidence):
    out, _, _ = broken_run
    section = out.stdout.split(operation, 1)
    assert len(section) == 2, out.stdout[-4000:]
    after = section[1][:4000]
    assert all(text in after for text in evidence), after
    assert "curl -X GET" in after


def test_the_junit_report_names_the_failing_operations(broken_run):
    _, report, _ = broken_run
    root = ElementTree.parse(report).getroot()
    failing = {case.get("name") for case in root.iter("testcase")
               if case.find("failure") is not None or case.find("error") is not None}
    assert any("/task" in name and "{task_id}" not in name for name in failing), failing
    assert any("/upload/{upload_id}" in name for name in failing), failing


def test_the_json_summary_says_the_verdict_and_each_failure(broken_run):
    out, report, summary = broken_run
    found = json.loads(summary.read_text())
    assert (found["verdict"], found["exit_status"]) == ("violations", 1)
    failing = {case["name"]: case["failures"] for case in found["operations"] if case["failures"]}
    assert any("/upload/{upload_id}" in name for name in failing), failing
    assert all(messages and all(messages) for messages in failing.values())
    assert str(report) in out.stdout  # the report asked for is named; a temporary one never is


def test_the_output_names_no_file_that_will_not_exist_and_keeps_the_session_for_replay(tmp_path):
    app = create_app()
    with ServerThread(app) as server:
        out = verify(server.url, "--phases", "examples", "--max-examples", "2", "--json", str(tmp_path / "s.json"))
    assert out.returncode == 0, out.stdout[-2000:]
    assert "JUnit" not in out.stdout and "report.xml" not in out.stdout  # no path to a report that is gone
    assert "Schema validation mismatch" not in out.stdout
    assert json.loads((tmp_path / "s.json").read_text())["verdict"] == "clean"


def test_replayed_requests_keep_their_session_and_hide_the_key():
    import schemathesis

    from sandbox.tools.verify import CONFIG

    sanitization = schemathesis.Config.from_path(CONFIG).output.sanitization
    from schemathesis.core.output.sanitization import is_sensitive_key

    sensitive = lambda key: is_sensitive_key(key, sanitization.keys_to_sanitize, sanitization.sensitive_markers)  # noqa: E731
    assert not sensitive("X-Sandbox-Session") and sensitive("Authorization") and sensitive("X-Sandbox-Admin-Token")


def test_verify_explains_itself():
    out = subprocess.run([sys.executable, "-m", "sandbox", "verify", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "--base-url" in out.stdout and "--junit-xml" in out.stdout


def test_unknown_phase_is_refused():
    out = verify("http://127.0.0.1:9", "--phases", "examples,everything")
    assert out.returncode == 2 and "everything" in out.stderr


def test_a_server_that_does_not_answer_is_exit_2_not_a_violation():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    out = verify(f"http://127.0.0.1:{port}")  # every phase: it must not try them
    assert out.returncode == 2, out.stdout[-2000:]
    assert out.stdout == "", "no phase ran"
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"task-sandbox: nothing answers at http://127.0.0.1:{port}")


def test_verify_leaves_the_sandbox_it_checks_as_it_was(tmp_path):
    """A shared sandbox (a browser app, Swagger UI on the default session) must not see the
    fuzzed world: the run works in a fresh session and deletes it afterwards."""
    app = create_app()
    with ServerThread(app) as server:
        state = lambda: {k: v for k, v in httpx.get(f"{server.url}/_sandbox/session").json()["payload"].items()
                         if k != "clock"}  # a running clock moves on by itself
        before = state()
        out = verify(server.url, "--phases", "examples,fuzzing,stateful", "--max-examples", "5")
        assert out.returncode == 0, out.stdout[-2000:]
        used = re.search(r"X-Sandbox-Session: (verify-[0-9a-f]+)", out.stderr)
        assert used, out.stderr
        assert state() == before
        assert httpx.get(f"{server.url}/_sandbox/sessions").json()["payload"] == ["default"]
