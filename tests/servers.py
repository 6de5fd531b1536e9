"""`task-sandbox serve` as a real process (or several, on one Redis), for tests across processes."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx

from tests.redis_server import free_port


class Served:
    """One `task-sandbox serve` (or `proxy`, with `command`) on a free port; stopped on exit. Its
    stderr goes to a pipe, or to the file `log` names."""

    def __init__(self, *args: str, env: dict | None = None, command: str = "serve", log=None):
        self.env = env or {}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = [sys.executable, "-m", "sandbox.tools.cli", command, "--port", str(self.port),
                     *(["--log-level", "warning"] if "--log-level" not in args else []), *args]
        self.log = log
        self.ready = "/openapi.json" if command == "serve" else "/_sandbox/sessions"  # a proxy serves no spec
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "Served":
        self.proc = subprocess.Popen(self.args, stdout=subprocess.DEVNULL,
                                     stderr=open(self.log, "wb") if self.log else subprocess.PIPE,
                                     env={**os.environ, "PYTHONWARNINGS": "ignore", **self.env})
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(self.url + self.ready, timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.proc.kill()  # one still starting would never end its stderr: reading it would hang
                self.proc.wait()
                said = open(self.log).read() if self.log else self.proc.stderr.read().decode()
                raise RuntimeError(f"{self.args[3]} did not start: {said[-2000:]}")
            time.sleep(0.1)

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
