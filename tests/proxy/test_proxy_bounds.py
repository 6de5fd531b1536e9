"""A proxy assumes hostile callers and a hostile upstream: every bound it holds, tried."""
from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from sandbox.http.edge import LOOPBACK_HOSTS
from sandbox.http.server import ServerThread
from sandbox.proxy.app import create_proxy_app
from sandbox.proxy.verdict import CHECKED_BYTES
from tests.conftest import BASE, auth
from tests.upstreams import Upstream, json_answer

SESSION = {"X-Sandbox-Session": "hostile"}
TASK_PATH = f"{BASE}/task/task_abcdef123456"


def test_a_json_body_past_the_bound_is_answered_413_by_the_proxy_and_never_forwarded():
    seen = Upstream(json_answer(201, {}))
    with ServerThread(seen.app) as server, ServerThread(create_proxy_app(server.url)) as proxy:
        answer = httpx.post(proxy.url + TASK_PATH + "/report", headers={**auth(), **SESSION},
                            content=b'{"message": "' + b"x" * (1024 * 1024) + b'"}',
                            )
        journal = httpx.get(proxy.url + "/_sandbox/journal", headers=SESSION).json()["payload"]
    assert (answer.status_code, answer.json()["code"]) == (413, "payload_too_large")
    assert seen.seen == [] and [e["status"] for e in journal] == [413]


def test_an_upstreams_unknown_error_codes_never_grow_the_report():
    codes = iter(f"made_up_{i}" * 50 for i in range(1000))

    async def answer(request):
        return await json_answer(404, {"error": "no", "code": next(codes)})(request)

    with ServerThread(Upstream(answer).app) as server, ServerThread(create_proxy_app(server.url)) as proxy:
        for _ in range(20):
            httpx.get(proxy.url + TASK_PATH, headers={**auth(), **SESSION})
        found = httpx.get(proxy.url + "/_sandbox/report", params={"session": "hostile"}).json()["payload"]
    assert found["requests"] == 20 and "made_up" not in json.dumps(found["refusals"]["by"])
    assert [s for s in found["coverage"]["operations"][1]["statuses"] if s["count"]] == [
        {"status": 404, "declared": True, "count": 20}]


def test_an_answer_past_what_is_checked_goes_back_whole_and_unjudged():
    big = {"payload": {"id": "x" * (CHECKED_BYTES + 10)}}  # off the schema, but too long to check
    with ServerThread(Upstream(json_answer(200, big)).app) as server, \
            ServerThread(create_proxy_app(server.url)) as proxy:
        answer = httpx.get(proxy.url + TASK_PATH, headers={**auth(), **SESSION})
        found = httpx.get(proxy.url + "/_sandbox/report", params={"session": "hostile"}).json()["payload"]
    assert answer.status_code == 200 and answer.json() == big
    assert found["violations"]["count"] == 0 and found["requests"] == 1


@pytest.mark.parametrize("path", ["/_sandbox/journal", "/_sandbox/report", "/_sandbox/sessions"])
def test_the_control_plane_refuses_a_caller_off_loopback_without_a_token(path):
    app = create_proxy_app("http://127.0.0.1:9")

    async def call():
        transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://proxy") as client:
            return await client.get(path)

    answer = asyncio.run(call())
    assert (answer.status_code, answer.json()["code"]) == (403, "control_plane_forbidden")


def test_a_host_the_proxy_does_not_answer_to_is_refused_before_anything_is_forwarded():
    seen = Upstream(json_answer(200, {}))
    with ServerThread(seen.app) as server, \
            ServerThread(create_proxy_app(server.url, allowed_hosts=list(LOOPBACK_HOSTS))) as proxy:
        answer = httpx.get(proxy.url + TASK_PATH, headers={**auth(), "Host": "evil.example"})
    assert (answer.status_code, answer.json()["code"]) == (400, "host_not_allowed") and seen.seen == []


def test_sessions_past_the_bound_drop_the_least_recently_used_journal():
    with ServerThread(Upstream(json_answer(404, {"error": "no", "code": "task_not_found"})).app) as server, \
            ServerThread(create_proxy_app(server.url, max_sessions=3)) as proxy:
        for name in ("a", "b", "c", "d", "e"):
            httpx.get(proxy.url + TASK_PATH, headers={**auth(), "X-Sandbox-Session": name})
        names = httpx.get(proxy.url + "/_sandbox/sessions").json()["payload"]
    assert [n["name"] if isinstance(n, dict) else n for n in names] == ["default", "c", "d", "e"], \
        "the default session, and the newest --max-sessions of the named ones, as serve keeps them"


def test_a_client_gone_mid_upload_leaves_no_upload_upstream_and_the_proxy_answering():
    import socket
    import time

    from sandbox.app import create_app

    with ServerThread(create_app()) as upstream, ServerThread(create_proxy_app(upstream.url)) as proxy:
        before = httpx.get(upstream.url + f"{BASE}/task", headers=auth()).json()["count"]
        port = int(proxy.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall((f"POST {BASE}/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer YOUR_API_KEY\r\n"
                          "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 5000000\r\n\r\n"
                          "--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.pdf\"\r\n\r\n").encode()
                         + b"%" * 100_000)
            time.sleep(0.3)
        time.sleep(0.5)
        assert httpx.get(upstream.url + f"{BASE}/task", headers=auth()).json()["count"] == before
        assert httpx.get(proxy.url + f"{BASE}/task", headers={**auth(), **SESSION}).status_code == 200
        [gone] = httpx.get(proxy.url + "/_sandbox/journal").json()["payload"]
    assert (gone["status"], gone["code"], gone["verdicts"]["upstream"]) == (400, "invalid_request", None), \
        "journalled as the client's, never as a failure of the proxy"
