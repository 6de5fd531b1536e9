"""`task-sandbox serve` as a real process (or several, on one Redis), for tests across processes."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx

from tests.redis_server import free_port


class Served:
    """One `task-sandbox serve` on a free port; stopped on exit."""

    def __init__(self, *args: str, env: dict | None = None):
        self.env = env or {}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = [sys.executable, "-m", "sandbox.tools.cli", "serve", "--port", str(self.port),
                     "--log-level", "warning", *args]
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "Served":
        self.proc = subprocess.Popen(self.args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     env={**os.environ, "PYTHONWARNINGS": "ignore", **self.env})
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(self.url + "/openapi.json", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"serve did not start: {self.proc.stderr.read().decode()[-2000:]}")
            time.sleep(0.1)

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
