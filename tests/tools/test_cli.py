"""The `task-sandbox` command: help, serving on a port, Swagger UI."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import BASE, auth

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, timeout: float = 60, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sandbox", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_help_explains_the_commands():
    out = run("--help")
    assert out.returncode == 0
    assert "serve" in out.stdout and "YOUR_API_KEY" in out.stdout


def test_serve_help_shows_defaults():
    out = run("serve", "--help").stdout
    for text in ("--host", "127.0.0.1", "--port", "4010", "--fixtures", "--cors-origin"):
        assert text in out


def test_no_command_prints_help_and_fails():
    out = run()
    assert out.returncode == 2
    assert "serve" in out.stdout


def test_console_script_is_installed():
    script = Path(sys.executable).with_name("task-sandbox")
    assert script.exists(), "pip install should create the task-sandbox console script"
    out = subprocess.run([str(script), "serve", "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "--port" in out.stdout


@pytest.fixture
def served():
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "sandbox", "serve", "--port", str(port)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/openapi.json", timeout=1)
            break
        except httpx.TransportError:
            if proc.poll() is not None:
                pytest.fail(f"serve exited: {proc.stderr.read()}")
            time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait(10)


def test_serve_answers_the_upstream_curl_example(served):
    # curl -X GET https://api.send.ai/v2/team_123456/project/proj_123456/task/task_abcdef123456
    #      -H "Authorization: Bearer YOUR_API_KEY"
    response = httpx.get(f"{served}{BASE}/task/task_abcdef123456", headers=auth())
    assert response.status_code == 200
    assert response.json()["payload"]["id"] == "task_abcdef123456"


def test_serve_has_swagger_ui_and_the_contract(served):
    ui = httpx.get(f"{served}/ui/")
    assert ui.status_code == 200 and "swagger" in ui.text.lower()
    document = httpx.get(f"{served}/openapi.json").json()
    assert document["info"]["title"] == "Task Management API"
    # Swagger UI's "Try it out" must call this server, not production.
    assert document["servers"][0] == {"url": "/", "description": "this sandbox"}  # then the platform


def test_verify_does_not_import_the_command_line():
    # verify and cli imported each other; cli may import verify, never the other way round.
    code = "import sys, sandbox.tools.verify; sys.exit('sandbox.tools.cli' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


# -- start-up failures: one line, a hint, exit 2 --

def test_a_taken_port_is_one_line_and_exit_2():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        out = run("serve", "--port", str(holder.getsockname()[1]))
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("task-sandbox: port ") and "--port" in lines[0]
    assert "Task API sandbox on" not in out.stderr


def test_an_unknown_host_is_one_line_and_exit_2():
    out = run("serve", "--host", "no-such-host.invalid", env={"TASK_SANDBOX_ADMIN_TOKEN": "t"})
    assert out.returncode == 2
    lines = [line for line in out.stderr.strip().splitlines() if "warning:" not in line]  # the shipped keys'
    assert len(lines) == 1 and "cannot resolve the host 'no-such-host.invalid'" in lines[0]


@pytest.mark.parametrize("args, says", [
    (["--workers", "2"], "--workers 2 needs a shared store: add --store redis://"),
    (["--store", "mongodb://x"], "--store: unknown store 'mongodb://x': use memory, redis://host:port/db or "
                                 "redis+cluster://host:port[,host:port...]"),
    (["--store", "redis+cluster://redis"], "--store: a cluster node is host:port, not 'redis'"),
    (["--store", "redis+cluster://redis:7000/1"], "--store: a Redis Cluster has only database 0"),
])
def test_a_store_it_cannot_use_is_one_line_and_exit_2(args, says):
    out = run("serve", *args)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], out.stderr


def test_port_0_shows_the_port_it_got():
    proc = subprocess.Popen([sys.executable, "-m", "sandbox", "serve", "--port", "0"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        banner = proc.stderr.readline()
        port = int(banner.split("http://127.0.0.1:")[1].split()[0])
        assert port > 0
        response = httpx.get(f"http://127.0.0.1:{port}{BASE}/task/task_abcdef123456", headers=auth(), timeout=10)
        assert response.status_code == 200
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.parametrize("timeout", ["0", "-1", "soon", "301"])
def test_a_webhook_timeout_out_of_range_is_refused(timeout):
    out = run("serve", "--webhook-timeout", timeout)
    assert out.returncode == 2 and f"{timeout!r} is not a number of seconds above 0" in out.stderr


def test_serve_passes_the_allowed_webhook_hosts_on():
    out = run("serve", "--help").stdout
    assert "--webhook-allow-host" in out and "--webhook-timeout" in out
    from sandbox.tools import cli
    from sandbox.app import create_app

    args = cli._parser().parse_args(["serve", "--webhook-allow-host", "hooks.example.com", "--webhook-timeout", "2"])
    with create_app(**cli.app_options(args)).test_client(base_url="http://localhost") as client:  # as serve runs it
        made = client.post("/_sandbox/subscriptions", json={"project_id": "proj_123456",
                                                            "url": "https://hooks.example.com/in"})
        assert made.status_code == 201


@pytest.mark.parametrize("command, mistake", [("serve", "--prot"), ("check", "--nope"),
                                               ("verify", "--base-url=http://x --sesion"),
                                               ("listen", "--forwad-to")])
def test_a_mistyped_flag_shows_the_commands_own_usage(command, mistake):
    out = run(command, *mistake.split())
    assert out.returncode == 2
    assert f"usage: task-sandbox {command}" in out.stderr and mistake.split()[-1] in out.stderr


def test_serve_on_loopback_refuses_another_host(served):
    refused = httpx.get(f"{served}/openapi.json", headers={"Host": "evil.example:4010"})
    assert refused.status_code == 400 and refused.json()["code"] == "host_not_allowed"
    assert httpx.get(f"{served}/openapi.json", headers={"Host": "localhost"}).status_code == 200


@pytest.mark.parametrize("args, served, refused", [
    ([], ["localhost:4010", "127.0.0.1", "[::1]:4010", "app.localhost"], ["evil.example", "box.lan"]),
    (["--host", "localhost"], ["localhost", "127.0.0.1:4010"], ["evil.example"]),
    (["--host", "::1"], ["[::1]:4010", "localhost"], ["evil.example"]),
    (["--allowed-host", "box.lan"], ["box.lan:4010", "localhost"], ["evil.example"]),
    (["--host", "0.0.0.0", "--admin-token", "t"], ["evil.example", "box.lan", "localhost"], []),
    (["--host", "0.0.0.0", "--admin-token", "t", "--allowed-host", "*.example.com"],
     ["sandbox.example.com:4010"], ["localhost", "example.com", "evil.example"]),
], ids=["default", "localhost", "ipv6-loopback", "loopback-plus-named", "other-bind", "other-bind-named"])
def test_which_hosts_serve_answers_to(args, served, refused):
    from sandbox.tools import cli
    from sandbox.app import create_app

    with create_app(**cli.app_options(cli._parser().parse_args(["serve", *args]))).test_client() as client:
        for host in served:
            assert client.get("/openapi.json", headers={"Host": host}).status_code == 200, host
        for host in refused:
            assert client.get("/openapi.json", headers={"Host": host}).json()["code"] == "host_not_allowed", host


def test_serve_passes_the_control_cors_origins_and_only_a_digest_of_the_token():
    from sandbox.tools import cli
    from sandbox.app import create_app

    args = cli._parser().parse_args(["serve", "--control-cors-origin", "http://localhost:3000", "--admin-token", "T0k"])
    options = cli.app_options(args)
    assert "T0k" not in json.dumps(options)  # what workers are handed
    with create_app(**options).test_client(base_url="http://localhost") as client:
        answer = client.options("/_sandbox/journal", headers={
            "Origin": "http://localhost:3000", "Access-Control-Request-Method": "GET"})
        assert answer.headers["access-control-allow-origin"] == "http://localhost:3000"
        assert client.get("/_sandbox/journal", headers={"X-Sandbox-Admin-Token": "T0k",
                                                        "X-Sandbox-Session": "ci@team_123456"}).status_code == 200
        assert client.get("/_sandbox/journal", headers={"X-Sandbox-Admin-Token": "t0k"}).status_code == 403


def test_serve_passes_the_memory_bounds_on():
    from sandbox.tools import cli
    from sandbox.app import create_app

    args = cli._parser().parse_args(["serve", "--inbox-bytes", "1000", "--journal-bytes", "3000",
                                     "--journal-body-bytes", "20"])
    app = create_app(**cli.app_options(args))  # the app serve would run
    assert (app.store.options.inbox_bytes, app.store.options.journal_bytes) == (1000, 3000)
    with app.test_client(base_url="http://localhost") as client:  # serve on loopback checks the Host
        client.post(f"{BASE}/task/task_abcdef123456/report", headers=auth(),
                    json={"issues": [{"label": "a", "value": "b" * 100}]})
        [entry] = client.get("/_sandbox/journal").json()["payload"]
    assert entry["request"]["body"].startswith('{"issues"') and "more bytes not journalled" in entry["request"]["body"]
    defaults = cli._parser().parse_args(["serve"])
    assert (defaults.inbox_bytes, defaults.journal_bytes, defaults.journal_body_bytes) == (32 << 20, 2 << 20, 8 << 10)


@pytest.mark.parametrize("flag", ["--inbox-bytes", "--journal-bytes", "--journal-body-bytes"])
@pytest.mark.parametrize("value", ["0", "-5", "lots"])
def test_a_memory_bound_must_be_a_positive_number(flag, value):
    out = run("serve", flag, value)
    assert out.returncode == 2 and f"{value!r} is not a whole number of at least 1" in out.stderr
