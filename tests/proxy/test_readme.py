"""The README's "In front of the real API" commands, run as written against a real upstream and a real proxy."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest

from sandbox.app import create_app
from sandbox.http.server import ServerThread
from tests.conftest import BASE
from tests.redis_server import free_port
from tests.upstreams import Upstream, json_answer

README = Path(__file__).parents[2] / "README.md"
GOOD = f'curl -sf -H "Authorization: Bearer YOUR_API_KEY" "$API_BASE_URL{BASE}/task/task_abcdef123456" > /dev/null\n'
BAD = f'curl -s -H "Authorization: Bearer YOUR_API_KEY" "$API_BASE_URL{BASE}/task?limit=0" > /dev/null\n'


def commands() -> str:
    section = README.read_text().split("## In front of the real API", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)


def run(tmp_path: Path, platform: str, suite: str) -> subprocess.CompletedProcess:
    """The README's block in bash -e, with its port free and `./run-integration-tests` a suite of curl calls."""
    port = str(free_port())
    script = tmp_path / "run-integration-tests"
    script.write_text("#!/bin/bash\nset -e\n" + suite)
    script.chmod(0o755)
    env = {**os.environ, "PLATFORM_URL": platform, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    out, err = tmp_path / "out", tmp_path / "err"  # files: the proxy in the background keeps a pipe open
    with open(out, "w") as stdout, open(err, "w") as stderr:
        proc = subprocess.Popen(["bash", "-e", "-c", commands().replace("4011", port)], cwd=tmp_path, env=env,
                                stdout=stdout, stderr=stderr, start_new_session=True)
        try:
            proc.wait(timeout=60)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)  # the proxy the block started in the background
    return subprocess.CompletedProcess(proc.args, proc.returncode, out.read_text(), err.read_text())


def cases(tmp_path: Path) -> dict[str, list[str]]:
    """JUnit test cases by what they say: failed, skipped."""
    root = ElementTree.parse(tmp_path / "contract.xml").getroot()
    return {kind: [c.get("classname") + ": " + c.get("name") for c in root.iter("testcase") if c.find(kind) is not None]
            for kind in ("failure", "skipped")}


@pytest.mark.parametrize("suite, status, client, failed", [
    pytest.param(GOOD, 0, 0, [], id="clean"),
    pytest.param(GOOD + BAD, 1, 1, ["contract: listTasks (GET /v2/{team_id}/project/{project_id}/task)"],
                 id="the-client-broke-it"),
])
def test_the_job_fails_on_the_clients_violations_only(tmp_path, suite, status, client, failed):
    with ServerThread(create_app()) as platform:
        done = run(tmp_path, platform.url, suite)
    assert done.returncode == status, done.stdout + done.stderr
    report = json.loads((tmp_path / "contract.json").read_text())
    assert report["violations"]["by_side"] == {"client": client, "upstream": 0}
    assert cases(tmp_path)["failure"] == failed


def test_the_platforms_drift_is_kept_and_does_not_fail_the_job(tmp_path):
    drifting = Upstream(json_answer(299, {"payload": None}))
    with ServerThread(drifting.app) as platform:
        done = run(tmp_path, platform.url, GOOD.replace("curl -sf", "curl -s"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Upstream side (the answer broke the contract" in done.stdout
    report = json.loads((tmp_path / "contract.json").read_text())
    assert report["violations"]["by_side"] == {"client": 0, "upstream": 1}
    found = cases(tmp_path)
    assert found["failure"] == [] and [c for c in found["skipped"] if c.startswith("upstream:")] == [
        "upstream: upstream answers of getTask"]
