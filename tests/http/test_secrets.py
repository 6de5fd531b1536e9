"""The admin token: read from the environment or a file, never in clear in a process of the tree."""
from __future__ import annotations

import hashlib
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from sandbox.http.secrets import AdminToken, TokenError, from_file
from tests import redis_server
from tests.servers import Served

ROOT = Path(__file__).resolve().parents[2]
HEADER = "X-Sandbox-Admin-Token"


@pytest.mark.parametrize("token, given, matches", [
    ("s3cret", b"s3cret", True), ("s3cret", b"s3cret ", False), ("s3cret", b"S3CRET", False),
    ("s3cret", b"", False), ("tøken", "tøken".encode(), True),
])
def test_a_token_matches_only_itself_whether_held_in_clear_or_as_digest(token, given, matches):
    assert AdminToken.of(token).matches(given) is matches
    digest = hashlib.sha256(token.encode()).hexdigest()
    assert AdminToken.of(sha256=digest).matches(given) is matches
    assert token not in repr(AdminToken.of(token)) and digest not in repr(AdminToken.of(token))


def test_no_token_and_no_digest_is_no_guard():
    assert AdminToken.of() is None and AdminToken.of("") is None


@pytest.mark.parametrize("text, token", [("t0k\n", "t0k"), ("  t0k  \nsecond line\n", "t0k"), ("t0k", "t0k")])
def test_the_token_file_gives_its_first_line_stripped(tmp_path, text, token):
    (tmp_path / "token").write_text(text)
    assert from_file(str(tmp_path / "token")) == token


@pytest.mark.parametrize("text, says", [(None, "No such file"), ("", "is empty"), ("  \nt0k\n", "is empty")])
def test_a_missing_or_empty_token_file_is_an_error(tmp_path, text, says):
    if text is not None:
        (tmp_path / "token").write_text(text)
    with pytest.raises(TokenError, match=says):
        from_file(str(tmp_path / "token"))


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([sys.executable, "-m", "sandbox", "serve", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env={**os.environ, **(env or {})})


@pytest.mark.parametrize("content, says", [(None, "cannot read"), ("\n", "is empty")])
def test_serve_with_a_bad_token_file_is_one_line_and_exit_2(tmp_path, content, says):
    path = tmp_path / "token"
    if content is not None:
        path.write_text(content)
    out = run("--admin-token-file", str(path), "--port", "0")
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("task-sandbox: --admin-token-file:") and says in lines[0]


def test_admin_token_on_the_command_line_warns_once_and_names_the_alternatives():
    # a store it cannot use stops serve right after the token is read
    out = run("--admin-token", "T0k", "--store", "mongodb://x")
    warnings = [line for line in out.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "ps" in warnings[0]
    assert "--admin-token-file" in warnings[0] and "TASK_SANDBOX_ADMIN_TOKEN" in warnings[0]
    assert "warning" not in run("--store", "mongodb://x", env={"TASK_SANDBOX_ADMIN_TOKEN": "T0k"}).stderr


def test_the_token_flags_exclude_each_other(tmp_path):
    out = run("--admin-token", "a", "--admin-token-file", str(tmp_path / "t"))
    assert out.returncode == 2 and "not allowed with argument" in out.stderr


def tree(root: int) -> list[int]:
    """root and every process descended from it, from /proc."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # it ended meanwhile
        parents[int(stat.parent.name)] = int(fields[1])
    found = [root]
    for pid in found:
        found.extend(child for child, parent in parents.items() if parent == pid)
    return found


@pytest.fixture
def namespace(redis_url):
    prefix = redis_server.namespace()
    yield prefix
    redis_server.drop(redis_url, prefix)


@pytest.mark.parametrize("source", ["environment", "file"])
def test_workers_never_hold_the_token_in_clear(redis_url, namespace, tmp_path, source):
    token = f"tok-{uuid.uuid4().hex}"
    args = ["--workers", "2", "--store", redis_url, "--namespace", namespace]
    env = {}
    if source == "file":
        (tmp_path / "token").write_text(token + "\n")
        args += ["--admin-token-file", str(tmp_path / "token")]
    else:
        env["TASK_SANDBOX_ADMIN_TOKEN"] = token
    with Served(*args, env=env) as served:
        assert httpx.get(served.url + "/_sandbox/session", timeout=10).status_code == 403
        assert httpx.get(served.url + "/_sandbox/session", headers={HEADER: "wrong"}, timeout=10).status_code == 403
        for _ in range(6):  # several connections: more than one worker answers
            answer = httpx.get(served.url + "/_sandbox/session", timeout=10,
                               headers={HEADER: token, "X-Sandbox-Session": "default@team_123456"})
            assert answer.status_code == 200, answer.text
        pids = tree(served.proc.pid)
        assert len(pids) >= 3, pids  # the server and its two workers at least
        for pid in pids:
            for part in ("environ", "cmdline"):
                try:
                    shown = Path(f"/proc/{pid}/{part}").read_bytes()
                except (FileNotFoundError, ProcessLookupError):
                    continue
                assert token.encode() not in shown, (pid, part)


def test_hosting_with_the_shipped_keys_warns_and_with_keys_of_ones_own_does_not(tmp_path):
    import shutil
    import socket

    own = tmp_path / "fixtures"
    shutil.copytree(ROOT / "fixtures", own)
    world = own / "world.yaml"
    text = world.read_text()
    for public in ("YOUR_API_KEY", "key_task_read_only", "key_task_edit_only", "key_no_project", "key_other_team"):
        text = text.replace(f"key: {public}", f"key: {public.lower()}_{uuid.uuid4().hex}")
    world.write_text(text)
    with socket.socket() as taken:  # serve stops at the busy port, after the app (and its keys) are made
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        shipped = run("--port", port, env={"TASK_SANDBOX_ADMIN_TOKEN": "T0k"})
        mine = run("--port", port, "--fixtures", str(own), env={"TASK_SANDBOX_ADMIN_TOKEN": "T0k"})
        laptop = run("--port", port)
    assert "warning: hosting with the shipped fixtures' API keys (YOUR_API_KEY" in shipped.stderr
    assert "--fixtures DIR" in shipped.stderr
    assert "already in use" in mine.stderr and "warning" not in mine.stderr
    assert "already in use" in laptop.stderr and "warning" not in laptop.stderr  # a laptop holds no teams apart
