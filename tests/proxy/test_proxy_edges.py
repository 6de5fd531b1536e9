"""Edges of the exchange a fresh review found: bodies cut short on either side, compressed answers,
headers the server would add, statuses HTTP cannot carry, preflights, and blame on undeclared statuses."""
from __future__ import annotations

import asyncio
import gzip
import json
import socket
import threading
import time

import httpx
import pytest
from starlette.responses import Response, StreamingResponse

from sandbox.app import create_app
from sandbox.http.server import ServerThread
from sandbox.proxy.app import create_proxy_app
from tests.conftest import BASE, auth
from tests.upstreams import Upstream, json_answer

SESSION = {"X-Sandbox-Session": "edges"}
TASK_PATH = f"{BASE}/task/task_abcdef123456"


def good_task() -> dict:
    with create_app().test_client() as client:
        return client.get(TASK_PATH, headers=auth()).json()


def report(proxy) -> dict:
    return httpx.get(proxy.url + "/_sandbox/report", params={"session": "edges"}).json()["payload"]


def journal(proxy) -> list[dict]:
    return httpx.get(proxy.url + "/_sandbox/journal", headers=SESSION).json()["payload"]


def test_a_chunked_body_the_client_cut_short_is_never_forwarded():
    with ServerThread(create_app()) as upstream, ServerThread(create_proxy_app(upstream.url)) as proxy:
        port = int(proxy.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall((f"POST {TASK_PATH}/report HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer YOUR_API_KEY\r\n"
                          "X-Sandbox-Session: edges\r\nContent-Type: application/json\r\n"
                          "Transfer-Encoding: chunked\r\n\r\n5\r\n[1,2,\r\n").encode())
            time.sleep(0.3)
        time.sleep(0.3)
        got = httpx.get(upstream.url + "/_sandbox/report").json()["payload"]
        entries = journal(proxy)
    assert got["requests"] + got["unauthenticated"]["requests"] == 0, "the upstream got nothing"
    assert [(e["status"], e["code"], e["verdicts"]["upstream"]) for e in entries] == [(400, "invalid_request", None)]


def test_an_answer_the_upstream_cut_short_cuts_the_clients_connection_too():
    async def cut(_request):
        async def body():
            yield b'{"payload": [1, '
            await asyncio.sleep(0.05)
            raise RuntimeError("the upstream fell over")
        return StreamingResponse(body(), media_type="application/json")

    with ServerThread(Upstream(cut).app) as server, ServerThread(create_proxy_app(server.url)) as proxy:
        with pytest.raises(httpx.HTTPError):  # never an answer that looks whole
            httpx.get(proxy.url + TASK_PATH, headers={**auth(), **SESSION})
        [entry] = journal(proxy)
    assert entry["verdicts"]["upstream"][0]["message"].startswith("the answer stopped after")


def gzipped(status: int, payload) -> object:
    async def answer(_request):
        return Response(gzip.compress(json.dumps(payload).encode()), status_code=status,
                        headers={"content-type": "application/json", "content-encoding": "gzip"})
    return answer


def test_a_compressed_answer_is_read_as_its_media_type_for_blame_journal_and_recording(tmp_path):
    refused = gzipped(401, {"error": "no such key", "code": "invalid_api_key"})
    with ServerThread(Upstream(refused).app) as server, ServerThread(create_proxy_app(server.url)) as proxy:
        answer = httpx.get(proxy.url + TASK_PATH, headers={**auth(), **SESSION, "Accept-Encoding": "gzip"})
        found, [entry] = report(proxy), journal(proxy)
    assert answer.json()["code"] == "invalid_api_key", "the client gets the bytes and the encoding as sent"
    assert found["violations"]["by"]["auth"] == 1 and entry["response"]["body"]["code"] == "invalid_api_key"
    app = create_proxy_app("http://127.0.0.1:9", record=tmp_path)
    with ServerThread(Upstream(gzipped(200, good_task())).app) as server:
        app = create_proxy_app(server.url, record=tmp_path)
        with ServerThread(app) as proxy:
            httpx.get(proxy.url + TASK_PATH, headers={**auth(), **SESSION})
    app.recorder.close()
    assert "task_abcdef123456" in (tmp_path / "tasks.yaml").read_text()


def test_an_answer_in_an_encoding_the_proxy_cannot_read_says_it_was_not_checked():
    async def brotli(_request):
        return Response(b"\x0b\x02\x80{}\x03", headers={"content-type": "application/json", "content-encoding": "br"})

    with ServerThread(Upstream(brotli).app) as server, ServerThread(create_proxy_app(server.url)) as proxy:
        httpx.get(proxy.url + TASK_PATH, headers={**auth(), **SESSION, "Accept-Encoding": "br"})
        [entry] = journal(proxy)
    assert entry["verdicts"]["upstream"] == [] and "Content-Encoding br" in entry["verdicts"]["unchecked"]


def test_an_upstreams_answer_keeps_its_own_date_and_server_and_the_proxys_own_get_a_date():
    async def dated(_request):
        return Response(json.dumps(good_task()), media_type="application/json",
                        headers={"date": "Tue, 01 Dec 2026 10:00:00 GMT", "server": "platform/9"})

    with ServerThread(Upstream(dated).app) as server, ServerThread(create_proxy_app(server.url)) as proxy:
        answer = httpx.get(proxy.url + TASK_PATH, headers={**auth(), **SESSION})
        direct = httpx.get(server.url + TASK_PATH, headers=auth())
        own = httpx.get(proxy.url + "/_sandbox/journal", headers=SESSION)
    assert "Tue, 01 Dec 2026 10:00:00 GMT" in answer.headers.get_list("date")
    for name in ("date", "server"):
        assert answer.headers.get_list(name) == direct.headers.get_list(name), name
    assert len(own.headers.get_list("date")) == 1 and "server" not in own.headers


class RawUpstream:
    """An upstream that writes each answer's bytes as given, on a socket of its own: no server in
    between to refuse what HTTP does not have."""

    def __init__(self, answers: dict[str, bytes]):
        self.answers = answers
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = "http://127.0.0.1:%d" % self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn):
        with conn:
            data = b""
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
                while b"\r\n\r\n" in data:
                    head, _, data = data.partition(b"\r\n\r\n")
                    path = head.split(b" ")[1].decode()
                    conn.sendall(next(v for k, v in self.answers.items() if path.endswith(k)))


