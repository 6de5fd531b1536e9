"""What keeps web pages out: the Host check (DNS rebinding) and the control plane's refusal of
calls a cross-site form could send, over HTTP."""
from __future__ import annotations

import socket

import httpx
import pytest

from sandbox.app import create_app
from sandbox.http.edge import LOOPBACK_HOSTS
from sandbox.http.server import ServerThread
from tests.conftest import BASE, auth
from tests.http.test_cors import assert_envelope

TASK = f"{BASE}/task/task_abcdef123456"
MARK = {"X-Sandbox-Client": "tests"}


@pytest.fixture(scope="module")
def loopback():
    """A live server as `serve` on 127.0.0.1 runs it: only loopback names in Host, plus one named."""
    with ServerThread(create_app(allowed_hosts=[*LOOPBACK_HOSTS, "sandbox.internal"])) as server:
        yield server


def port(server) -> int:
    return int(server.url.rsplit(":", 1)[1])


PATHS = [TASK, "/_sandbox/session", "/", "/openapi.json", "/_sandbox/"]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "evil.example:4010",
                                  "localhost.evil.example", "127.0.0.1.nip.io:{port}", "0.0.0.0:{port}",
                                  "10.0.0.1", "[::2]:{port}", "localhost:x"])
def test_a_host_that_names_another_server_is_refused(loopback, path, host):
    sent = host.format(port=port(loopback))
    response = httpx.get(loopback.url + path, headers={**auth(), "Host": sent})
    body = assert_envelope(response, 400, "host_not_allowed")
    assert sent in body["error"] and f"http://localhost:{port(loopback)}" in body["error"]
    assert "--allowed-host" in body["error"]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("host", ["localhost", "localhost:{port}", "LocalHost:{port}", "localhost.:{port}",
                                  "app.localhost:{port}", "127.0.0.1:{port}", "127.1.2.3", "[::1]:{port}",
                                  "[::1]", "sandbox.internal:{port}"])
def test_loopback_names_and_addresses_are_served(loopback, path, host):
    response = httpx.get(loopback.url + path, headers={**auth(), "Host": host.format(port=port(loopback))})
    assert response.status_code == 200, response.text


def test_a_request_without_a_host_is_refused(loopback):
    with socket.create_connection(("127.0.0.1", port(loopback)), timeout=10) as conn:
        conn.sendall(b"GET /openapi.json HTTP/1.0\r\n\r\n")
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400") and b'"code":"host_not_allowed"' in body


def test_without_allowed_hosts_any_host_is_served(live):
    assert httpx.get(live.url + TASK, headers={**auth(), "Host": "evil.example"}).status_code == 200


# -- state-changing control calls a form could send are refused, and change nothing --

FORMS = [
    pytest.param({"Content-Type": "text/plain"}, b'{"scenario": "empty"}', id="text-plain"),
    pytest.param({"Content-Type": "application/x-www-form-urlencoded"}, b"scenario=empty", id="urlencoded"),
    pytest.param({"Content-Type": "multipart/form-data; boundary=x"},
                 b'--x\r\nContent-Disposition: form-data; name="scenario"\r\n\r\nempty\r\n--x--\r\n', id="multipart"),
    pytest.param({}, b"", id="no-content-type"),
]


def discarded(client, session: str) -> None:
    headers = {**auth(), "X-Sandbox-Session": session}
    assert client.post(f"{TASK}/discard", headers=headers).status_code == 200


def status(client, session: str) -> str:
    return client.get(TASK, headers={**auth(), "X-Sandbox-Session": session}).json()["payload"]["status"]


@pytest.mark.parametrize("headers, body", FORMS)
def test_a_reset_a_form_could_send_is_refused_and_changes_nothing(client, headers, body):
    discarded(client, "victim")
    response = client.post("/_sandbox/reset", content=body, headers={**headers, "X-Sandbox-Session": "victim"})
    error = assert_envelope(response, 403, "control_call_unmarked")["error"]
    assert "Content-Type: application/json" in error and "X-Sandbox-Client" in error
    assert status(client, "victim") == "DISCARDED"


@pytest.mark.parametrize("headers, body", [
    pytest.param({"Content-Type": "application/json"}, b"{}", id="json"),
    pytest.param({"Content-Type": "Application/JSON; charset=utf-8"}, b"{}", id="json-any-case"),
    pytest.param(MARK, b"", id="x-sandbox-client"),
    pytest.param(auth(), b"", id="authorization"),
    pytest.param({"X-Sandbox-Admin-Token": "anything"}, b"", id="admin-token"),
])
def test_a_reset_marked_as_no_form_works(client, headers, body):
    discarded(client, "mine")
    response = client.post("/_sandbox/reset", content=body, headers={**headers, "X-Sandbox-Session": "mine"})
    assert response.status_code == 200, response.text
    assert status(client, "mine") == "REVIEWING"


@pytest.mark.parametrize("headers, body", FORMS)
def test_deleting_a_session_as_a_form_could_is_refused(client, headers, body):
    discarded(client, "victim")
    response = client.request("DELETE", "/_sandbox/session", content=body,
                              headers={**headers, "X-Sandbox-Session": "victim"})
    assert_envelope(response, 403, "control_call_unmarked")
    assert "victim" in client.get("/_sandbox/sessions").json()["payload"]
    assert status(client, "victim") == "DISCARDED"
    gone = client.delete("/_sandbox/session", headers={**MARK, "X-Sandbox-Session": "victim"})
    assert gone.status_code == 204
    assert "victim" not in client.get("/_sandbox/sessions").json()["payload"]


@pytest.mark.parametrize("method, path", [
    ("PUT", "/_sandbox/tasks/task_abcdef123456/status"),
    ("POST", "/_sandbox/clock"),
    ("POST", "/_sandbox/faults"),
    ("DELETE", "/_sandbox/journal"),
    ("DELETE", "/_sandbox/inbox/mine"),
])
def test_every_state_changing_control_call_is_guarded(client, method, path):
    response = client.request(method, path, content=b"{}", headers={"Content-Type": "text/plain",
                                                                     "X-Sandbox-Session": "fresh"})
    assert_envelope(response, 403, "control_call_unmarked")
    assert "fresh" not in client.get("/_sandbox/sessions").json()["payload"]  # refused before one was made


def test_the_inbox_receiver_is_not_guarded(client):
    # webhook senders post there without marks: only the inbox's own rule (JSON bodies) applies
    sent = client.post("/_sandbox/inbox/hooks", content=b'{"hello": 1}', headers={"Content-Type": "text/plain"})
    assert_envelope(sent, 415, "unsupported_media_type")
    assert client.post("/_sandbox/inbox/hooks", json={"hello": 1}).status_code < 300
    assert client.get("/_sandbox/inbox/hooks").json()["count"] == 1


def test_reads_and_the_public_api_need_no_mark(client):
    assert client.get("/_sandbox/journal").status_code == 200
    assert client.post(f"{TASK}/discard", headers=auth()).status_code == 200  # no content type, as today
