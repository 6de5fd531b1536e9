"""The HTTP server's connection limits, over real sockets: header size (431), header and body timeouts (408)."""
from __future__ import annotations

import asyncio
import json
import select
import socket
import threading

import httpx
import pytest

from sandbox.tools import cli
from sandbox.http.limits import Limits
from sandbox.http.server import ServerThread
from tests.conftest import BASE, FULL_KEY
from tests.redis_server import drop, namespace
from tests.servers import Served

TASK = f"{BASE}/task/task_abcdef123456"
LIMIT = Limits().max_header_bytes
GET_TASK = f"GET {TASK} HTTP/1.1\r\nHost: sandbox\r\nAuthorization: Bearer {FULL_KEY}\r\n".encode()
REPORT_HEAD = (f"POST {TASK}/report HTTP/1.1\r\nHost: sandbox\r\nAuthorization: Bearer {FULL_KEY}\r\n"
               "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n").encode()


@pytest.fixture
def served(app):
    """The suite's app behind the limits, with short timeouts so the tests wait little."""
    with ServerThread(app, header_timeout=1, body_idle_timeout=1) as server:
        yield server


def connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=15)  # generous: the server must act first
    return sock


def read_to_close(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes; a timeout here means it never closed."""
    out = b""
    while chunk := sock.recv(65536):
        out += chunk
    return out


def answer(raw: bytes) -> tuple[int, dict, dict]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, json.loads(body)


def ask(url: str, request: bytes) -> tuple[int, dict, dict]:
    """Send a whole request, then read the answer and the close that follows it."""
    with connect(url) as sock:
        try:
            sock.sendall(request)
        except OSError:  # refused part-way: the answer is still there to read
            pass
        return answer(read_to_close(sock))


def sized(total: int, header: bytes = b"X-Pad") -> bytes:
    """GET_TASK with one padding header so the header section is exactly `total` bytes."""
    pad = total - len(GET_TASK) - len(header) - len(b": \r\n\r\n")
    return GET_TASK + header + b": " + b"a" * pad + b"\r\n\r\n"


def many_small(total_at_least: int) -> bytes:
    lines = b"".join(b"X-Small-%05d: %s\r\n" % (i, b"v" * 20) for i in range(total_at_least // 36 + 1))
    return GET_TASK + lines + b"\r\n"


@pytest.mark.parametrize("request_bytes", [
    pytest.param(sized(LIMIT + 1), id="one-byte-over"),
    pytest.param(sized(LIMIT * 4), id="one-huge-header"),
    pytest.param(many_small(LIMIT * 2), id="many-small-headers"),
])
def test_a_header_section_over_the_limit_is_431_in_the_envelope(served, request_bytes):
    status, headers, body = ask(served.url, request_bytes)
    assert (status, body["code"]) == (431, "request_header_fields_too_large")
    assert headers["content-type"] == "application/json" and headers["connection"] == "close"
    assert str(LIMIT) in body["error"] and "--max-header-bytes" in body["error"]


@pytest.mark.parametrize("request_bytes", [
    pytest.param(sized(LIMIT), id="exactly-the-limit"),
    pytest.param(sized(LIMIT - 1000), id="just-under"),
])
def test_a_header_section_within_the_limit_is_answered(served, request_bytes):
    with connect(served.url) as sock:
        sock.sendall(request_bytes)
        raw = sock.recv(1 << 20)
    assert raw.startswith(b"HTTP/1.1 200 ")


def test_the_limit_is_per_server():
    small = Limits(max_header_bytes=2048)
    with ServerThread(_echo, max_header_bytes=small.max_header_bytes) as server:
        status, _, body = ask(server.url, sized(2049))
        assert (status, body["code"]) == (431, "request_header_fields_too_large") and "2048" in body["error"]
        assert httpx.get(server.url, headers={"X-Pad": "a" * 1500}).status_code == 200


def test_other_clients_are_answered_while_a_50_mb_header_streams_in(served):
    in_flight, started = threading.Event(), threading.Event()
    seen: list[bytes] = []

    def hostile():
        in_flight.set()
        with connect(served.url) as sock:
            try:
                sock.sendall(GET_TASK + b"X-Huge: ")
                started.set()
                for _ in range(50):  # 1 MB at a time, a pause after each
                    sock.sendall(b"a" * (1 << 20))
                    threading.Event().wait(0.03)
            except OSError:
                pass
            finally:
                started.set()
                try:
                    seen.append(read_to_close(sock))
                except ConnectionResetError:  # the close overtook the answer
                    seen.append(b"reset")
                in_flight.clear()

    sender = threading.Thread(target=hostile)
    sender.start()
    started.wait(15)
    answered_in_flight = []
    with httpx.Client(base_url=served.url, headers={"Authorization": f"Bearer {FULL_KEY}"}, timeout=15) as client:
        for _ in range(5):
            assert client.get(TASK).status_code == 200
            answered_in_flight.append(in_flight.is_set())
    sender.join(30)
    assert answered_in_flight[0], "the huge header was already over before anyone else was answered"
    assert seen and (seen[0].startswith(b"HTTP/1.1 431 ") or seen[0] == b"reset")


@pytest.mark.parametrize("request_bytes, says", [
    pytest.param(b"GET / HTTP/1.1\r\nHost: sandbox\r\nX-Half", "headers did not arrive within 1 second",
                 id="partial-headers"),
    pytest.param(b"GET / HTT", "headers did not arrive within 1 second", id="partial-request-line"),
    pytest.param(b"", "headers did not arrive within 1 second", id="not-a-byte"),
    pytest.param(REPORT_HEAD + b'{"message"', "No byte of the request body arrived for 1 second",
                 id="body-stops"),
    pytest.param(REPORT_HEAD, "No byte of the request body arrived for 1 second", id="body-never-starts"),
])
def test_a_client_gone_silent_gets_408_and_the_connection_closed(served, request_bytes, says):
    with connect(served.url) as sock:
        sock.sendall(request_bytes)
        status, headers, body = answer(read_to_close(sock))  # socket.timeout (15 s) fails the test
    assert (status, body["code"]) == (408, "request_timeout")
    assert says in body["error"] and headers["connection"] == "close"
    assert httpx.get(served.url + TASK, headers={"Authorization": f"Bearer {FULL_KEY}"}).status_code == 200


def test_headers_dripped_a_byte_at_a_time_are_cut_off_at_the_header_timeout(served):
    request = sized(200)
    got, sent = b"", 0
    with connect(served.url) as sock:
        try:
            for sent in range(1, len(request) + 1):  # 0.3 s a byte: a minute for the whole request
                sock.sendall(request[sent - 1:sent])
                if select.select([sock], [], [], 0.3)[0]:
                    got = read_to_close(sock)
                    break
        except OSError:  # closed while still dripping
            pass
    assert sent < len(request), "the whole request was dripped in without the server closing"
    if got:  # the answer, unless the close overtook it
        status, _, body = answer(got)
        assert (status, body["code"]) == (408, "request_timeout")


def multipart(size: int) -> bytes:
    return (b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="big.pdf"\r\n'
            b"Content-Type: application/pdf\r\n\r\n" + bytes(size) + b"\r\n--xyz--\r\n")


def test_a_large_body_sent_steadily_is_not_cut_off(served):
    body = multipart(4 << 20)
    head = (f"POST {BASE}/upload HTTP/1.1\r\nHost: sandbox\r\nAuthorization: Bearer {FULL_KEY}\r\n"
            f"Content-Type: multipart/form-data; boundary=xyz\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    with connect(served.url) as sock:
        sock.sendall(head)
        # 64 pieces, a pause after each: all in all far longer than the 1 s idle timeout.
        piece = len(body) // 64 + 1
        for start in range(0, len(body), piece):
            sock.sendall(body[start:start + piece])
            threading.Event().wait(0.05)
        raw = sock.recv(1 << 20)
    assert raw.startswith(b"HTTP/1.1 201 "), raw[:300]


async def _slow_reader(scope, receive, send):
    """Takes its time before it reads the body, as a busy handler does."""
    await asyncio.sleep(2.5)
    size, more = 0, True
    while more:
        message = await receive()
        size, more = size + len(message.get("body", b"")), message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(str(size)))]})
    await send({"type": "http.response.body", "body": str(size).encode()})


async def _echo(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.mark.parametrize("expect", [False, True], ids=["body-sent-at-once", "expect-100-continue"])
def test_the_time_a_handler_takes_before_reading_the_body_is_not_idle_time(expect):
    body = b"x" * (1 << 20)  # more than uvicorn buffers: reading pauses until the handler reads
    head = f"POST /slow HTTP/1.1\r\nHost: sandbox\r\nContent-Length: {len(body)}\r\n".encode()
    with ServerThread(_slow_reader, body_idle_timeout=1) as server, connect(server.url) as sock:
        if expect:
            sock.sendall(head + b"Expect: 100-continue\r\n\r\n")
            assert sock.recv(1024).startswith(b"HTTP/1.1 100 ")  # sent once the handler reads, 2.5 s on
            sock.sendall(body)
        else:
            sock.sendall(head + b"\r\n" + body)
        raw = sock.recv(1 << 16)
    assert raw.startswith(b"HTTP/1.1 200 ") and raw.endswith(str(len(body)).encode())


# -- `task-sandbox serve`'s options --

def test_serve_help_names_the_limits_and_their_defaults(capsys):
    with pytest.raises(SystemExit):
        cli.main(["serve", "--help"])
    out = capsys.readouterr().out
    for text in ("--max-header-bytes", "(default: 65536)", "--header-timeout", "--body-idle-timeout"):
        assert text in out
    args = cli._parser().parse_args(["serve"])
    assert Limits(args.max_header_bytes, args.header_timeout, args.body_idle_timeout) == Limits()


@pytest.mark.parametrize("option, value, says", [
    ("--max-header-bytes", "0", "is not a number of bytes from 1024"),
    ("--max-header-bytes", "1023", "is not a number of bytes from 1024"),
    ("--max-header-bytes", "16777217", "is not a number of bytes from 1024"),
    ("--max-header-bytes", "64k", "is not a number of bytes from 1024"),
    ("--header-timeout", "0", "is not a number of seconds above 0"),
    ("--header-timeout", "soon", "is not a number of seconds above 0"),
    ("--body-idle-timeout", "-1", "is not a number of seconds above 0"),
    ("--body-idle-timeout", "301", "is not a number of seconds above 0"),
])
def test_a_bad_limit_is_refused(capsys, option, value, says):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["serve", option, value])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert option in err and f"{value!r} {says}" in err


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_applies_the_limits_with_one_worker_or_several(request, workers):
    store, prefix = [], namespace()
    if workers > 1:
        url = request.getfixturevalue("redis_url")
        request.addfinalizer(lambda: drop(url, prefix))
        store = ["--store", url, "--namespace", prefix, "--workers", "2"]
    with Served("--max-header-bytes", "2048", "--header-timeout", "1", *store) as server:
        for _ in range(workers * 3):  # a connection each: with two workers, both most likely answer some
            status, _, body = ask(server.url, sized(4096))
            assert (status, body["code"]) == (431, "request_header_fields_too_large") and "2048" in body["error"]
        status, _, body = ask(server.url, b"GET / HTTP/1.1\r\n")
        assert (status, body["code"]) == (408, "request_timeout")