def test_a_status_http_cannot_carry_is_the_proxys_502_and_a_304_with_a_length_leaves_the_connection_sound():
    upstream = RawUpstream({"/task": b"HTTP/1.1 600 Odd\r\nContent-Length: 2\r\n\r\n{}",
                            "123456": b'HTTP/1.1 304 Not Modified\r\nContent-Length: 123\r\nETag: "v1"\r\n\r\n'})
    with ServerThread(create_proxy_app(upstream.url)) as proxy:
        with httpx.Client(base_url=proxy.url, headers={**auth(), **SESSION}) as client:
            odd = client.get(f"{BASE}/task")
            assert (odd.status_code, odd.json()["code"]) == (502, "upstream_bad_answer")
            assert client.get(TASK_PATH).status_code == 304
            assert client.get(f"{BASE}/task").status_code == 502, "the same connection still answers"
    upstream.sock.close()


def test_a_cors_preflight_is_the_browsers_and_no_violation():
    with ServerThread(Upstream(json_answer(204, b"")).app) as server, \
            ServerThread(create_proxy_app(server.url)) as proxy:
        httpx.options(proxy.url + TASK_PATH, headers={**SESSION, "Origin": "http://localhost:3000",
                                                      "Access-Control-Request-Method": "GET"})
        found = report(proxy)
    assert found["violations"]["count"] == 0 and found["requests"] == 0


def test_an_upstreams_error_code_on_a_status_the_contract_does_not_declare_blames_the_upstream_only():
    with ServerThread(Upstream(json_answer(418, {"error": "teapot", "code": "invalid_request"})).app) as server, \
            ServerThread(create_proxy_app(server.url)) as proxy:
        httpx.get(proxy.url + TASK_PATH, headers={**auth(), **SESSION})
        found = report(proxy)
    assert found["violations"]["by_side"] == {"client": 0, "upstream": 1}


def test_an_upload_of_another_media_type_is_streamed_and_its_bytes_never_journalled():
    seen = Upstream(json_answer(415, {"error": "multipart only", "code": "unsupported_media_type"}))
    with ServerThread(seen.app) as server, ServerThread(create_proxy_app(server.url)) as proxy:
        answer = httpx.post(proxy.url + f"{BASE}/upload", headers={**auth(), **SESSION, "Content-Type": "application/pdf"},
                            content=b"SECRET-PDF-BYTES" * 100_000)  # 1.6 MB: past the bound a JSON body has
        [entry] = journal(proxy)
    assert answer.status_code == 415 and seen.seen[0]["size"] == 1_600_000
    assert entry["request"]["body"] == "<upload body, 1600000 bytes>" and "SECRET" not in json.dumps(entry)
