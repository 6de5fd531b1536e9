"""`task-sandbox proxy` as a real process: a 40 MB upload streamed in bounded memory, secrets kept out of
everything it writes, and a recording that serves what the upstream answered."""
from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest

from sandbox.app import create_app
from sandbox.domain.clock import Clock, parse_timestamp
from sandbox.domain.uploads import MAX_FILE_BYTES
from sandbox.http.server import ServerThread
from sandbox.proxy.app import create_proxy_app
from tests.conftest import BASE, NOW, auth
from tests.servers import Served

SESSION = {"X-Sandbox-Session": "ci-1"}
BOUNDARY = "sandbox-test-boundary"
CHUNK = 256 * 1024


def peak_kib(pid: int) -> int:
    """The process's peak resident memory (VmHWM), in KiB."""
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))


def multipart(size: int, marker: bytes = b"") -> tuple[int, object]:
    """A createUpload body of one file of `size` bytes, made as it is sent: (length, chunks)."""
    head = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nBig scan\r\n"
            f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.pdf\"\r\n"
            "Content-Type: application/pdf\r\n\r\n").encode() + marker
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()

    def chunks():
        yield head
        left = size - len(marker)
        while left:
            n = min(CHUNK, left)
            yield b"%" * n
            left -= n
        yield tail
    return len(head) + size - len(marker) + len(tail), chunks()


def upload(url: str, size: int, marker: bytes = b"", key: str = "YOUR_API_KEY") -> httpx.Response:
    length, chunks = multipart(size, marker)
    return httpx.post(url + f"{BASE}/upload", content=chunks, timeout=120, headers={
        "Authorization": f"Bearer {key}", **SESSION, "Content-Length": str(length),
        "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})


@pytest.fixture
def upstream():
    with ServerThread(create_app(clock=Clock(now=parse_timestamp(NOW), frozen=True))) as server:
        yield server


def test_a_40_mb_upload_goes_through_the_proxy_streamed_in_bounded_memory(upstream):
    with Served("--upstream", upstream.url, command="proxy") as proxy:
        httpx.get(proxy.url + f"{BASE}/task", headers={**auth(), **SESSION})  # warm: every lazy part built
        before = peak_kib(proxy.proc.pid)
        answer = upload(proxy.url, MAX_FILE_BYTES)
        grown = peak_kib(proxy.proc.pid) - before
        journal = httpx.get(proxy.url + "/_sandbox/journal", headers=SESSION).json()["payload"]
    assert answer.status_code == 201, answer.text
    assert answer.json()["fileSize"] == MAX_FILE_BYTES, "the upstream got every byte"
    assert grown < 16 * 1024, f"the proxy's peak memory grew {grown} KiB for a {MAX_FILE_BYTES // 2**20} MiB upload"
    assert journal[-1]["request"]["body"].startswith("<upload body, ")
    assert journal[-1]["verdicts"] == {"client": None, "upstream": []}


def test_an_upload_that_breaks_the_contract_past_the_bound_held_is_cut_off_under_strict(upstream):
    """Too big to check before it leaves, the form is checked as it streams and the upstream never gets all of it."""
    before = httpx.get(upstream.url + f"{BASE}/task", headers=auth()).json()["count"]
    length, chunks = multipart(3 * 1024 * 1024)
    body = b"".join(chunks).replace(b'name="file"; filename="big.pdf"', b'name="file"; filename=""')
    with ServerThread(create_proxy_app(upstream.url, strict=True)) as proxy:
        answer = httpx.post(proxy.url + f"{BASE}/upload", content=body, headers={
            **auth(), **SESSION, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
    assert (answer.status_code, answer.json()["code"]) == (400, "invalid_request")
    assert "filename" in answer.json()["error"]
    assert httpx.get(upstream.url + f"{BASE}/task", headers=auth()).json()["count"] == before, "no upload was made"


def test_the_key_and_the_uploaded_bytes_are_never_written_to_the_journal_report_or_log(upstream, tmp_path):
    key, marker = "Sekret-Key-4711", b"FILE-BYTES-4242"
    log = tmp_path / "proxy.log"
    with Served("--upstream", upstream.url, "--log-level", "debug", command="proxy", log=log) as proxy:
        refused = httpx.get(proxy.url + f"{BASE}/task", headers={"Authorization": f"Bearer {key}", **SESSION})
        made = upload(proxy.url, 100_000, marker)
        broken = httpx.post(proxy.url + f"{BASE}/task/task_abcdef123456/report", json={"message": 5},
                            headers={"Authorization": f"Bearer {key}", **SESSION})
        written = [httpx.get(proxy.url + "/_sandbox/journal", headers=SESSION).text,
                   httpx.get(proxy.url + "/_sandbox/report", params={"session": "ci-1"}).text]
    written.append(log.read_text())
    assert (refused.status_code, made.status_code, broken.status_code) == (401, 201, 401)
    assert "invalid_api_key" in written[0] and "Bearer" not in written[0], "the exchange is journalled, its key not"
    for text in written:
        assert key not in text and marker.decode() not in text


def test_a_recording_passes_check_and_serves_every_recorded_get_as_the_upstream_answered(upstream, tmp_path):
    folder = tmp_path / "recorded"
    proxy_app = create_proxy_app(upstream.url, record=folder)
    gets: dict[str, dict] = {}
    with ServerThread(proxy_app) as proxy:
        def get(path: str) -> dict:
            answer = httpx.get(proxy.url + path, headers={**auth(), **SESSION})
            assert answer.status_code == 200, answer.text
            gets[path] = answer.json()
            return gets[path]

        httpx.post(proxy.url + f"{BASE}/task/task_abcdef123456/complete", headers={**auth(), **SESSION})
        made = httpx.post(proxy.url + f"{BASE}/upload", headers={**auth(), **SESSION},
                          files={"file": ("a.pdf", b"%PDF-1.4", "application/pdf")}).json()
        for task in get(f"{BASE}/task?limit=100")["payload"]:
            get(f"{BASE}/task/{task['id']}")
            get(f"{BASE}/upload/{task['upload_id']}")
        get(f"{BASE}/upload/{made['id']}")
    proxy_app.recorder.close()
    checked = subprocess.run([sys.executable, "-m", "sandbox.tools.cli", "check", "--fixtures", str(folder)],
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    served = create_app(folder, clock=Clock(now=parse_timestamp(NOW), frozen=True))
    with served.test_client() as client:
        for path, answered in gets.items():
            if "?" in path:
                continue  # a listing holds what was recorded, not the upstream's whole project
            again = client.get(path, headers={"Authorization": "Bearer RECORDED_KEY_FULL_ACCESS"})
            assert again.status_code == 200, f"{path}: {again.text}"
            assert again.json() == answered, path
    assert len([p for p in gets if "/task/" in p]) >= 10 and json.dumps(gets).count("upl_") > 10
