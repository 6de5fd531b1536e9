"""Real HTTP receivers of notifications on free loopback ports, each with a behaviour."""
from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class Receiver:
    """`answers` is the status of each request in turn (the last repeats); "hang" holds the
    request until `release()`; "drip" answers a byte every 0.3 s until then. Every request is kept: (headers, body bytes)."""

    def __init__(self, *answers):
        self.answers = list(answers) or [200]
        self.received: list[tuple[dict, bytes]] = []
        self.hanging = threading.Event()   # a request is being held
        self._release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                answer = receiver.answers[min(len(receiver.received), len(receiver.answers)) - 1]
                if answer == "hang":
                    receiver.hanging.set()
                    receiver._release.wait(30)
                    answer = 200
                if answer == "drip":  # an answer that never ends, a byte at a time
                    self.send_response(200)
                    self.send_header("content-length", "100")
                    self.end_headers()
                    for _ in range(100):
                        if receiver._release.wait(0.3):
                            return
                        self.wfile.write(b".")
                        self.wfile.flush()
                    return
                self.send_response(answer)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def release(self) -> None:
        self._release.set()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[tuple[dict, bytes]]:
        """What it received, once that is `count` requests at least; the test fails at `timeout`."""
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            if time.monotonic() > deadline:
                pytest.fail(f"{self.url} received {len(self.received)} requests within {timeout:g} s, not {count}")
            time.sleep(0.01)
        return self.received

    def close(self) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()


def refused_url() -> str:
    """A loopback URL where nothing listens: connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/hooks"
