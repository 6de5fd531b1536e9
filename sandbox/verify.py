"""`task-sandbox verify`: the contract gate's checks, pointed at any running server."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sandbox import spec
from sandbox.cli import PHASES

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
    """Exit status: 0 clean, 1 violations found, 2 the run itself failed (schemathesis's own)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(spec.PACKAGE_DIR.parent),
                                                                    os.environ.get("PYTHONPATH")]))}
    cmd = command(base_url, api_key, junit_xml, phases or list(PHASES), max_examples, session, max_time)
    return subprocess.call(cmd, env=env)
