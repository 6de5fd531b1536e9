"""`task-sandbox listen`, run as a developer runs it: against a served sandbox, forwarding to a real receiver."""
from __future__ import annotations

import signal
import subprocess
import sys
import threading

import httpx
import pytest
from standardwebhooks import Webhook

from tests.receivers import Receiver

SECRET = "whsec_" + "B" * 32


def start(*args) -> tuple[subprocess.Popen, list[str]]:
    process = subprocess.Popen([sys.executable, "-m", "sandbox", "listen", *args], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(iter(process.stdout.readline, "")), daemon=True).start()
    return process, lines


def wait_for(lines: list[str], text: str, process: subprocess.Popen, timeout: float = 20) -> str:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [line for line in lines if text in line]
        if found:
            return found[0]
        if process.poll() is not None:
            break
        time.sleep(0.02)
    raise AssertionError(f"no line with {text!r}; output: {lines}, errors: {process.stderr.read() if process.poll() is not None else ''}")


@pytest.fixture
def forward():
    receiver = Receiver(200)
    yield receiver
    receiver.close()


def test_listen_prints_forwards_and_cleans_up(live, forward):
    process, lines = start("--base-url", live.url, "--forward-to", forward.url, "--secret", SECRET)
    try:
        ready = wait_for(lines, "Ready", process)
        assert SECRET in ready and "proj_123456" in ready
        with httpx.Client(base_url=live.url) as client:
            fired = client.post("/_sandbox/events", json={"upload_id": "upl_123456789", "type": "upload.in_review"})
            event = fired.json()["payload"]
            line = wait_for(lines, event["id"], process)
            assert "IN_REVIEW" in line and "upl_123456789" in line and "-> 200" in line
            headers, body = forward.wait_for(1)[0]
            assert Webhook(SECRET).verify(body, headers) == event["body"]  # forwarded as signed
            assert len(client.get("/_sandbox/subscriptions").json()["payload"]) == 1
            process.send_signal(signal.SIGINT)
            assert process.wait(10) == 0
            assert client.get("/_sandbox/subscriptions").json()["payload"] == []  # deleted on exit
    finally:
        if process.poll() is None:
            process.kill()


@pytest.mark.parametrize("args, text", [
    (["--base-url", "http://127.0.0.1:1"], "no sandbox answers at http://127.0.0.1:1"),
    (["--forward-to", "localhost:3000/hooks"], "--forward-to must be an absolute http:// or https:// URL"),
])
def test_listen_fails_in_one_line(args, text):
    done = subprocess.run([sys.executable, "-m", "sandbox", "listen", *args], capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and text in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_listen_says_why_the_sandbox_refused(live):
    done = subprocess.run([sys.executable, "-m", "sandbox", "listen", "--base-url", live.url, "--project", "proj_nope"],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and "refused to subscribe proj_nope: 404" in done.stderr
