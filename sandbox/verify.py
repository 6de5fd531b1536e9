"""`task-sandbox verify`: the contract gate's checks, pointed at any running server."""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from sandbox import spec

PHASES = ("examples", "coverage", "fuzzing", "stateful")  # schemathesis phases, in the order they run

CONFIG = spec.PACKAGE_DIR / "schemathesis.toml"


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
        max_time: int | None = None) -> int:
    """Exit status: 0 clean, 1 violations found, 2 nothing could be checked (the server did not
    answer, or the run itself failed)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(spec.PACKAGE_DIR.parent),
                                                                    os.environ.get("PYTHONPATH")]))}
    with tempfile.TemporaryDirectory() as scratch:
        report = junit_xml or str(Path(scratch) / "report.xml")
        cmd = command(base_url, api_key, report, phases or list(PHASES), max_examples, session, max_time)
        status = subprocess.call(cmd, env=env)
        return 2 if status == 1 and _only_errors(Path(report)) else status


def _only_errors(report: Path) -> bool:
    """Schemathesis exits 1 both for violations and for a run that could not test (a server
    that does not answer); CI must tell "contract broken" from "nothing was checked"."""
    try:
        suites = ElementTree.parse(report).getroot().iter("testsuite")
        totals = [(int(s.get("failures", 0)), int(s.get("errors", 0))) for s in suites]
    except (OSError, ElementTree.ParseError, ValueError):
        return False
    return sum(f for f, _ in totals) == 0 and sum(e for _, e in totals) > 0
