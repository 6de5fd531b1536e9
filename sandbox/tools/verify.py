"""`task-sandbox verify`: the contract gate's checks, pointed at any running server."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import uuid
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import httpx

from sandbox import spec

PHASES = ("examples", "coverage", "fuzzing", "stateful")  # schemathesis phases, in the order they run

CONFIG = spec.PACKAGE_DIR / "tools" / "schemathesis.toml"


def command(base_url: str, api_key: str, junit_xml: str | None, phases: list[str], max_examples: int | None,
            session: str | None, max_time: int | None) -> list[str]:
    """Schemathesis's CLI over the packaged contract: every default check, positive and
    negative data, all phases, the sandbox's own check and narrowing from the one config."""
    cmd = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(CONFIG), "run",
           str(spec.resource_path("openapi.yaml")), "--url", base_url.rstrip("/"),
           "--header", f"Authorization: Bearer {api_key}", "--phases", ",".join(phases),
           "--checks", "all", "--mode", "all", "--no-color", "--workers", "1"]
    if session:
        cmd += ["--header", f"X-Sandbox-Session: {session}"]
    if max_examples:
        cmd += ["--max-examples", str(max_examples)]
    if max_time:
        cmd += ["--max-time", str(max_time)]
    if junit_xml:
        cmd += ["--report", "junit", "--report-junit-path", str(Path(junit_xml).resolve())]
    return cmd


def run(base_url: str, api_key: str = "YOUR_API_KEY", junit_xml: str | None = None,
        phases: list[str] | None = None, max_examples: int | None = None, session: str | None = None,
        max_time: int | None = None, json_path: str | None = None) -> int:
    """Exit status: 0 clean, 1 violations found, 2 nothing could be checked (the server did not
    answer, or the run itself failed). Without `session`, a sandbox is checked in a fresh
    session of its own, deleted afterwards, so that the fuzzed data never reaches the
    session others use (a real deployment ignores the header)."""
    problem = unreachable(base_url)
    if problem:
        print(f"task-sandbox: nothing answers at {base_url} ({problem}); start the server "
              "(task-sandbox serve) or fix --base-url", file=sys.stderr)
        return 2
    own = session is None
    if own:
        session = f"verify-{uuid.uuid4().hex[:12]}"
        print(f"verify: checking in a fresh X-Sandbox-Session: {session} (give --session to choose one)",
              file=sys.stderr)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(spec.PACKAGE_DIR.parent),
                                                                    os.environ.get("PYTHONPATH")]))}
    try:
        with tempfile.TemporaryDirectory() as scratch:
            report = junit_xml or str(Path(scratch) / "report.xml")
            cmd = command(base_url, api_key, report, phases or list(PHASES), max_examples, session, max_time)
            status = _run(cmd, env, hide=None if junit_xml else scratch)
            status = 2 if status == 1 and _only_errors(Path(report)) else status
            if json_path:
                summary = {"base_url": base_url, "session": session, "phases": phases or list(PHASES),
                           "exit_status": status, "verdict": VERDICTS.get(status, "run failed"),
                           "operations": _cases(Path(report))}
                Path(json_path).write_text(json.dumps(summary, indent=2) + "\n")
            return status
    finally:
        if own:
            _forget(base_url, session)


VERDICTS = {0: "clean", 1: "violations", 2: "nothing checked"}


def _run(cmd: list[str], env: dict, hide: str | None) -> int:
    """Schemathesis's output, as it comes, but for the line naming a report in `hide` (the
    scratch directory, gone when the run ends): a path nobody can open is no help."""
    with subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True, bufsize=1) as process:
        for line in process.stdout:
            if hide is None or hide not in line:
                sys.stdout.write(line)
        return process.wait()


def _cases(report: Path) -> list[dict]:
    """Each test case of the JUnit report: its name, and the message of each failure or error."""
    try:
        root = ElementTree.parse(report).getroot()
    except (OSError, ElementTree.ParseError):
        return []
    return [{"name": case.get("name"),
             "failures": [(f.get("message") or f.text or "").strip() for f in case.iter("failure")],
             "errors": [(e.get("message") or e.text or "").strip() for e in case.iter("error")]}
            for case in root.iter("testcase")]


def unreachable(base_url: str) -> str | None:
    """Why nothing answers at `base_url`, or None when something does (whatever its answer)."""
    try:
        httpx.get(base_url.rstrip("/") + "/openapi.json", timeout=5)
        return None
    except httpx.InvalidURL as exc:
        return f"not a URL: {exc}"
    except httpx.TransportError as exc:
        return str(exc) or type(exc).__name__
    except ValueError as exc:  # httpx refuses some malformed URLs this way
        return f"not a URL: {exc}"


def _forget(base_url: str, session: str) -> None:
    """Delete the run's session on a sandbox; anything else (a deployment, a closed control
    plane) keeps nothing of it anyway."""
    try:
        httpx.delete(base_url.rstrip("/") + "/_sandbox/session", timeout=5,
                     headers={"X-Sandbox-Session": session, "X-Sandbox-Client": "task-sandbox-verify"})
    except httpx.HTTPError:
        pass


def _only_errors(report: Path) -> bool:
    """Schemathesis exits 1 both for violations and for a run that could not test (a server
    that does not answer); CI must tell "contract broken" from "nothing was checked"."""
    try:
        suites = ElementTree.parse(report).getroot().iter("testsuite")
        totals = [(int(s.get("failures", 0)), int(s.get("errors", 0))) for s in suites]
    except (OSError, ElementTree.ParseError, ValueError):
        return False
    return sum(f for f, _ in totals) == 0 and sum(e for _, e in totals) > 0
